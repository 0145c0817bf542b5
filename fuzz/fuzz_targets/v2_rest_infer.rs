//! Fuzz target `v2_rest_infer`: arbitrary bytes as a KServe V2 REST infer
//! body, JSON or with the binary tensor extension, decoded by
//! `leadscore::serve::oip_rest::decode_infer` and answered by the real
//! `inference.GRPCInferenceService` (see `fuzz/src/lib.rs`).
//! Seeds: `fuzz/corpus/v2_rest_infer/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    leadscore_fuzz::v2_rest_infer(data);
});
