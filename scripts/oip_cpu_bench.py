#!/usr/bin/env python3
"""Server CPU per Open Inference Protocol request, in one run: an empty RPC
(ServerLive) against ModelInfer at batch 1 and 100, for one or more server
binaries interleaved (before/after comparisons; docs/benchmarks.md).

    pip install grpcio grpcio-tools
    python3 scripts/oip_cpu_bench.py --server before=/tmp/leadscore-server-before \\
        --server after=./target/release/leadscore-server -n 4000 --rounds 5

Starts every server on free ports over `models/` (all stay up; an idle one
costs nothing), then per round and per server sends, over one channel and
one at a time, N requests of each phase: ServerLive, leadscore.v1 Score of
one dense lead (logistic), ModelInfer of the
bundled logistic model (x_education version 1) with 1 and 100 rows, and of
the bundled gbdt (version 2) with 100 rows, rows as FP64
`raw_input_contents`. The server's utime+stime comes from /proc/<pid>/stat
before and after each phase; the client's CPU is not counted. Prints the µs
per request per round, then medians and ranges, and the ratios to the empty
RPC taken within each round.
"""
import argparse
import importlib.resources
import json
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_inference_stubs():
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    out = tempfile.mkdtemp(prefix="oip_stubs_")
    rc = protoc.main(["protoc", f"-I{ROOT / 'proto'}", f"-I{well_known}", f"--python_out={out}",
                      f"--grpc_python_out={out}", "inference/grpc_service.proto"])
    if rc != 0:
        sys.exit("protoc failed on proto/inference/grpc_service.proto")
    sys.path.insert(0, out)
    from inference import grpc_service_pb2, grpc_service_pb2_grpc
    return grpc_service_pb2, grpc_service_pb2_grpc


def rows(version, n):
    """n dense rows of the bundled x_education model `version`: numbers at
    their median, categories and flags cycling."""
    spec = json.loads((ROOT / f"models/x_education/{version}/model.json").read_text())
    out = []
    for k in range(n):
        for f in spec["features"]:
            e = f["encoding"]
            if e["kind"] == "numeric":
                out.append(float(e["median"]))
            elif e["kind"] == "categorical":
                out.append(float(k % len(e["categories"])))
            elif e["kind"] == "boolean":
                out.append(float(k % 2))
            else:
                out.append(0.0)
    return out, len(spec["features"])


def call_of(stubs, method):
    """The method on the inference stub, or LeadScoring's Score."""
    inference, lead_scoring = stubs
    return lead_scoring.Score if method == "Score" else getattr(inference, method)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", action="append", default=[],
                   help="LABEL=PATH of a leadscore-server binary (repeatable)")
    p.add_argument("-n", type=int, default=4000, help="requests per phase per round")
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()
    servers = [s.split("=", 1) for s in (a.server or ["ours=./target/release/leadscore-server"])]
    pb, pb_grpc = load_inference_stubs()
    sys.path.insert(0, str(ROOT / "scripts"))
    from score_client import load_stubs
    ls_pb, ls_grpc = load_stubs()

    def infer_request(version, batch):
        values, width = rows(version, batch)
        return pb.ModelInferRequest(
            model_name="x_education", model_version=str(version),
            inputs=[pb.ModelInferRequest.InferInputTensor(name="leads", datatype="FP64",
                                                          shape=[batch, width])],
            raw_input_contents=[struct.pack(f"<{len(values)}d", *values)])

    one_lead, _ = rows(1, 1)
    phases = {
        "empty (ServerLive)": ("ServerLive", pb.ServerLiveRequest()),
        "leadscore.v1 Score, logistic, 1 lead": ("Score", ls_pb.ScoreRequest(
            model="x_education", version="1", leads=[ls_pb.Lead(lead_id="a", values=one_lead)])),
        "logistic, 1 row": ("ModelInfer", infer_request(1, 1)),
        "logistic, 100 rows": ("ModelInfer", infer_request(1, 100)),
        "gbdt, 100 rows": ("ModelInfer", infer_request(2, 100)),
    }
    procs = []
    try:
        running = []
        for label, path in servers:
            port = free_port()
            proc = subprocess.Popen(
                [path, "--grpc-addr", f"127.0.0.1:{port}", "--http-addr", "off",
                 "--metrics-addr", "off", "--models", str(ROOT / "models"),
                 "--watch-models", "false", "--log-level", "warn"],
                stdout=subprocess.DEVNULL)
            procs.append(proc)
            channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            grpc.channel_ready_future(channel).result(timeout=30)
            stubs = (pb_grpc.GRPCInferenceServiceStub(channel), ls_grpc.LeadScoringStub(channel))
            for method, req in phases.values():  # warm up, and check the answers
                call_of(stubs, method)(req)
            running.append((label, proc, stubs))
        results = {label: {k: [] for k in phases} for label, _, _ in running}
        for r in range(a.rounds):
            for label, proc, stub in running:
                for name, (method, req) in phases.items():
                    call = call_of(stub, method)
                    before = cpu_seconds(proc.pid)
                    for _ in range(a.n):
                        call(req)
                    used = cpu_seconds(proc.pid) - before
                    results[label][name].append(used / a.n * 1e6)
                line = ", ".join(f"{k} {v[-1]:.1f}" for k, v in results[label].items())
                print(f"round {r + 1} {label}: µs server CPU per request: {line}", file=sys.stderr)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()

    def spread(values):
        return f"{statistics.median(values):.1f} [{min(values):.1f}, {max(values):.1f}]"

    labels = [label for label, _ in servers]
    print("| request | " + " | ".join(f"{l}: µs server CPU per request" for l in labels) + " |")
    print("|---|" + "---|" * len(labels))
    for name in phases:
        print(f"| {name} | " + " | ".join(spread(results[l][name]) for l in labels) + " |")
    print()
    print("| ratio to the empty RPC, within each round | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    empty = "empty (ServerLive)"
    for name in list(phases)[1:]:
        cells = [spread([x / e for x, e in zip(results[l][name], results[l][empty])]) for l in labels]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if len(labels) == 2:
        print()
        print(f"| ratio {labels[0]} / {labels[1]}, within each round | median [range] |")
        print("|---|---|")
        for name in phases:
            ratios = [x / y for x, y in zip(results[labels[0]][name], results[labels[1]][name])]
            print(f"| {name} | {spread(ratios)} |")


if __name__ == "__main__":
    main()
