//! Generated protobuf and tonic code for `leadscore.v1`, and the encoded
//! descriptor set that server reflection serves.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

tonic::include_proto!("leadscore.v1");

/// Generated code for `inference` (the Open Inference Protocol, see `crate::serve::oip`).
pub mod inference {
    tonic::include_proto!("inference");
}

/// Encoded `FileDescriptorSet` of every file in `proto/` (leadscore.v1 and inference), written by build.rs.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/leadscore_descriptor.bin"));
