//! Fuzz target `oip_infer`: arbitrary bytes as an Open Inference Protocol
//! `ModelInferRequest`, answered by the real `inference.GRPCInferenceService`
//! (see `fuzz/src/lib.rs`). Seeds: `fuzz/corpus/oip_infer/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    leadscore_fuzz::oip_infer(data);
});
