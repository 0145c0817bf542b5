#!/usr/bin/env python3
"""Server CPU per request: leadscore-server against MLServer, same client,
same protocol (Open Inference Protocol over gRPC), same model and rows, in
one run (issue 21, item 4; docs/benchmarks.md).

    MLSERVER_VENV/bin/python scripts/peer_cpu.py WORK_DIR [--rounds 3] [-n 2000]

WORK_DIR is what `scripts/bench_peer.sh` prepares (`mlserver/` model
repository, `ours/` with our model `leads`, `perf_rows.json`); run
bench_peer.sh once, or its steps 1-2, first. Run with the MLServer venv's
python (it has tritonclient, mlserver and scikit-learn).

For batch 1 and 100, and concurrency 1, 4 and 16 (threads of the same
tritonclient gRPC client, one channel each, synchronous requests), sends N
requests to each server, alternating the servers round by round, and
reads the server's utime+stime from /proc before and after (for MLServer,
its process and its children): the client's CPU is left out. Prints µs of
server CPU per request and per row, and MLServer / leadscore within each
round (medians and ranges).
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import tritonclient.grpc as g

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime+stime of pid and of its (waited-for and live) children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = sum(int(fields[i]) for i in (11, 12, 13, 14))
    for child in children(pid):
        try:
            f = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except FileNotFoundError:
            pass
    return total / TICK


def children(pid):
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            kids = (task / "children").read_text().split()
        except FileNotFoundError:
            continue
        for k in kids:
            out.append(int(k))
            out.extend(children(int(k)))
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(addr, proc, name):
    for _ in range(240):
        if proc.poll() is not None:
            sys.exit(f"{name} exited")
        try:
            if g.InferenceServerClient(addr).is_model_ready("leads"):
                return
        except Exception:
            pass
        time.sleep(0.5)
    sys.exit(f"{name} did not become ready on {addr}")


def run(addr, output, rows, batch, concurrency, n):
    """n requests of `batch` rows over `concurrency` threads."""
    per_thread = n // concurrency

    def worker(k):
        client = g.InferenceServerClient(addr)
        inp = g.InferInput("leads", [batch, rows.shape[1]], "FP64")
        start = (k * batch) % (len(rows) - batch)
        inp.set_data_from_numpy(rows[start:start + batch])
        out = [g.InferRequestedOutput(output)]
        for _ in range(per_thread):
            client.infer("leads", [inp], outputs=out)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return per_thread * concurrency


def main():
    p = argparse.ArgumentParser()
    p.add_argument("work_dir")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("-n", type=int, default=2000, help="requests per measurement")
    p.add_argument("--server", default=str(ROOT / "target/release/leadscore-server"))
    a = p.parse_args()
    work = Path(a.work_dir)
    rows = np.array([d["leads"] for d in json.loads((work / "perf_rows.json").read_text())["data"]],
                    dtype=np.float64)

    mls_grpc, mls_http, ours_port = free_port(), free_port(), free_port()
    env = dict(os.environ, MLSERVER_HOST="127.0.0.1", MLSERVER_HTTP_PORT=str(mls_http),
               MLSERVER_GRPC_PORT=str(mls_grpc), MLSERVER_METRICS_PORT=str(free_port()),
               PEER_MODEL_NAME="leads", PEER_N_FEATURES=str(rows.shape[1]))
    mls = subprocess.Popen([sys.executable, str(ROOT / "scripts/bench_peer/mlserver_modelconfig.py"),
                            "start", str(work / "mlserver")], cwd=work, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ours = subprocess.Popen([a.server, "--grpc-addr", f"127.0.0.1:{ours_port}", "--http-addr", "off",
                             "--metrics-addr", "off", "--models", str(work / "ours"),
                             "--default-model", "leads", "--watch-models", "false",
                             "--log-level", "warn"], stdout=subprocess.DEVNULL)
    servers = {
        "mlserver": (f"127.0.0.1:{mls_grpc}", "predict_proba", mls),
        "leadscore": (f"127.0.0.1:{ours_port}", "probability", ours),
    }
    try:
        for name, (addr, _, proc) in servers.items():
            wait_ready(addr, proc, name)
        cases = [(1, 1), (1, 4), (1, 16), (100, 1), (100, 4), (100, 16)]
        results = {(s, c): [] for s in servers for c in cases}
        for addr, output, _ in servers.values():  # warm up
            run(addr, output, rows, 100, 4, 200)
        for r in range(a.rounds):
            order = list(servers) if r % 2 == 0 else list(reversed(servers))
            for case in cases:
                batch, conc = case
                n = a.n
                for name in order:
                    addr, output, proc = servers[name]
                    before = cpu_seconds(proc.pid)
                    done = run(addr, output, rows, batch, conc, n)
                    used = cpu_seconds(proc.pid) - before
                    results[(name, case)].append(used / done * 1e6)
                print(f"round {r + 1} batch {batch} c{conc}: "
                      + ", ".join(f"{s} {results[(s, case)][-1]:.0f} µs" for s in order), file=sys.stderr)
    finally:
        for _, _, proc in servers.values():
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()

    def spread(v, digits=1):
        return f"{statistics.median(v):.{digits}f} [{min(v):.{digits}f}, {max(v):.{digits}f}]"

    print("| batch | concurrency | MLServer µs CPU per request | leadscore µs CPU per request "
          "| leadscore µs per row | MLServer / leadscore, within each round |")
    print("|---:|---:|---:|---:|---:|---:|")
    for batch, conc in cases:
        m, o = results[("mlserver", (batch, conc))], results[("leadscore", (batch, conc))]
        ratios = [x / y for x, y in zip(m, o)]
        print(f"| {batch} | {conc} | {spread(m, 0)} | {spread(o, 0)} | {spread([x / batch for x in o], 2)} "
              f"| {spread(ratios)} |")


if __name__ == "__main__":
    main()
