"""Logistic fit time at the size the trainer issue reported (33k rows x 19
columns, about 60 one-hot columns): leadscore-train --model logistic against
scikit-learn's lbfgs on the same generated file, in one run.

usage: python scripts/logistic_speed.py --trainer target/release/leadscore-train [--rows 33000]
Prints one JSON line: scikit-learn's fit (median of 3), its 5-fold CV, and our
whole run, per-fold fit times and final fit (from report.json and the log).
Needs numpy, pandas, scikit-learn.
"""
import argparse
import json
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def generate(rows, seed=0):
    """9 numeric columns and 10 categorical ones of 6 levels; a known logistic model."""
    rng = np.random.default_rng(seed)
    cols, z = {}, -1.0 + np.zeros(rows)
    for k in range(9):
        x = rng.normal(size=rows) * (1 + k)
        cols[f"num_{k}"] = np.round(x, 3)
        z += (0.3 if k % 2 else -0.2) * x / (1 + k)
    for k in range(10):
        level = rng.integers(0, 6, size=rows)
        cols[f"cat_{k}"] = [f"level_{v}" for v in level]
        z += (level - 2.5) * 0.08 * (1 if k % 3 else -1)
    cols["converted"] = (rng.random(rows) < 1 / (1 + np.exp(-z))).astype(int)
    return pd.DataFrame(cols)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trainer", required=True)
    ap.add_argument("--rows", type=int, default=33_000)
    args = ap.parse_args()
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    work = Path(tempfile.mkdtemp(prefix="leadscore-logistic."))
    df = generate(args.rows)
    csv = work / "wide.csv"
    df.to_csv(csv, index=False)
    y = df.pop("converted").to_numpy()
    numeric = [c for c in df.columns if c.startswith("num_")]
    categorical = [c for c in df.columns if c.startswith("cat_")]

    def make():
        pre = ColumnTransformer([("n", StandardScaler(), numeric), ("c", OneHotEncoder(), categorical)])
        return make_pipeline(pre, LogisticRegression(C=1.0, max_iter=5000))
    fits = []
    for _ in range(3):
        t0 = time.perf_counter()
        make().fit(df, y)
        fits.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    cross_val_predict(make(), df, y, cv=StratifiedKFold(5, shuffle=True, random_state=0), method="predict_proba")
    sk_cv = time.perf_counter() - t0

    cmd = [args.trainer, "--data", str(csv), "--target", "converted", "--out", str(work / "ours"),
           "--model", "logistic"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    ours = time.perf_counter() - t0
    report = json.loads((work / "ours" / "report.json").read_text())
    final = re.search(r"final (\w+) fit: ([0-9.]+) s", proc.stderr)
    print(json.dumps({
        "rows": args.rows, "design_columns_sklearn": 9 + 60,
        "sklearn_fit_seconds_median": statistics.median(fits),
        "sklearn_5fold_cv_seconds": sk_cv,
        "ours_total_seconds": ours,
        "ours_fold_seconds": report["candidates"][0].get("fold_seconds"),
        "ours_final_fit_seconds": float(final.group(2)) if final else None,
        "ours_test_roc_auc": report["test_metrics"]["roc_auc"],
    }))


if __name__ == "__main__":
    main()
