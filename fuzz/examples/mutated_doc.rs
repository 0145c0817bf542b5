//! Prints the model document an `artifact_mutated` input produces, for triage:
//! `cargo run --manifest-path fuzz/Cargo.toml --example mutated_doc -- <input file>`.

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: mutated_doc <input file>");
    let data = std::fs::read(&path).expect("read input");
    println!(
        "{}",
        leadscore_fuzz::mutate_artifact(&mut leadscore_fuzz::Bytes(&data))
    );
}
