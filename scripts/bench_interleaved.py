#!/usr/bin/env python3
"""Before/after of two criterion bench binaries, run interleaved.

On a noisy machine a "before" run now and an "after" run later measure the
load as much as the code. This script alternates the two binaries ROUNDS
times over the same benchmarks and prints, per benchmark, the median and the
range of criterion's point estimates for each, and the after/before ratio of
the medians with the range of the per-round ratios (each round's two runs are
seconds apart, so the per-round ratio cancels most of the load).

Build the binaries with `cargo bench --no-run --bench scoring` at the two
commits (each prints the path of its bench executable), then:

    python3 scripts/bench_interleaved.py BEFORE_BIN AFTER_BIN --rounds 5 \
        --filter 'score_per_lead|explain_per_lead'
"""

import argparse
import re
import statistics
import subprocess
import sys

UNITS = {"ps": 1e-6, "ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3, "s": 1e6}
TIME = re.compile(
    r"^(?P<name>\S.*?)\s*\n?\s+time:\s+\[\S+ \S+ (?P<mid>[0-9.]+) (?P<unit>\S+) \S+ \S+\]",
    re.M,
)


def run(binary, filt, warm, measure):
    """Runs one bench binary and returns {benchmark: median estimate in µs}."""
    cmd = [
        binary,
        "--bench",
        "--noplot",
        "--warm-up-time",
        str(warm),
        "--measurement-time",
        str(measure),
    ]
    if filt:
        cmd.append(filt)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    found = {}
    for m in TIME.finditer(out):
        found[m.group("name").strip()] = float(m.group("mid")) * UNITS[m.group("unit")]
    return found


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--filter", default="", help="criterion filter (regex)")
    p.add_argument("--warm-up-time", type=float, default=1.0)
    p.add_argument("--measurement-time", type=float, default=3.0)
    a = p.parse_args()
    before, after = {}, {}
    for r in range(a.rounds):
        # Alternate which binary goes first, so neither always runs warmer.
        order = [("before", a.before, before), ("after", a.after, after)]
        if r % 2:
            order.reverse()
        for label, binary, into in order:
            print(f"round {r + 1}/{a.rounds}: {label}", file=sys.stderr, flush=True)
            for name, us in run(binary, a.filter, a.warm_up_time, a.measurement_time).items():
                into.setdefault(name, []).append(us)
    print(f"{'benchmark':58} {'before µs (range)':>24} {'after µs (range)':>24} {'after/before (range)':>22}")
    for name in sorted(before):
        if name not in after:
            print(f"{name:58} only in before")
            continue
        b, c = before[name], after[name]
        ratios = [y / x for x, y in zip(b, c)]
        fmt = lambda v: f"{statistics.median(v):.3f} ({min(v):.3f}-{max(v):.3f})"
        print(
            f"{name:58} {fmt(b):>24} {fmt(c):>24} "
            f"{statistics.median(c) / statistics.median(b):>8.3f} ({min(ratios):.3f}-{max(ratios):.3f})"
        )
    for name in sorted(set(after) - set(before)):
        print(f"{name:58} only in after")


if __name__ == "__main__":
    main()
