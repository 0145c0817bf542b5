"""Reference values from scikit-learn for tests/api/calibration_reference.rs.

Generates a deterministic data set (numpy's seeded PCG64 generator): 400
log-odds z (rounded to 2 decimals so that tied scores occur, as they do for
real leads), labels drawn from a miscalibrated truth, per-row weights (some
zero), and probabilities sigmoid(z) with a few placed exactly on bin edges.
It records, next to those inputs (so the Rust test needs no Python):

- average_precision_score(y, z)
- roc_curve(y, z, drop_intermediate=False), precision_recall_curve(y, z)
- calibration_curve(y, p, n_bins=10, strategy="uniform") with bin counts, and
  the expected calibration error computed from those bins with numpy
  (scikit-learn has no ECE function)
- IsotonicRegression(out_of_bounds="clip"), increasing, unweighted and
  weighted: its knots (X_thresholds_, y_thresholds_) and predict(grid)
- sklearn.calibration._sigmoid_calibration(z, y), unweighted and weighted:
  (a, b) and expit(-(a * grid + b))
- beta calibration (Kull, Silva Filho and Flach 2017) as our fit_beta defines
  it: an unpenalised LogisticRegression (Newton-Cholesky) of Platt's smoothed
  targets on the columns ln(s) and -ln(1 - s), s = expit(z) (each row twice,
  as a positive weighted t and a negative weighted 1 - t), unweighted and
  weighted; and, on labels drawn from a truth that is flat for z > 0, the
  fit with b < 0 refitted on the ln(s) column alone (the constraint b >= 0)

usage:
  python3 -m venv /tmp/skvenv && /tmp/skvenv/bin/pip install scikit-learn numpy
  /tmp/skvenv/bin/python scripts/calibration_reference.py
      # writes tests/data/calibration_reference.json
"""
import json
import pathlib

import numpy as np
import sklearn
from scipy.special import expit
from sklearn.calibration import _sigmoid_calibration, calibration_curve
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_curve

DATA = pathlib.Path(__file__).resolve().parent.parent / "tests" / "data"
ROWS = 400
BINS = 10
SEED = 20240611


def main():
    rng = np.random.default_rng(SEED)
    # The model's log-odds, rounded so that ties occur.
    z = np.round(rng.normal(-0.8, 1.6, ROWS), 2)
    # Truth is a steeper, shifted logistic: the raw z is miscalibrated, so
    # both calibrators have something to correct.
    y = rng.random(ROWS) < expit(1.7 * z + 0.4)
    # Weights in [0.5, 2) with every 25th row weighted zero (scikit-learn's
    # isotonic fit drops those rows; Platt counts them as nothing).
    w = rng.uniform(0.5, 2.0, ROWS)
    w[::25] = 0.0
    # Probabilities for the reliability numbers; a few exactly on edges to
    # pin the bin rule ((lower, upper], first bin closed).
    p = expit(z)
    p[:6] = [0.0, 0.1, 0.2, 0.5, 0.9, 1.0]

    grid = np.linspace(z.min() - 1.0, z.max() + 1.0, 201)

    fpr, tpr, _ = roc_curve(y, z, drop_intermediate=False)
    precision, recall, _ = precision_recall_curve(y, z)
    prob_true, prob_pred = calibration_curve(y, p, n_bins=BINS, strategy="uniform")
    edges = np.linspace(0.0, 1.0, BINS + 1)
    binids = np.searchsorted(edges[1:-1], p)
    counts = np.bincount(binids, minlength=BINS)
    nonempty = counts[counts > 0]
    ece = float(np.sum(nonempty / ROWS * np.abs(prob_pred - prob_true)))

    def isotonic(weights):
        model = IsotonicRegression(out_of_bounds="clip").fit(z, y, sample_weight=weights)
        return {
            "knots_log_odds": model.X_thresholds_.tolist(),
            "knots_probabilities": model.y_thresholds_.tolist(),
            "grid_predictions": model.predict(grid).tolist(),
            "data_predictions": model.predict(z).tolist(),
        }

    def platt(weights):
        a, b = _sigmoid_calibration(z, y, sample_weight=weights)
        return {
            "a": float(a),
            "b": float(b),
            "grid_predictions": expit(-(a * grid + b)).tolist(),
        }

    # Drawn after everything above, so the earlier inputs stay as they were:
    # labels whose truth rises for z < 0 and is flat above, so the
    # unconstrained beta fit wants a negative high-tail weight b.
    y_flat = rng.random(ROWS) < expit(np.where(z < 0, 2.5 * z + 0.8, 0.8 - 0.6 * z))

    def beta(labels, weights, columns=(0, 1)):
        weights = np.ones(ROWS) if weights is None else weights
        n1, n0 = weights[labels].sum(), weights[~labels].sum()
        t = np.where(labels, (n1 + 1) / (n1 + 2), 1 / (n0 + 2))
        features = np.column_stack([-np.logaddexp(0, -z), np.logaddexp(0, z)])[:, list(columns)]
        x2 = np.vstack([features, features])
        y2 = np.concatenate([np.ones(ROWS), np.zeros(ROWS)])
        w2 = np.concatenate([weights * t, weights * (1 - t)])
        keep = w2 > 0
        model = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-14, max_iter=1000)
        model.fit(x2[keep], y2[keep], sample_weight=w2[keep])
        coef = np.zeros(2)
        coef[list(columns)] = model.coef_[0]
        a, b, c = float(coef[0]), float(coef[1]), float(model.intercept_[0])
        u = a * -np.logaddexp(0, -grid) + b * np.logaddexp(0, grid) + c
        return {"a": a, "b": b, "c": c, "grid_predictions": expit(u).tolist()}

    unconstrained = beta(y_flat, None)
    assert unconstrained["b"] < 0, unconstrained
    beta_face = beta(y_flat, None, columns=(0,))

    out = {
        "generated_by": "scripts/calibration_reference.py",
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "seed": SEED,
        "inputs": {
            "log_odds": z.tolist(),
            "labels": y.astype(int).tolist(),
            "weights": w.tolist(),
            "probabilities": p.tolist(),
            "grid": grid.tolist(),
            "bins": BINS,
        },
        "average_precision": float(average_precision_score(y, z)),
        "roc_curve": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
        "pr_curve": {"recall": recall.tolist(), "precision": precision.tolist()},
        "calibration_curve": {
            "prob_true": prob_true.tolist(),
            "prob_pred": prob_pred.tolist(),
            "counts": nonempty.tolist(),
            "ece": ece,
        },
        "isotonic": isotonic(None),
        "isotonic_weighted": isotonic(w),
        "platt": platt(None),
        "platt_weighted": platt(w),
        "beta": beta(y, None),
        "beta_weighted": beta(y, w),
        "beta_face": {**beta_face, "labels": y_flat.astype(int).tolist(),
                      "unconstrained_b": unconstrained["b"]},
    }
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / "calibration_reference.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
