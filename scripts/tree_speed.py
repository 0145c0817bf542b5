#!/usr/bin/env python3
"""Tree evaluation and TreeSHAP per row: leadscore against LightGBM on the
same model, interleaved in one run (issue 21, items 2 and 3).

1. Trains a LightGBM binary model of 300 trees, max_depth 6 (num_leaves 63,
   min_data_in_leaf 20) on 20,000 generated rows of 16 numeric columns, and
   saves it with `booster.save_model`.
2. Imports it with `leadscore-train import` (the same trees, exactly).
3. Writes 10,000 fresh rows (`rows.f64`, little-endian, row-major) with
   LightGBM's raw margins and, for the first 200, its `pred_contrib`.
4. Alternates ROUNDS times: LightGBM's `predict(raw_score=True)` and
   `predict(pred_contrib=True)` with `num_threads=1`, then
   `examples/tree_speed` (ours, release build), each timing batch 1 and
   batch 100 (and 32 for contributions). Prints per-row medians and ranges,
   and the ratios taken within each round.

The example also checks exactness against LightGBM's values (max |diff|).

usage: python3 scripts/tree_speed.py [WORKDIR] [--rounds N]
       (needs numpy and lightgbm; builds the example with cargo)
"""

import json
import os
import statistics
import subprocess
import sys
import time

import lightgbm as lgb
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLUMNS = 16
TREES = 300


def generate(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, COLUMNS))
    logit = (
        1.2 * x[:, 0]
        - 0.8 * x[:, 1] * x[:, 2]
        + 0.6 * np.sin(3 * x[:, 3])
        + 0.5 * (x[:, 4] > 0.5)
        + 0.3 * x[:, 5:10].sum(axis=1)
    )
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return x, y


def per_row_seconds(fn, rows, batch, budget=0.6):
    """Median-free single figure: total time / rows, over whole passes that
    fill about `budget` seconds."""
    blocks = [rows[i : i + batch] for i in range(0, len(rows) - batch + 1, batch)]
    done = 0
    start = time.perf_counter()
    while True:
        for b in blocks:
            fn(b)
            done += len(b)
        elapsed = time.perf_counter() - start
        if elapsed >= budget:
            return elapsed / done


def main():
    args = sys.argv[1:]
    rounds = 5
    if "--rounds" in args:
        at = args.index("--rounds")
        rounds = int(args[at + 1])
        del args[at : at + 2]
    work = os.path.abspath(args[0] if args else "/tmp/leadscore-tree-speed")
    os.makedirs(work, exist_ok=True)

    x, y = generate(20_000, 1)
    params = {
        "objective": "binary",
        "max_depth": 6,
        "num_leaves": 63,
        "min_data_in_leaf": 20,
        "learning_rate": 0.05,
        "verbose": -1,
        "num_threads": 1,
        "seed": 7,
    }
    names = [f"x{i}" for i in range(COLUMNS)]
    booster = lgb.train(params, lgb.Dataset(x, y, feature_name=names), num_boost_round=TREES)
    model_txt = os.path.join(work, "lightgbm.txt")
    booster.save_model(model_txt)
    leaves = [t["num_leaves"] for t in booster.dump_model()["tree_info"]]
    schema = {"features": [{"name": f"x{i}", "kind": "numeric"} for i in range(COLUMNS)]}
    with open(os.path.join(work, "schema.json"), "w") as f:
        json.dump(schema, f)

    subprocess.run(
        ["cargo", "build", "--quiet", "--release", "--bin", "leadscore-train", "--example", "tree_speed"],
        cwd=ROOT,
        check=True,
    )
    out_dir = os.path.join(work, "models", "speed", "1")
    subprocess.run(
        [
            os.path.join(ROOT, "target/release/leadscore-train"),
            "import",
            "--lightgbm",
            model_txt,
            "--schema",
            os.path.join(work, "schema.json"),
            "--out",
            out_dir,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    model_json = os.path.join(out_dir, "model.json")

    rows, _ = generate(10_000, 2)
    rows = np.ascontiguousarray(rows)
    rows.astype("<f8").tofile(os.path.join(work, "rows.f64"))
    raw = booster.predict(rows, raw_score=True, num_threads=1)
    contrib = booster.predict(rows[:200], pred_contrib=True, num_threads=1)
    with open(os.path.join(work, "reference.json"), "w") as f:
        json.dump({"raw": raw.tolist(), "contrib": contrib.tolist()}, f)

    example = os.path.join(ROOT, "target/release/examples/tree_speed")
    results = []
    for r in range(rounds):
        lgb_figures = {
            "predict_batch_1": per_row_seconds(
                lambda b: booster.predict(b, raw_score=True, num_threads=1), rows[:2000], 1
            ),
            "predict_batch_100": per_row_seconds(
                lambda b: booster.predict(b, raw_score=True, num_threads=1), rows, 100
            ),
            "contrib_batch_1": per_row_seconds(
                lambda b: booster.predict(b, pred_contrib=True, num_threads=1), rows[:200], 1
            ),
            "contrib_batch_32": per_row_seconds(
                lambda b: booster.predict(b, pred_contrib=True, num_threads=1), rows[:640], 32
            ),
        }
        ours = json.loads(
            subprocess.run(
                [example, model_json, os.path.join(work, "rows.f64"), os.path.join(work, "reference.json")],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        results.append({"lightgbm": lgb_figures, "ours": ours})
        print(f"round {r + 1}: lightgbm {fmt(lgb_figures)}", file=sys.stderr)
        print(f"round {r + 1}: ours     {fmt(ours['seconds_per_row'])}", file=sys.stderr)

    report(results, leaves)


def fmt(d):
    return ", ".join(f"{k} {v * 1e6:.3f} µs" for k, v in d.items())


def spread(values):
    return f"{statistics.median(values):.3f} [{min(values):.3f}, {max(values):.3f}]"


def report(results, leaves):
    ours_keys = results[0]["ours"]["seconds_per_row"].keys()
    print(f"model: {TREES} trees, max_depth 6, {statistics.mean(leaves):.1f} leaves a tree on average")
    ex = results[0]["ours"]["exactness"]
    print(f"exactness: margins max |ours − LightGBM raw| = {ex['margin']:.3g}; "
          f"TreeSHAP max |ours − pred_contrib| = {ex['contrib']:.3g}")
    print()
    print("| evaluator | µs per row, median [range] over rounds |")
    print("|---|---|")
    for k in results[0]["lightgbm"]:
        print(f"| LightGBM {k} | {spread([r['lightgbm'][k] * 1e6 for r in results])} |")
    for k in ours_keys:
        print(f"| ours {k} | {spread([r['ours']['seconds_per_row'][k] * 1e6 for r in results])} |")
    print()
    print("| ratio (LightGBM / ours, within each round) | median [range] |")
    print("|---|---|")
    pairs = [
        ("predict batch 100 / complete batch 100", "predict_batch_100", "complete_batch_100"),
        ("predict batch 100 / walk batch 100", "predict_batch_100", "walk_batch_100"),
        ("predict batch 1 / complete batch 1", "predict_batch_1", "complete_batch_1"),
        ("pred_contrib batch 1 / TreeSHAP batch 1", "contrib_batch_1", "treeshap_batch_1"),
        ("pred_contrib batch 32 / TreeSHAP batch 32", "contrib_batch_32", "treeshap_batch_32"),
    ]
    for label, theirs, ours in pairs:
        if ours in ours_keys:
            ratios = [r["lightgbm"][theirs] / r["ours"]["seconds_per_row"][ours] for r in results]
            print(f"| {label} | {spread(ratios)} |")


if __name__ == "__main__":
    main()
