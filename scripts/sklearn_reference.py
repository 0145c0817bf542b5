"""Reference values from scikit-learn for tests/api/reference.rs.

Fits scikit-learn's LogisticRegression on exactly the design our trainer
builds for tests/data/reference_leads.csv (numeric columns standardised with
the training mean and population std, booleans as 0/1, one-hot categoricals,
L2 penalty alpha = 1 on the weights, i.e. C = 1, intercept unpenalised), on
the same training rows (tests/data/reference_split.json), and records:
coefficients by design column, intercept, held-out probabilities and
scikit-learn's roc_auc_score / log_loss / brier_score_loss on them.

usage:
  cargo run --example reference_data          # writes the CSV and the split
  pip install scikit-learn pandas
  python3 scripts/sklearn_reference.py        # writes tests/data/sklearn_reference.json
"""
import json
import pathlib

import numpy as np
import pandas as pd
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

DATA = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data"
NUMERIC = ["demo_actions", "visits_30d", "email_opens"]
BOOLEAN = ["report_created"]
CATEGORICAL = ["company_size", "lead_source"]
ALPHA = 1.0


def main():
    df = pd.read_csv(DATA / "reference_leads.csv")
    split = json.loads((DATA / "reference_split.json").read_text())
    test = np.zeros(len(df), dtype=bool)
    test[split["test_rows"]] = True
    train = ~test
    y = df["converted"].to_numpy().astype(int)

    columns, blocks = [], []
    for c in NUMERIC:
        x = df[c].to_numpy(dtype=float)
        mean, std = x[train].mean(), x[train].std()  # population std, as the trainer
        blocks.append(((x - mean) / std)[:, None])
        columns.append(c)
    for c in BOOLEAN:
        blocks.append((df[c] == "Yes").to_numpy(dtype=float)[:, None])
        columns.append(c)
    for c in CATEGORICAL:
        for level in sorted(df.loc[train, c].unique()):
            blocks.append((df[c] == level).to_numpy(dtype=float)[:, None])
            columns.append(f"{c}={level}")
    x = np.hstack(blocks)

    model = LogisticRegression(C=1.0 / ALPHA, tol=1e-12, max_iter=100_000)
    model.fit(x[train], y[train])
    p = model.predict_proba(x[test])[:, 1]
    out = {
        "generated_by": "scripts/sklearn_reference.py",
        "sklearn_version": sklearn.__version__,
        "alpha": ALPHA,
        "intercept": float(model.intercept_[0]),
        "coefficients": {c: float(w) for c, w in zip(columns, model.coef_[0])},
        "test_labels": [int(v) for v in y[test]],
        "test_probabilities": [float(v) for v in p],
        "roc_auc": float(roc_auc_score(y[test], p)),
        "log_loss": float(log_loss(y[test], p)),
        "brier": float(brier_score_loss(y[test], p)),
    }
    (DATA / "sklearn_reference.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {DATA / 'sklearn_reference.json'}: ROC AUC {out['roc_auc']:.6f}, "
          f"log loss {out['log_loss']:.6f}, Brier {out['brier']:.6f}")


if __name__ == "__main__":
    main()
