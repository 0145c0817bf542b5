//! How the binaries end: errors for people, not stack backtraces.
//!
//! `anyhow` prints a backtrace with its `Debug` output whenever
//! `RUST_BACKTRACE` is set, which it is on many developer machines; a user
//! who gave a wrong path should see one line saying so. [`run_main`] prints
//! the error and each of its causes as plain lines and exits 1 (2 for a
//! usage error clap already printed). A panic (a bug, never caused by input)
//! prints one line asking for a report; `--debug` / `LEADSCORE_DEBUG=1`
//! restores Rust's own panic output with its backtrace.

use std::error::Error;
use std::io::Write;
use std::process::ExitCode;

/// The error and its causes as plain lines: `error: …` then
/// `  caused by: …` for each source that adds something.
pub fn error_lines(err: &(dyn Error + 'static)) -> Vec<String> {
    let mut lines = vec![format!("error: {err}")];
    let mut shown = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        // Many errors repeat their source in their own message; say it once.
        if !shown.contains(&text) {
            lines.push(format!("  caused by: {text}"));
            shown = text;
        }
        source = cause.source();
    }
    lines
}

/// True when `--debug` is on the command line or `LEADSCORE_DEBUG` is set
/// to anything but `0` or empty.
pub fn debug_requested() -> bool {
    std::env::args().any(|a| a == "--debug")
        || std::env::var("LEADSCORE_DEBUG").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Runs a binary's `main` body: without debug, panics print one line and no
/// backtrace; an error prints [`error_lines`] to stderr and exits 1.
pub fn run_main<E>(program: &str, body: impl FnOnce() -> Result<(), E>) -> ExitCode
where
    E: AsRef<dyn Error + 'static>,
{
    let debug = debug_requested();
    if !debug {
        let program = program.to_string();
        std::panic::set_hook(Box::new(move |info| {
            let _ = writeln!(
                std::io::stderr(),
                "{program}: internal error ({info}); this is a bug, please report it \
                 (run with --debug for a backtrace)"
            );
        }));
    }
    match body() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let mut stderr = std::io::stderr().lock();
            for line in error_lines(err.as_ref()) {
                let _ = writeln!(stderr, "{line}");
            }
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read models/x/1/model.json")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_chain_is_plain_lines_without_repeats() {
        let err = Outer(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such file",
        ));
        assert_eq!(
            error_lines(&err),
            vec![
                "error: cannot read models/x/1/model.json".to_string(),
                "  caused by: no such file".to_string()
            ]
        );
        #[derive(Debug, thiserror::Error)]
        #[error("bad: no such file")]
        struct Repeats(#[source] std::io::Error);
        let err = Repeats(std::io::Error::other("no such file"));
        assert_eq!(
            error_lines(&err),
            vec!["error: bad: no such file".to_string()]
        );
    }
}
