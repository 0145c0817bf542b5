//! Fuzz target `csv_reader`: arbitrary bytes as a training CSV.
//!
//! `leadscore::train::read_csv(bytes, "fuzz")` must return `Ok` (every row as
//! long as the header) or `Err`. When it parses with at most 200 rows, the
//! same bytes go to `leadscore::train::train_bytes` with the last header
//! column as the target and small parameters (`max_iterations: 20`,
//! `numeric_bins: 3`); it must return `Err`, or an artifact that round-trips
//! exactly through `to_json` / `from_json` and scores like any loaded model
//! (see `fuzz/src/lib.rs`). Seeds: `fuzz/corpus/csv_reader/`, CSVs made from
//! `leadscore::train::synthetic` by `examples/make_seeds.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    leadscore_fuzz::csv_reader(data);
});
