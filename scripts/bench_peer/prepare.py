#!/usr/bin/env python3
"""Builds the shared 16-feature table and trains scikit-learn's model for MLServer.

    prepare.py OUT_DIR [LEADFORGE_CSV]

Writes into OUT_DIR:
  data.csv          16 numeric features + `converted` (0/1); leadscore-train reads it too
  features.txt      the 16 feature names, in column order
  mlserver/leads/model.joblib, model-settings.json   MLServer's model repository
  sklearn_auc.txt   held-out ROC AUC of the scikit-learn model (sanity)

With the leadforge CSV: 13 numeric behaviour/account columns plus 3 ordinal
encodings of the band columns (employee, revenue, process maturity).
`total_touches_all` and the opportunity_* / has_open_opportunity columns leak
the outcome and are left out. Blank cells get the column median so both
trainers see exactly the same complete table (no missing-indicator terms).
Without it: 16 synthetic numeric features from numpy with seed 7.
"""
import json
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

NUMERIC = [
    "touch_count", "inbound_touch_count", "outbound_touch_count", "session_count",
    "pricing_page_views", "demo_page_views", "total_session_duration_seconds",
    "touches_days_0_7", "touches_last_7_days", "days_since_first_touch",
    "activity_count", "days_since_last_touch", "expected_acv",
]
EMPLOYEES = {"200-499": 200, "500-999": 500, "1000-1999": 1000, "2000+": 2000}
REVENUE = {"$1M-$10M": 1, "$10M-$50M": 10, "$50M-$200M": 50, "$200M+": 200}
MATURITY = {"low": 0, "medium": 1, "high": 2}


def leadforge(path):
    raw = pd.read_csv(path)
    df = raw[NUMERIC].astype(float)
    df["employee_band_min"] = raw["employee_band"].map(EMPLOYEES).astype(float)
    df["revenue_band_min_musd"] = raw["estimated_revenue_band"].map(REVENUE).astype(float)
    df["process_maturity_level"] = raw["process_maturity_band"].map(MATURITY).astype(float)
    df = df.fillna(df.median())
    y = raw["converted_within_90_days"].astype(str).str.lower().eq("true").astype(int)
    return df, y, "leadforge"


def synthetic(n=20000, seed=7):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 16)) * rng.uniform(0.5, 20, size=16) + rng.uniform(0, 50, size=16)
    w = rng.normal(size=16)
    z = ((x - x.mean(0)) / x.std(0)) @ w * 0.5 - 1.0
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(int)
    df = pd.DataFrame(x, columns=[f"f{i:02d}" for i in range(16)])
    return df, pd.Series(y), "synthetic(seed=7)"


def main():
    out = Path(sys.argv[1])
    src = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    df, y, origin = leadforge(src) if src and src.is_file() else synthetic()
    assert df.shape[1] == 16, df.shape
    out.mkdir(parents=True, exist_ok=True)
    table = df.copy()
    table["converted"] = y.values
    table.to_csv(out / "data.csv", index=False)
    (out / "features.txt").write_text("\n".join(df.columns) + "\n")

    xtr, xte, ytr, yte = train_test_split(df.values, y.values, test_size=0.2, random_state=42, stratify=y.values)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    model.fit(xtr, ytr)
    auc = roc_auc_score(yte, model.predict_proba(xte)[:, 1])
    (out / "sklearn_auc.txt").write_text(f"{auc:.4f} ({origin}, {len(df)} rows)\n")
    model.fit(df.values, y.values)  # serve a model fitted on every row, like ours

    repo = out / "mlserver" / "leads"
    repo.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, repo / "model.joblib")
    settings = {
        "name": "leads",
        "implementation": "mlserver_sklearn.SKLearnModel",
        "parameters": {"uri": "./model.joblib", "version": "1"},
        # perf_analyzer builds its requests from ModelMetadata: one FP64 input
        # [-1, 16] and the predict_proba output (what ours returns as `probability`).
        "inputs": [{"name": "leads", "datatype": "FP64", "shape": [-1, 16]}],
        "outputs": [{"name": "predict_proba", "datatype": "FP64", "shape": [-1, 2]}],
    }
    (repo / "model-settings.json").write_text(json.dumps(settings, indent=2))
    # parallel_workers 0: inference in the server process (MLServer's fastest here).
    (out / "mlserver" / "settings.json").write_text(json.dumps(
        {"parallel_workers": 0, "debug": False, "metrics_endpoint": None}, indent=2))
    print(f"prepared {len(df)} rows x 16 features from {origin}; sklearn held-out AUC {auc:.4f}")


if __name__ == "__main__":
    main()
