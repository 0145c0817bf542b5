#!/usr/bin/env python3
"""Checks leadscore's Open Inference Protocol endpoint with Triton's own Python client.

Run it against a running server:

    python3 -m venv /tmp/tc && /tmp/tc/bin/pip install 'tritonclient[grpc]' numpy grpcio-tools
    ./target/release/leadscore-server --grpc-addr 127.0.0.1:50051 --metrics-addr off &
    /tmp/tc/bin/python scripts/tritonclient_check.py --addr 127.0.0.1:50051

and, with `pip install 'tritonclient[http,grpc]'` and the server's HTTP
listener (`--http-addr 127.0.0.1:8080`), add `--http-addr 127.0.0.1:8080`.

What it does:

1. Compiles proto/inference/grpc_service.proto and checks every message, field
   number and type, enum value and RPC in it against the descriptors that ship
   inside tritonclient (Triton's grpc_service.proto and model_config.proto,
   which carry the KServe V2 messages): a wrong field number would make a real
   client silently read the wrong field.
2. With tritonclient.grpc.InferenceServerClient: is_server_live / ready,
   is_model_ready, get_server_metadata, get_model_metadata, get_model_config.
3. Scores the same realistic dense leads three ways and compares them with
   leadscore.v1.LeadScoring Score and Explain (grpcio stubs generated at run
   time from proto/leadscore/v1/leadscore.proto, as scripts/score_client.py
   does):
   - tritonclient's InferInput.set_data_from_numpy (FP64): the gRPC client
     always sends raw_input_contents ("binary data"; the binary_data switch
     exists only in tritonclient.http), and reads the raw_output_contents back
     with InferResult.as_numpy;
   - a ModelInferRequest built with tritonclient's own generated stubs
     (tritonclient.grpc.service_pb2) carrying typed contents.fp64_contents,
     the non-binary form, answered with typed contents;
   - FP32 raw input (reported, checked to 1e-6, not 1e-9).
4. Prints the model statistics (Triton's ModelStatistics extension).
5. With `--http-addr`, the same over the KServe V2 REST binding with
   tritonclient.http.InferenceServerClient: health, readiness, metadata,
   config, statistics, and infer with binary tensors (tritonclient's default)
   and with JSON tensors (binary_data=False) both ways, compared with
   LeadScoring to 1e-9; a wrong shape must come back as an HTTP 400 whose
   message tritonclient shows.

Exits non-zero when a field number differs or a probability or contribution
differs from LeadScoring by more than 1e-9 (or a score differs at all).
`--write-perf-data FILE` also writes the rows as a perf_analyzer --input-data
JSON file.
"""
import argparse
import importlib.resources
import json
import sys
import tempfile
from pathlib import Path

import grpc
import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool
from grpc_tools import protoc

import tritonclient.grpc as tritongrpc
from tritonclient.grpc import model_config_pb2, service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score_client import load_stubs  # noqa: E402  (leadscore.v1 stubs from the .proto)

PROTO_ROOT = Path(__file__).resolve().parent.parent / "proto"
OIP_PROTO = PROTO_ROOT / "inference" / "grpc_service.proto"
TOLERANCE = 1e-9
FP32_TOLERANCE = 1e-6
OUTPUTS = ("probability", "score", "contributions")


# --- 1. field numbers -----------------------------------------------------------


def _is_repeated(field):
    repeated = getattr(field, "is_repeated", None)
    if repeated is not None:
        return repeated() if callable(repeated) else repeated
    return field.label == field.LABEL_REPEATED


def check_field_numbers():
    """Compares our proto with Triton's descriptors shipped in tritonclient."""
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    with tempfile.TemporaryDirectory(prefix="oip_fds_") as out:
        fds_path = Path(out) / "oip.fds"
        rc = protoc.main(["protoc", f"-I{PROTO_ROOT}", f"-I{well_known}",
                          f"--descriptor_set_out={fds_path}", str(OIP_PROTO)])
        if rc != 0:
            sys.exit(f"protoc failed on {OIP_PROTO} (exit {rc})")
        fds = descriptor_pb2.FileDescriptorSet.FromString(fds_path.read_bytes())
    # Importing service_pb2 / model_config_pb2 registered Triton's files here.
    assert service_pb2.DESCRIPTOR and model_config_pb2.DESCRIPTOR
    pool = descriptor_pool.Default()
    problems, counts = [], {"messages": 0, "fields": 0, "enum values": 0, "methods": 0}

    def check_message(proto, full_name):
        try:
            theirs = pool.FindMessageTypeByName(full_name)
        except KeyError:
            problems.append(f"message {full_name} is not in Triton's protos")
            return
        counts["messages"] += 1
        for field in proto.field:
            other = theirs.fields_by_name.get(field.name)
            if other is None:
                problems.append(f"{full_name}.{field.name} is not in Triton's message")
                continue
            counts["fields"] += 1
            ours = (field.number, field.type, field.label == field.LABEL_REPEATED)
            triton = (other.number, other.type, _is_repeated(other))
            if ours != triton:
                problems.append(f"{full_name}.{field.name}: ours (number, type, repeated) "
                                f"{ours}, Triton's {triton}")
        for nested in proto.nested_type:
            check_message(nested, f"{full_name}.{nested.name}")
        for enum in proto.enum_type:
            check_enum(enum, f"{full_name}.{enum.name}")

    def check_enum(proto, full_name):
        theirs = pool.FindEnumTypeByName(full_name)
        for value in proto.value:
            other = theirs.values_by_name.get(value.name)
            counts["enum values"] += 1
            if other is None or other.number != value.number:
                problems.append(f"{full_name}.{value.name} = {value.number}, Triton's "
                                f"{None if other is None else other.number}")

    for file in fds.file:
        if file.package != "inference":
            continue
        for message in file.message_type:
            check_message(message, f"inference.{message.name}")
        for enum in file.enum_type:
            check_enum(enum, f"inference.{enum.name}")
        for service in file.service:
            theirs = pool.FindServiceByName(f"inference.{service.name}")
            for method in service.method:
                other = theirs.methods_by_name.get(method.name)
                counts["methods"] += 1
                if other is None:
                    problems.append(f"rpc {method.name} is not in Triton's service")
                    continue
                if (method.input_type.lstrip("."), method.output_type.lstrip(".")) != (
                        other.input_type.full_name, other.output_type.full_name):
                    problems.append(f"rpc {method.name} types differ from Triton's")
    return problems, counts


# --- 2./3. the server -----------------------------------------------------------


def realistic_rows(pb, model, n_rows, seed=7):
    """Dense leads in GetModel feature order: numbers around the training median,
    category indices of real levels, booleans mostly false."""
    rng = np.random.default_rng(seed)
    rows = np.zeros((n_rows, len(model.features)), dtype=np.float64)
    for j, f in enumerate(model.features):
        if f.kind == pb.FEATURE_KIND_CATEGORICAL:
            real = [i for i, c in enumerate(f.categories) if c not in ("(other)",)]
            rows[:, j] = rng.choice(real, size=n_rows)
        elif f.kind == pb.FEATURE_KIND_BOOLEAN:
            rows[:, j] = (rng.random(n_rows) < 0.2).astype(np.float64)
        else:
            median = float(f.imputed_value)
            scale = median if median > 0 else 1.0
            rows[:, j] = np.round(rng.uniform(0.0, 3.0, size=n_rows) * scale, 2)
    return rows


def contents_infer(channel, model_name, rows):
    """ModelInfer with typed contents (no raw bytes), via tritonclient's stubs."""
    stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
    request = service_pb2.ModelInferRequest(model_name=model_name, id="contents-check")
    tensor = request.inputs.add(name="leads", datatype="FP64", shape=list(rows.shape))
    tensor.contents.fp64_contents.extend(rows.ravel().tolist())
    for name in OUTPUTS:
        request.outputs.add(name=name)
    response = stub.ModelInfer(request, timeout=10.0)
    if response.raw_output_contents:
        raise SystemExit("contents request was answered with raw_output_contents")
    out = {}
    for o in response.outputs:
        values = o.contents.uint_contents if o.datatype == "UINT32" else o.contents.fp64_contents
        out[o.name] = np.array(values).reshape(list(o.shape))
    return response, out


def tritonclient_infer(client, model_name, rows, datatype="FP64"):
    """ModelInfer through tritonclient's InferInput (raw_input_contents)."""
    data = rows.astype(np.float32 if datatype == "FP32" else np.float64)
    infer_input = tritongrpc.InferInput("leads", list(data.shape), datatype)
    infer_input.set_data_from_numpy(data)
    outputs = [tritongrpc.InferRequestedOutput(name) for name in OUTPUTS]
    result = client.infer(model_name, [infer_input], outputs=outputs, request_id="raw-check")
    response = result.get_response()
    if len(response.raw_output_contents) != len(OUTPUTS):
        raise SystemExit("raw request was not answered with raw_output_contents")
    return response, {name: result.as_numpy(name) for name in OUTPUTS}


def check_http(addr, model_name, rows, ref_p, ref_s, ref_c):
    """The KServe V2 REST binding through tritonclient.http; returns problems."""
    import tritonclient.http as tritonhttp

    problems = []
    client = tritonhttp.InferenceServerClient(url=addr)
    live, ready = client.is_server_live(), client.is_server_ready()
    model_ready = client.is_model_ready(model_name)
    unknown_ready = client.is_model_ready("no_such_model")
    print(f"tritonclient.http: live={live} ready={ready} model_ready={model_ready} "
          f"unknown_model_ready={unknown_ready}")
    if not (live and ready and model_ready) or unknown_ready:
        problems.append("HTTP: health or readiness wrong")
    meta = client.get_server_metadata()
    model_meta = client.get_model_metadata(model_name)
    config = client.get_model_config(model_name)
    n = rows.shape[1]
    print(f"HTTP server metadata {meta}; model inputs {model_meta['inputs']}; "
          f"config max_batch_size={config.get('max_batch_size')}")
    if model_meta["inputs"][0]["shape"] != [-1, n]:
        problems.append(f"HTTP: input shape {model_meta['inputs'][0]['shape']}")

    for binary in (True, False):
        infer_input = tritonhttp.InferInput("leads", list(rows.shape), "FP64")
        infer_input.set_data_from_numpy(rows, binary_data=binary)
        outputs = [tritonhttp.InferRequestedOutput(name, binary_data=binary) for name in OUTPUTS]
        result = client.infer(model_name, [infer_input], outputs=outputs, request_id="http-check")
        p = result.as_numpy("probability").ravel()
        c = result.as_numpy("contributions")
        sc = result.as_numpy("score").ravel()
        dp = float(np.max(np.abs(p - ref_p)))
        dc = float(np.max(np.abs(c - ref_c)))
        equal = bool(np.array_equal(sc, ref_s))
        print(f"HTTP infer ({'binary' if binary else 'JSON'} tensors): id="
              f"{result.get_response().get('id')!r} max |dp| = {dp:.3e}, "
              f"max |d contribution| = {dc:.3e}, scores equal: {equal}")
        if dp > TOLERANCE or dc > TOLERANCE or not equal:
            problems.append(f"HTTP {binary=}: probability diff {dp}, contribution diff {dc}")
    # No outputs named: the default output, binary (tritonclient asks for that).
    infer_input = tritonhttp.InferInput("leads", list(rows.shape), "FP64")
    infer_input.set_data_from_numpy(rows)
    default = client.infer(model_name, [infer_input]).as_numpy("probability").ravel()
    if float(np.max(np.abs(default - ref_p))) > TOLERANCE:
        problems.append("HTTP default output differs")

    bad = tritonhttp.InferInput("leads", [1, n - 1], "FP64")
    bad.set_data_from_numpy(rows[:1, :-1])
    try:
        client.infer(model_name, [bad])
        problems.append("HTTP: a wrong shape was accepted")
    except InferenceServerException as err:
        print(f"HTTP wrong shape refused: {err.status()}: {err.message()}")
        if "shape" not in (err.message() or ""):
            problems.append(f"HTTP: wrong-shape message does not say shape: {err}")
    stats = client.get_inference_statistics(model_name)
    print(f"HTTP statistics: {len(stats.get('model_stats', []))} model version(s)")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="localhost:50051", help="server host:port")
    parser.add_argument("--http-addr", help="also check the V2 REST binding at host:port")
    parser.add_argument("--rows", type=int, default=64, help="leads per request")
    parser.add_argument("--write-perf-data", metavar="FILE",
                        help="also write the rows as perf_analyzer --input-data JSON")
    args = parser.parse_args()
    failures = []

    problems, counts = check_field_numbers()
    print("field numbers vs Triton's protos in tritonclient: "
          + ", ".join(f"{v} {k}" for k, v in counts.items())
          + (" - all match" if not problems else f" - {len(problems)} MISMATCHES"))
    for p in problems:
        print("  ", p)
    failures += problems

    pb, pb_grpc = load_stubs()
    channel = grpc.insecure_channel(args.addr)
    try:
        grpc.channel_ready_future(channel).result(timeout=5)
    except grpc.FutureTimeoutError:
        sys.exit(f"cannot connect to {args.addr}: is leadscore-server running?")
    leadscoring = pb_grpc.LeadScoringStub(channel)
    model = leadscoring.GetModel(pb.GetModelRequest(), timeout=5.0)
    names = [f.name for f in model.features]
    n = len(names)
    print(f"LeadScoring: model {model.name} v{model.version}, {n} features")

    client = tritongrpc.InferenceServerClient(url=args.addr)
    live, ready = client.is_server_live(), client.is_server_ready()
    model_ready = client.is_model_ready(model.name)
    print(f"tritonclient: live={live} ready={ready} model_ready={model_ready} "
          f"unknown_model_ready={client.is_model_ready('no_such_model')}")
    if not (live and ready and model_ready):
        failures.append("server or model not ready")
    meta = client.get_server_metadata(as_json=True)
    print(f"server metadata: {meta}")
    model_meta = client.get_model_metadata(model.name, as_json=True)
    print("model metadata: versions", model_meta.get("versions"), "platform",
          model_meta.get("platform"))
    for t in model_meta["inputs"] + model_meta["outputs"]:
        print(f"  {t['name']:13} {t['datatype']:6} {t['shape']}")
    if model_meta["inputs"][0]["shape"] != ["-1", str(n)]:  # int64 is a string in JSON
        failures.append(f"input shape {model_meta['inputs'][0]['shape']}")
    config = client.get_model_config(model.name, as_json=True)["config"]
    feature_names = config["parameters"]["feature_names"]["string_value"].split(",")
    print(f"model config: max_batch_size={config['max_batch_size']} "
          f"input {config['input'][0]['name']} {config['input'][0]['data_type']} "
          f"dims {config['input'][0]['dims']}; feature_names match GetModel order: "
          f"{feature_names == names}")
    if feature_names != names or config["input"][0]["dims"] != [str(n)]:
        failures.append("ModelConfig input dims or feature order differ from GetModel")

    rows = realistic_rows(pb, model, args.rows)
    leads = [pb.Lead(lead_id=f"row-{i}", values=r.tolist()) for i, r in enumerate(rows)]
    scored = leadscoring.Score(pb.ScoreRequest(model=model.name, leads=leads), timeout=10.0)
    ref_p = np.array([s.probability for s in scored.scores])
    ref_s = np.array([s.score for s in scored.scores])
    explained = leadscoring.Explain(pb.ExplainRequest(model=model.name, leads=leads), timeout=10.0)
    ref_c = np.zeros((len(rows), n))
    for i, e in enumerate(explained.explanations):
        for c in e.contributions:
            ref_c[i, names.index(c.feature)] = c.contribution
    print(f"LeadScoring Score/Explain on {len(rows)} dense leads: probabilities "
          f"{ref_p.min():.4f}..{ref_p.max():.4f}")

    checks = []
    raw_response, raw = tritonclient_infer(client, model.name, rows)
    checks.append(("raw (InferInput.set_data_from_numpy)", raw_response, raw))
    contents_response, contents = contents_infer(channel, model.name, rows)
    checks.append(("typed contents (service_pb2)", contents_response, contents))
    for what, response, out in checks:
        dp = float(np.max(np.abs(out["probability"].ravel() - ref_p)))
        dc = float(np.max(np.abs(out["contributions"] - ref_c)))
        score_ok = bool(np.array_equal(out["score"].ravel(), ref_s))
        print(f"ModelInfer {what}: model_version={response.model_version} id={response.id!r} "
              f"shapes {[list(o.shape) for o in response.outputs]}; max |dp| = {dp:.3e}, "
              f"max |d contribution| = {dc:.3e}, scores equal: {score_ok}")
        if dp > TOLERANCE or dc > TOLERANCE or not score_ok:
            failures.append(f"{what}: probability diff {dp}, contribution diff {dc}, "
                            f"scores equal {score_ok}")
    _, fp32 = tritonclient_infer(client, model.name, rows, datatype="FP32")
    d32 = float(np.max(np.abs(fp32["probability"].ravel() - ref_p)))
    print(f"ModelInfer raw FP32: max |dp| = {d32:.3e} (FP32 rounding of the inputs; "
          f"limit {FP32_TOLERANCE})")
    if d32 > FP32_TOLERANCE:
        failures.append(f"FP32 probability diff {d32}")

    try:
        client.infer(model.name, [tritongrpc.InferInput("leads", [1, n - 1], "FP64")
                                  .set_data_from_numpy(rows[:1, :-1])])
        failures.append("a wrong shape was accepted")
    except InferenceServerException as err:
        print(f"wrong shape refused: {err.status()}: {err.message()}")

    stats = client.get_inference_statistics(model.name, as_json=True)
    for s in stats.get("model_stats", []):
        success = s.get("inference_stats", {}).get("success", {})
        print(f"statistics {s['name']} v{s['version']}: inference_count="
              f"{s.get('inference_count', 0)} execution_count={s.get('execution_count', 0)} "
              f"success={success.get('count', 0)} ({int(success.get('ns', 0)) / 1e6:.2f} ms)")

    if args.http_addr:
        failures += check_http(args.http_addr, model.name, rows, ref_p, ref_s, ref_c)

    if args.write_perf_data:
        data = {"data": [{"leads": r.tolist()} for r in rows]}
        Path(args.write_perf_data).write_text(json.dumps(data))
        print(f"wrote {len(rows)} rows for perf_analyzer --input-data to {args.write_perf_data}")

    if failures:
        print(f"FAILED: {len(failures)} problem(s)")
        for f in failures:
            print("  ", f)
        sys.exit(1)
    print(f"OK: tritonclient agrees with LeadScoring to {TOLERANCE:g}")


if __name__ == "__main__":
    try:
        main()
    except grpc.RpcError as err:
        sys.exit(f"RPC failed: {err.code().name}: {err.details()}")
    except InferenceServerException as err:
        sys.exit(f"tritonclient: {err}")
