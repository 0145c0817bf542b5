#!/usr/bin/env python3
"""SHAP values from the `shap` package for the models in tests/data/shap/.

Reads the two artifacts our trainer wrote (`logistic.json`, `gbdt.json`) and
the design rows our pipeline encoded (`design.json`), all written by
`cargo run --example shap_reference_data`, and writes
`tests/data/shap/shap_reference.json` with shap's per-row, per-design-column
values and expected values. `tests/api/shap_reference.rs` compares ours to
them (to 1e-6).

- gbdt: `shap.TreeExplainer` on the trees given in shap's custom tree-dict
  format (a row goes left when `x <= threshold`, as in ours; leaf values are
  raw log-odds; `node_sample_weight` is our `cover`; `base_offset` is our
  `base_score`), `feature_perturbation="tree_path_dependent"`, raw output.
- logistic: `shap.LinearExplainer((coef, intercept), background)` with the
  interventional (independent) masker and a one-row background equal to our
  `design_means`, so E[x] is exactly the artifact's baseline.

With `--time DIR` it instead times shap.TreeExplainer on `DIR/model.json` and
`DIR/design.json` (from `cargo run --release --example shap_reference_data
-- --big DIR`) and prints the per-row time.

usage:
    python3 scripts/shap_reference.py            # creates /tmp/leadscore-shap-venv
    python3 scripts/shap_reference.py --time /tmp/big
"""

import json
import os
import subprocess
import sys
import time

VENV = "/tmp/leadscore-shap-venv"
PINNED = ["shap==0.48.0", "numpy==2.2.6", "scikit-learn==1.6.1"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "shap")


def ensure_venv():
    """Re-runs this script inside a venv with the pinned packages."""
    if os.environ.get("LEADSCORE_SHAP_VENV") == "1":
        return
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(python):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        subprocess.check_call([python, "-m", "pip", "install", "-q", *PINNED])
    env = dict(os.environ, LEADSCORE_SHAP_VENV="1")
    os.execve(python, [python, os.path.abspath(__file__), *sys.argv[1:]], env)


def tree_dict(tree):
    """One of our trees in shap's custom format (node order kept)."""
    import numpy as np

    nodes = tree["nodes"]
    n = len(nodes)
    left = np.full(n, -1, dtype=np.int32)
    right = np.full(n, -1, dtype=np.int32)
    features = np.full(n, -2, dtype=np.int32)
    thresholds = np.zeros(n, dtype=np.float64)
    values = np.zeros((n, 1), dtype=np.float64)
    cover = np.zeros(n, dtype=np.float64)
    for i, node in enumerate(nodes):
        cover[i] = node["cover"]
        if node["kind"] == "split":
            left[i] = node["left"]
            right[i] = node["right"]
            features[i] = node["feature"]
            thresholds[i] = node["threshold"]
        else:
            values[i, 0] = node["value"]
    return {
        "children_left": left,
        "children_right": right,
        # Our rows have no missing values; shap needs a default child anyway.
        "children_default": left.copy(),
        "features": features,
        "thresholds": thresholds,
        "values": values,
        "node_sample_weight": cover,
    }


def tree_explainer(gbdt):
    import shap

    model = {
        "trees": [tree_dict(t) for t in gbdt["trees"]],
        "base_offset": gbdt["base_score"],
        "tree_output": "raw_value",
        "input_dtype": "float64",
        "internal_dtype": "float64",
    }
    return shap.TreeExplainer(
        model, feature_perturbation="tree_path_dependent", model_output="raw"
    )


def reference():
    import numpy as np
    import shap

    design = json.load(open(os.path.join(DATA, "design.json")))
    out = {
        "produced_by": "scripts/shap_reference.py",
        "shap_version": shap.__version__,
        "numpy_version": np.__version__,
        "inputs": {
            "artifacts": ["tests/data/shap/logistic.json", "tests/data/shap/gbdt.json"],
            "rows": "tests/data/shap/rows.csv",
            "design": "tests/data/shap/design.json",
        },
    }

    artifact = json.load(open(os.path.join(DATA, "gbdt.json")))
    x = np.asarray(design["gbdt"], dtype=np.float64)
    explainer = tree_explainer(artifact["estimator"])
    phi = explainer.shap_values(x, check_additivity=False)
    out["gbdt"] = {
        "explainer": "TreeExplainer(feature_perturbation='tree_path_dependent', model_output='raw')",
        "rows": len(x),
        "expected_value": float(np.asarray(explainer.expected_value).reshape(-1)[0]),
        "shap_values": phi.tolist(),
    }

    artifact = json.load(open(os.path.join(DATA, "logistic.json")))
    est = artifact["estimator"]
    coef = np.asarray(est["coefficients"], dtype=np.float64)
    means = np.asarray(artifact["explanation"]["design_means"], dtype=np.float64)
    x = np.asarray(design["logistic"], dtype=np.float64)
    background = means.reshape(1, -1)
    explainer = shap.LinearExplainer(
        (coef, est["intercept"]), shap.maskers.Independent(background, max_samples=1)
    )
    phi = explainer.shap_values(x)
    out["logistic"] = {
        "explainer": "LinearExplainer((coef, intercept), maskers.Independent(design_means))",
        "rows": len(x),
        "expected_value": float(np.asarray(explainer.expected_value).reshape(-1)[0]),
        "shap_values": np.asarray(phi).tolist(),
    }

    path = os.path.join(DATA, "shap_reference.json")
    with open(path, "w") as f:
        json.dump(out, f)
        f.write("\n")
    print(f"wrote {path}")


def timing(directory):
    import numpy as np
    import shap

    artifact = json.load(open(os.path.join(directory, "model.json")))
    x = np.asarray(json.load(open(os.path.join(directory, "design.json")))["gbdt"])
    trees = artifact["estimator"]["trees"]
    leaves = [sum(1 for n in t["nodes"] if n["kind"] == "leaf") for t in trees]
    explainer = tree_explainer(artifact["estimator"])
    print(f"shap {shap.__version__}: {len(trees)} trees, mean {np.mean(leaves):.1f} leaves, "
          f"max depth {explainer.model.max_depth}")
    explainer.shap_values(x[:10], check_additivity=False)  # warm up
    runs = []
    for _ in range(5):
        start = time.perf_counter()
        explainer.shap_values(x, check_additivity=False)
        runs.append((time.perf_counter() - start) / len(x))
    print(f"batch of {len(x)} rows: median {np.median(runs) * 1e6:.1f} µs per row "
          f"(runs: {', '.join(f'{r * 1e6:.1f}' for r in runs)})")
    single = []
    for i in range(200):
        start = time.perf_counter()
        explainer.shap_values(x[i : i + 1], check_additivity=False)
        single.append(time.perf_counter() - start)
    print(f"one row per call: median {np.median(single) * 1e6:.1f} µs per row")


if __name__ == "__main__":
    ensure_venv()
    if len(sys.argv) > 2 and sys.argv[1] == "--time":
        timing(sys.argv[2])
    else:
        reference()
