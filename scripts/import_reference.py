#!/usr/bin/env python3
"""Reference models and values for `leadscore-train import`.

Trains two small binary models on generated leads with missing values and a
categorical column, with the libraries themselves, and writes into OUTDIR:

- `lightgbm.txt`: LightGBM (`lgb.train`, `objective=binary`, categorical
  `plan`, NaN in `visits` and zero-as-missing candidates in `seats`),
  saved with `booster.save_model`.
- `xgboost.json`: XGBoost trained with `xgboost.dask.train` on a
  `dask.distributed.LocalCluster(n_workers=2)` (a real distributed run,
  locally), `binary:logistic`, `tree_method=hist`, categorical `plan`
  (`enable_categorical`), saved with `booster.save_model("….json")`.
- `schema.json`: the feature names, kinds and, for the categorical, the
  levels in code order (pandas' category order, which both libraries use
  as codes).
- `reference.json`: rows (named features; missing ones left out) with each
  library's raw margin (`predict(raw_score=True)` / `output_margin=True`)
  and contributions (`pred_contrib=True` / `pred_contribs=True`; the last
  column is the bias).

`tests/api/import.rs` runs this script (with `LEADSCORE_IMPORT_PYTHON`),
imports both models, serves them and compares.

usage: python3 scripts/import_reference.py OUTDIR
"""

import json
import math
import os
import sys

import numpy as np
import pandas as pd

LEVELS = ["free", "starter", "team", "business", "enterprise"]
FEATURES = ["visits", "seats", "score", "plan"]


def leads(n, seed):
    rng = np.random.default_rng(seed)
    visits = rng.gamma(2.0, 3.0, n)
    visits[rng.random(n) < 0.15] = np.nan
    seats = np.floor(rng.exponential(3.0, n))  # many exact zeros
    seats[rng.random(n) < 0.1] = np.nan
    score = rng.normal(0.0, 1.0, n)
    plan_codes = rng.integers(0, len(LEVELS), n)
    plan = pd.Categorical.from_codes(plan_codes, categories=LEVELS)
    plan = pd.Series(plan)
    plan[rng.random(n) < 0.1] = np.nan
    effect = np.array([-1.0, -0.3, 0.4, 0.9, 0.2])[plan_codes]
    z = (
        0.25 * np.nan_to_num(visits, nan=2.0)
        - 0.2 * np.nan_to_num(seats, nan=5.0)
        + 0.8 * score
        + np.where(plan.isna(), -0.5, effect)
        - 1.0
    )
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-z))).astype(int)
    frame = pd.DataFrame({"visits": visits, "seats": seats, "score": score, "plan": plan})
    frame["plan"] = frame["plan"].astype(pd.CategoricalDtype(categories=LEVELS))
    return frame, y


def rows_of(frame):
    rows = []
    for record in frame.to_dict("records"):
        row = {}
        for name in FEATURES:
            value = record[name]
            if isinstance(value, float) and math.isnan(value):
                continue
            if value is None or (not isinstance(value, str) and pd.isna(value)):
                continue
            row[name] = value if isinstance(value, str) else float(value)
        rows.append(row)
    return rows


def train_lightgbm(frame, y, probe, out):
    import lightgbm as lgb

    params = {
        "objective": "binary",
        "num_leaves": 15,
        "learning_rate": 0.1,
        "min_data_in_leaf": 10,
        "min_data_per_group": 10,
        "cat_smooth": 1.0,
        "max_cat_to_onehot": 2,
        "verbose": -1,
        "seed": 7,
        "deterministic": True,
        "num_threads": 1,
    }
    data = lgb.Dataset(frame, label=y, categorical_feature=["plan"])
    booster = lgb.train(params, data, num_boost_round=40)
    booster.save_model(os.path.join(out, "lightgbm.txt"))
    margins = booster.predict(probe, raw_score=True)
    contributions = booster.predict(probe, pred_contrib=True)
    return margins.tolist(), contributions.tolist()


def train_xgboost_dask(frame, y, probe, out):
    import dask.dataframe as dd
    import xgboost as xgb
    import xgboost.dask  # noqa: F401  (not imported by `import xgboost`)
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            X = dd.from_pandas(frame, npartitions=4)
            labels = dd.from_pandas(pd.Series(y, name="converted"), npartitions=4)
            dtrain = xgb.dask.DaskDMatrix(client, X, labels, enable_categorical=True)
            params = {
                "objective": "binary:logistic",
                "tree_method": "hist",
                "max_depth": 4,
                "eta": 0.2,
                "max_cat_to_onehot": 1,
                "seed": 7,
            }
            result = xgb.dask.train(client, params, dtrain, num_boost_round=30)
            booster = result["booster"]
    booster.save_model(os.path.join(out, "xgboost.json"))
    dprobe = xgb.DMatrix(probe, enable_categorical=True)
    margins = booster.predict(dprobe, output_margin=True).astype(np.float64)
    contributions = booster.predict(dprobe, pred_contribs=True).astype(np.float64)
    return margins.tolist(), contributions.tolist()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    frame, y = leads(3000, 19)
    probe, _ = leads(200, 20)
    lgb_margins, lgb_contribs = train_lightgbm(frame, y, probe, out)
    xgb_margins, xgb_contribs = train_xgboost_dask(frame, y, probe, out)
    schema = {
        "features": [
            {"name": "visits", "kind": "numeric"},
            {"name": "seats", "kind": "numeric"},
            {"name": "score", "kind": "numeric"},
            {"name": "plan", "kind": "categorical", "levels": LEVELS},
        ]
    }
    with open(os.path.join(out, "schema.json"), "w") as f:
        json.dump(schema, f, indent=1)
    frame.assign(converted=y).to_csv(os.path.join(out, "sample.csv"), index=False)
    reference = {
        "features": FEATURES,
        "rows": rows_of(probe),
        "lightgbm": {"margins": lgb_margins, "contributions": lgb_contribs},
        "xgboost": {"margins": xgb_margins, "contributions": xgb_contribs},
    }
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(reference, f)


if __name__ == "__main__":
    main()
