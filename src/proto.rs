//! Generated protobuf and tonic code for `leadscore.v1`, and the encoded
//! descriptor set that server reflection serves.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

tonic::include_proto!("leadscore.v1");

/// Encoded `FileDescriptorSet` of `proto/leadscore/v1/leadscore.proto`, written by build.rs.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/leadscore_descriptor.bin"));
