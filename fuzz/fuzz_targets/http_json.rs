//! Fuzz target `http_json`: arbitrary bytes as an HTTP/JSON request body.
//!
//! `leadscore::serve::http::JsonCodec::decode` must return `Ok` or
//! `ServiceError::InvalidField` for every body, never panic; a body that
//! decodes must encode again and decode to the same leads.
#![no_main]

use leadscore::serve::http::JsonCodec;
use leadscore::serve::proto::{ExplainRequest, ScoreRequest};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static CODEC: OnceLock<JsonCodec> = OnceLock::new();
    let codec = CODEC.get_or_init(|| JsonCodec::new().expect("descriptor set"));
    if let Ok(request) = codec.decode::<ScoreRequest>("leadscore.v1.ScoreRequest", data) {
        let json = codec
            .encode("leadscore.v1.ScoreRequest", &request)
            .expect("a decoded message encodes");
        let again: ScoreRequest = codec
            .decode("leadscore.v1.ScoreRequest", &json)
            .expect("encoded JSON decodes");
        // Maps encode in hash order and NaN != NaN: compare what is ordered.
        let ids = |r: &ScoreRequest| {
            r.leads
                .iter()
                .map(|l| l.lead_id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&again), ids(&request));
        assert_eq!(
            (again.model, again.version),
            (request.model, request.version)
        );
    }
    let _ = codec.decode::<ExplainRequest>("leadscore.v1.ExplainRequest", data);
});
