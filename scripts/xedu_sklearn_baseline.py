"""scikit-learn baseline for the bundled X Education model.

Same columns and split protocol as the bundled model (see models/README.md):
leaky sales-entered columns and ids excluded, "Select" treated as missing,
numeric columns median-imputed and standardised, categoricals one-hot with a
missing level (levels under 10 training rows pooled), L2 LogisticRegression
(C=1), stratified 20% hold-out. Two numeric encodings: "linear" (standardised
only, scikit-learn's usual recipe) and "binned" (standardised plus 10
quantile-bin indicators, as leadscore-train does by default). Prints held-out
ROC AUC per seed and the median over 10 seeds, and the AUC our trainer's
model.json reports when given.

usage: python3 scripts/xedu_sklearn_baseline.py ../shared/data/x_education_leads/Leads.csv [models/xedu/1/model.json]
"""
import json
import sys
import warnings

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline, make_union
from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder, StandardScaler

LEAKY = ["Tags", "Lead Quality", "Lead Profile"]
IDS = ["Prospect ID", "Lead Number"]


def main():
    warnings.filterwarnings("ignore", message="Bins whose width are too small")
    df = pd.read_csv(sys.argv[1], na_values=["Select"])
    y = df.pop("Converted").astype(int)
    drop = IDS + LEAKY + [c for c in df.columns if c.startswith("Asymmetrique")]
    x = df.drop(columns=drop)
    x = x[[c for c in x.columns if x[c].nunique(dropna=True) > 1]]
    numeric = [c for c in x.columns if pd.api.types.is_numeric_dtype(x[c])]
    categorical = [c for c in x.columns if c not in numeric]
    x[categorical] = x[categorical].fillna("(missing)")
    for encoding in ["linear", "binned"]:
        numeric_steps = [SimpleImputer(strategy="median")]
        if encoding == "binned":
            numeric_steps.append(make_union(
                StandardScaler(),
                KBinsDiscretizer(n_bins=10, strategy="quantile", quantile_method="averaged_inverted_cdf"),
            ))
        else:
            numeric_steps.append(StandardScaler())
        pre = ColumnTransformer([
            ("num", make_pipeline(*numeric_steps), numeric),
            ("cat", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=10), categorical),
        ])
        aucs = []
        for seed in range(10):
            xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed)
            model = make_pipeline(pre, LogisticRegression(C=1.0, max_iter=5000))
            model.fit(xtr, ytr)
            p = model.predict_proba(xte)[:, 1]
            aucs.append(roc_auc_score(yte, p))
            print(f"{encoding} seed {seed}: ROC AUC {aucs[-1]:.4f}  log loss {log_loss(yte, p):.4f}  "
                  f"Brier {brier_score_loss(yte, p):.4f}")
        print(f"scikit-learn {encoding}, {len(aucs)} stratified 80/20 splits: ROC AUC median "
              f"{np.median(aucs):.4f}, mean {np.mean(aucs):.4f} +- {np.std(aucs):.4f}")
    if len(sys.argv) > 2:
        with open(sys.argv[2]) as f:
            m = json.load(f)["metrics"]
        print(f"leadscore model.json held-out ROC AUC {m['roc_auc']:.4f}  log loss {m['log_loss']:.4f}  Brier {m['brier']:.4f}")


if __name__ == "__main__":
    main()
