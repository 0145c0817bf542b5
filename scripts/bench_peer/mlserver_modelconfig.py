#!/usr/bin/env python3
"""Starts MLServer with a constant answer for Triton's ModelConfig RPC.

    python mlserver_modelconfig.py start MODEL_REPO   (same arguments as `mlserver`)

perf_analyzer calls inference.GRPCInferenceService/ModelConfig once at start
(for max_batch_size); MLServer implements the KServe V2 RPCs but not Triton's
ModelConfig extension, so perf_analyzer stops with UNIMPLEMENTED. This wraps
MLServer's GRPCServer._create_server and adds one more generic handler on the
same gRPC server (no proxy hop, nothing on the ModelInfer path): gRPC tries
MLServer's own handlers first, so only the method MLServer lacks lands here.
The answer is a hand-encoded ModelConfigResponse (field numbers from
proto/inference/grpc_service.proto / Triton's model_config.proto):
  name, platform "sklearn", max_batch_size, input `leads` FP64 [N_FEATURES],
  output `predict_proba` FP64 [2].
Env: PEER_MODEL_NAME (leads), PEER_N_FEATURES (16), PEER_MAX_BATCH (1000).
"""
import os
import sys

import grpc
from mlserver.cli import main
from mlserver.grpc.server import GRPCServer

TYPE_FP64 = 12


def _varint(n):
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(num, wire, payload):
    key = _varint((num << 3) | wire)
    if wire == 0:
        return key + _varint(payload)
    return key + _varint(len(payload)) + payload  # wire 2: bytes / message


def _tensor(name, dims, dims_field):
    packed = b"".join(_varint(d) for d in dims)
    return _field(1, 2, name.encode()) + _field(2, 0, TYPE_FP64) + _field(dims_field, 2, packed)


def model_config_response():
    name = os.environ.get("PEER_MODEL_NAME", "leads")
    n = int(os.environ.get("PEER_N_FEATURES", "16"))
    config = (
        _field(1, 2, name.encode())
        + _field(2, 2, b"sklearn")
        + _field(4, 0, int(os.environ.get("PEER_MAX_BATCH", "1000")))
        + _field(5, 2, _tensor("leads", [n], 4))  # ModelInput.dims = 4
        + _field(6, 2, _tensor("predict_proba", [2], 3))  # ModelOutput.dims = 3
        + _field(17, 2, b"mlserver")
    )
    return _field(1, 2, config)  # ModelConfigResponse.config = 1


RESPONSE = model_config_response()


def _model_config(request, context):
    return RESPONSE


_original = GRPCServer._create_server


def _create_server(self):
    server = _original(self)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "inference.GRPCInferenceService",
        {"ModelConfig": grpc.unary_unary_rpc_method_handler(_model_config)},  # raw bytes in/out
    ),))
    return server


GRPCServer._create_server = _create_server

if __name__ == "__main__":
    sys.argv[0] = "mlserver"
    sys.exit(main())
