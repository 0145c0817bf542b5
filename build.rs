//! Compiles `proto/` with protox (pure Rust, no system `protoc`), writes the
//! encoded descriptor set for server reflection, and generates the tonic code.
//! Only the `serve` feature needs them: the scoring core and the trainer
//! build without any protobuf code.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/leadscore/v1/leadscore.proto",
        "proto/inference/grpc_service.proto",
    ];
    println!("cargo:rerun-if-env-changed=CARGO_FEATURE_SERVE");
    if std::env::var_os("CARGO_FEATURE_SERVE").is_none() {
        return Ok(());
    }
    for proto in &protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    let fds = protox::compile(protos, ["proto"])?;
    let encoded = prost::Message::encode_to_vec(&fds);
    std::fs::write(out_dir.join("leadscore_descriptor.bin"), encoded)?;

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
