//! Fuzz target `lead_parsing`: arbitrary bytes as a `ScoreRequest`.
//!
//! Bytes that decode (`prost::Message::decode`) as
//! `leadscore::serve::proto::ScoreRequest` go through
//! `leadscore::serve::grpc::parse_leads`, and every parsed lead is scored and
//! explained by a fixed model (`ScoringModel::score` and `::explain`). Nothing
//! may panic; each lead is either refused with an error naming its field, or
//! scored with a finite probability in (0, 1), a score in 1..=99 and
//! contributions that add up (see `fuzz/src/lib.rs`). Seeds:
//! `fuzz/corpus/lead_parsing/`, encoded requests made by
//! `examples/make_seeds.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    leadscore_fuzz::lead_parsing(data);
});
