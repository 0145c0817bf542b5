//! Fuzz target `artifact_mutated`: structure-aware edits of a valid model.
//!
//! The input drives, through `arbitrary::Unstructured`, up to 24 edits of the
//! valid artifact `fuzz/corpus/artifact_loader/synthetic_300.json` (parsed as
//! a `serde_json::Value`): numbers replaced by interesting or arbitrary f64
//! (NaN, ±inf, 1e999, huge, tiny, -0 and ill-typed tokens included), features
//! and categories removed or duplicated (with their design columns, or
//! without), coefficient and design-mean counts changed, new bin edges and
//! bands, keys removed, strings and types swapped. The edited document is
//! written and loaded as in `artifact_loader`; if it loads, every probe lead
//! must score with a probability in (0, 1), a score in 1..=99 and
//! contributions that add up to the log-odds (see `fuzz/src/lib.rs`).
//!
//! The same bytes are also read by `leadscore_fuzz::Bytes`, the reader the
//! regression test uses without the `arbitrary` crate; the target asserts
//! both give the same document, so a corpus file replays identically in
//! `cargo test`.
#![no_main]

use arbitrary::Unstructured;
use leadscore_fuzz::{Bytes, Source};
use libfuzzer_sys::fuzz_target;

/// `Unstructured` seen as a `Source`.
struct Arbitrary<'a, 'b>(&'b mut Unstructured<'a>);

impl Source for Arbitrary<'_, '_> {
    fn byte(&mut self) -> u8 {
        self.0.arbitrary().unwrap_or(0)
    }

    fn index(&mut self, len: usize) -> usize {
        self.0.choose_index(len).unwrap_or(0)
    }

    fn float(&mut self) -> f64 {
        self.0.arbitrary().unwrap_or(0.0)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let doc = leadscore_fuzz::artifact_mutated(&mut Arbitrary(&mut u));
    assert_eq!(
        leadscore_fuzz::mutate_artifact(&mut Bytes(data)),
        doc,
        "Bytes and arbitrary::Unstructured read the input differently"
    );
});
