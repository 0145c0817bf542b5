//! Both binaries end on a user error with plain lines, never a stack
//! backtrace, whatever `RUST_BACKTRACE` says.

use std::process::Command;

fn assert_plain_error(output: std::process::Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains(expected), "stderr: {stderr}");
    assert!(
        stderr.lines().any(|l| l.starts_with("error: ")),
        "no 'error:' line: {stderr}"
    );
    for backtrace in ["backtrace", "Backtrace", "panicked"] {
        assert!(!stderr.contains(backtrace), "{backtrace} in: {stderr}");
    }
}

#[test]
fn server_reports_an_unreadable_repository_without_a_backtrace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-repository");
    let output = Command::new(env!("CARGO_BIN_EXE_leadscore-server"))
        .args([
            "--grpc-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "off",
            "--log-format",
            "text",
        ])
        .arg("--models")
        .arg(&missing)
        .env("RUST_BACKTRACE", "full")
        .env("RUST_LIB_BACKTRACE", "1")
        .output()
        .expect("server runs");
    assert_plain_error(output, "cannot read model repository");
}

#[test]
fn trainer_reports_a_missing_file_without_a_backtrace() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = Command::new(env!("CARGO_BIN_EXE_leadscore-train"))
        .arg("--data")
        .arg(dir.path().join("missing.csv"))
        .args(["--target", "converted", "--out"])
        .arg(dir.path().join("out"))
        .env("RUST_BACKTRACE", "full")
        .env("RUST_LIB_BACKTRACE", "1")
        .output()
        .expect("trainer runs");
    assert_plain_error(output, "missing.csv");
}
