//! How long-running training work reports progress: the [`Progress`] trait
//! (a progress bar in the binary, plain lines in logs) and [`Quiet`].

/// Where long-running work reports progress (a progress bar on a terminal,
/// plain lines otherwise; nothing in tests).
pub trait Progress: Sync {
    /// A stage of `total` steps begins.
    fn start(&self, stage: &str, total: u64);
    /// `n` steps of the current stage are done.
    fn advance(&self, n: u64);
    /// The current stage ended; `summary` says how it went.
    fn finish(&self, summary: &str);
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {
    fn start(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
    fn finish(&self, _: &str) {}
}
