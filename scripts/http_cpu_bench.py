#!/usr/bin/env python3
"""Server CPU per Score of one lead: HTTP/JSON vs gRPC, in one run (docs/benchmarks.md).

    pip install requests grpcio grpcio-tools
    python3 scripts/http_cpu_bench.py --server ./target/release/leadscore-server -n 5000

Starts the server on free ports over `models/`, warms both paths up, then
sends N sequential Score requests of the same lead over each protocol (one
keep-alive connection each) and reads the server's utime+stime from
/proc/<pid>/stat before and after each phase, in --rounds interleaved rounds.
Prints µs of server CPU per request and the ratio HTTP/gRPC per round, then
their medians and ranges.
"""
import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from score_client import load_stubs  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", default="./target/release/leadscore-server")
    p.add_argument("--models", default="models")
    p.add_argument("-n", type=int, default=5000, help="requests per protocol per round")
    p.add_argument("--rounds", type=int, default=3,
                   help="interleaved rounds (gRPC then HTTP/JSON each round)")
    a = p.parse_args()
    gport, hport = free_port(), free_port()
    server = subprocess.Popen([a.server, "--grpc-addr", f"127.0.0.1:{gport}",
                               "--http-addr", f"127.0.0.1:{hport}", "--metrics-addr", "off",
                               "--models", a.models, "--log-level", "warn"])
    try:
        pb, pb_grpc = load_stubs()
        channel = grpc.insecure_channel(f"127.0.0.1:{gport}")
        stub = pb_grpc.LeadScoringStub(channel)
        for _ in range(100):
            try:
                info = stub.GetModel(pb.GetModelRequest(), timeout=1)
                break
            except grpc.RpcError:
                time.sleep(0.1)
        lead = pb.Lead(lead_id="bench")
        json_features = {}
        for f in info.features:
            if f.kind == pb.FEATURE_KIND_CATEGORICAL:
                lead.features[f.name].category = f.categories[0]
                json_features[f.name] = {"category": f.categories[0]}
            elif f.kind == pb.FEATURE_KIND_BOOLEAN:
                lead.features[f.name].flag = True
                json_features[f.name] = {"flag": True}
            else:
                lead.features[f.name].number = 1.0
                json_features[f.name] = {"number": 1.0}
        grpc_req = pb.ScoreRequest(leads=[lead])
        import json
        http_body = json.dumps({"leads": [{"leadId": "bench", "features": json_features}]})
        session = requests.Session()
        url = f"http://127.0.0.1:{hport}/v1/score"
        headers = {"content-type": "application/json"}

        def grpc_phase(n):
            for _ in range(n):
                stub.Score(grpc_req)

        def http_phase(n):
            for _ in range(n):
                r = session.post(url, data=http_body, headers=headers)
                assert r.status_code == 200, r.text

        grpc_phase(200)
        http_phase(200)
        rounds = []
        for _ in range(a.rounds):
            results = {}
            for name, phase in (("grpc", grpc_phase), ("http", http_phase)):
                before = cpu_seconds(server.pid)
                phase(a.n)
                results[name] = (cpu_seconds(server.pid) - before) / a.n * 1e6
            results["ratio"] = results["http"] / max(results["grpc"], 1e-9)
            rounds.append(results)
            print(f"round {len(rounds)}: gRPC {results['grpc']:.1f} us, "
                  f"HTTP/JSON {results['http']:.1f} us, ratio {results['ratio']:.2f}x")

        def median_range(key):
            values = sorted(r[key] for r in rounds)
            return values[len(values) // 2], values[0], values[-1]

        print(f"server CPU per Score of one lead, {a.n} requests per protocol, "
              f"{a.rounds} interleaved rounds (median, range):")
        for key, label in (("grpc", "gRPC     "), ("http", "HTTP/JSON")):
            m, lo, hi = median_range(key)
            print(f"  {label} {m:8.1f} us  ({lo:.1f}-{hi:.1f})")
        m, lo, hi = median_range("ratio")
        print(f"  ratio     {m:8.2f}x  ({lo:.2f}-{hi:.2f})")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    sys.exit(main())
