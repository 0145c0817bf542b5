//! Fuzz target `http_json`: arbitrary bytes as an HTTP/JSON request body:
//! each `/v1` request message (`ScoreRequest`, `ExplainRequest`,
//! `ScoreAccountsRequest`) through `leadscore::serve::http::JsonCodec`, and a
//! `score:stream` NDJSON body through `leadscore::serve::ndjson::LineSplitter`
//! in any chunks (see `fuzz/src/lib.rs`). Seeds: `fuzz/corpus/http_json/`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    leadscore_fuzz::http_json(data);
});
