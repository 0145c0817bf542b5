//! Fuzz target `artifact_loader`: arbitrary bytes as a `model.json`.
//!
//! `leadscore::scoring::model::ModelArtifact::from_json(bytes, "fuzz")` must return
//! `Ok` or `Err`, never panic; a model that loads must score a few
//! schema-valid leads (dense and named) with a finite probability in (0, 1),
//! a score in 1..=99 and explanations that add up (see `check_model` in
//! `fuzz/src/lib.rs`). Seeds: `fuzz/corpus/artifact_loader/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    leadscore_fuzz::artifact_loader(data);
});
