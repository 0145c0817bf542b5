"""The trainer's quality bar: leadscore-train against scikit-learn and LightGBM.

Run through `bash scripts/trainer_quality.sh` (which makes the virtual
environment and builds the binaries); this file is the Python side.

Protocol, per data set (x_education, leadforge):
  * read the CSV with pandas, drop ids and leaky columns (listed in DATASETS);
  * train_test_split(stratify=y, test_size=0.2, random_state=0), written as
    train.csv / test.csv (same columns, target included) into a work dir;
  * scikit-learn: ColumnTransformer(median impute + StandardScaler for numeric,
    constant "(missing)" impute + OneHotEncoder(handle_unknown="ignore") for
    categorical) + LogisticRegression(C=1, max_iter=5000);
  * LightGBM: LGBMClassifier(verbose=-1) defaults on the same one-hot design,
    and (extra row) on the raw columns with LightGBM's native categoricals;
  * held-out ROC AUC, log loss, Brier, ECE (10 equal-width bins, weighted by
    bin size as sklearn.calibration.calibration_curve bins them), PR AUC
    (average precision), fit time (median of 3 fits);
  * leadscore-train on train.csv with --test-data test.csv: plain logistic
    (--numeric-bins 0 --calibration none), plain gbdt (--calibration none),
    and the defaults with calibration (logistic with bins, and --model auto,
    both --calibration auto); metrics from report.json.

Scaling: synthetic wide data (examples/make_wide.rs), one scikit-learn / LightGBM
fit on a stratified 80% split, and leadscore-train --folds 2 on the whole file
(which holds out its own 20%).

Subcommands (the shell script calls them):
  datasets   --work DIR [--xedu CSV] [--leadforge CSV]      run the data-set comparison
  scaling    --work DIR --make-wide BIN --rows N [N ...]    run the scaling comparison
  reffit     --data CSV --lib sklearn|lightgbm              one reference fit (scaling helper)
  summarize  --work DIR --json docs/quality.json            table, bars, JSON
All subcommands need --trainer BIN where they run leadscore-train.
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 0
TEST_SIZE = 0.2
REPEATS = 3

DATASETS = {
    "x_education": {
        "env": "XEDU_CSV",
        "default": "/work/shared/data/x_education_leads/Leads.csv",
        "target": "Converted",
        "drop": ["Prospect ID", "Lead Number", "Tags", "Lead Quality", "Lead Profile"],
        "drop_prefix": ["Asymmetrique"],
        "na_values": ["Select"],
        # The leakage guard flags Lead Source ("Welingak Website": 1.5% of
        # rows, 98.6% positive); the source is known when the lead arrives.
        "allow_leaky": ["Lead Source"],
    },
    "leadforge": {
        "env": "LEADFORGE_CSV",
        "default": "/work/shared/data/leadforge/leadforge_converted_within_90_days.csv",
        "target": "converted_within_90_days",
        # ids / bookkeeping: split, account_id, contact_id, lead_id, lead_created_at;
        # leakage_risk=True in feature_dictionary.csv: total_touches_all;
        # opportunity state (an outcome of the sales process, not of the lead):
        # opportunity_created, has_open_opportunity, opportunity_estimated_acv,
        # expected_acv (the opportunity ACV when there is one).
        "drop": [
            "split", "account_id", "contact_id", "lead_id", "lead_created_at",
            "total_touches_all", "opportunity_created", "has_open_opportunity",
            "opportunity_estimated_acv", "expected_acv",
        ],
        "drop_prefix": [],
        "na_values": [],
        "allow_leaky": [],
    },
}

# Our runs per data set: name, extra flags, what it is compared with.
OUR_RUNS = [
    ("ours_logistic_plain", ["--model", "logistic", "--numeric-bins", "0", "--calibration", "none"], "sklearn_logistic"),
    ("ours_gbdt_plain", ["--model", "gbdt", "--calibration", "none"], "lightgbm_onehot"),
    ("ours_logistic_default", ["--model", "logistic", "--calibration", "auto"], None),
    ("ours_auto_default", ["--model", "auto", "--calibration", "auto"], None),
]
CALIBRATED_RUNS = ["ours_logistic_default", "ours_auto_default"]

BARS = {
    "logistic_auc_delta": 0.005,
    "logistic_log_loss_ratio": 1.02,
    "gbdt_auc_delta": 0.01,
    "gbdt_log_loss_ratio": 1.03,
    "calibrated_ece": 0.03,
}


# ---------------------------------------------------------------- metrics

def ece(y, p, bins=10):
    """Expected calibration error: 10 equal-width bins on [0, 1], binned as
    sklearn.calibration.calibration_curve bins them, each bin weighted by its
    share of rows."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ids = np.searchsorted(edges[1:-1], p)
    total = 0.0
    for b in range(bins):
        m = ids == b
        if m.any():
            total += m.sum() * abs(p[m].mean() - y[m].mean())
    return float(total / len(y))


def metric_set(y, p):
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "log_loss": float(log_loss(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "ece": ece(y, p),
        "pr_auc": float(average_precision_score(y, p)),
    }


# ---------------------------------------------------------------- data

def load(name, path):
    spec = DATASETS[name]
    # Read every cell as written (no "Select" -> NaN yet) so train.csv/test.csv
    # carry the original values and our trainer sees its --na-values.
    df = pd.read_csv(path)
    drop = [c for c in df.columns
            if c in spec["drop"] or any(c.startswith(p) for p in spec["drop_prefix"])]
    missing = [c for c in spec["drop"] if c not in df.columns]
    if missing:
        raise SystemExit(f"{name}: columns to drop not found: {missing}")
    df = df.drop(columns=drop)
    y = df[spec["target"]].astype(int).to_numpy()
    return df, y, drop


def design(df, target, na_values):
    """Features for scikit-learn: na_values -> NaN, bools -> 0/1 floats."""
    x = df.drop(columns=[target]).copy()
    for v in na_values:
        x = x.replace(v, np.nan)
    for c in x.columns:
        if pd.api.types.is_bool_dtype(x[c]):
            x[c] = x[c].astype(float)
    numeric = [c for c in x.columns if pd.api.types.is_numeric_dtype(x[c])]
    categorical = [c for c in x.columns if c not in numeric]
    for c in categorical:
        x[c] = x[c].astype(object)
    return x, numeric, categorical


def preprocessor(numeric, categorical):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    return ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
        ("cat", make_pipeline(SimpleImputer(strategy="constant", fill_value="(missing)"),
                              OneHotEncoder(handle_unknown="ignore")), categorical),
    ])


def reference_models(numeric, categorical):
    from lightgbm import LGBMClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    return {
        "sklearn_logistic": lambda: make_pipeline(
            preprocessor(numeric, categorical), LogisticRegression(C=1.0, max_iter=5000)),
        "lightgbm_onehot": lambda: make_pipeline(
            preprocessor(numeric, categorical), LGBMClassifier(verbose=-1, random_state=SEED)),
    }


def native_lgbm_frame(x, categorical, categories=None):
    z = x.copy()
    for c in categorical:
        if categories is None:
            z[c] = pd.Categorical(z[c])
        else:  # a level unseen in training is missing, as handle_unknown="ignore" does
            z[c] = pd.Categorical(z[c].where(z[c].isin(categories[c])), categories=categories[c])
    return z


def timed_fits(make, xtr, ytr, repeats=REPEATS):
    times, model = [], None
    for _ in range(repeats):
        model = make()
        t0 = time.perf_counter()
        model.fit(xtr, ytr)
        times.append(time.perf_counter() - t0)
    return model, times


# ---------------------------------------------------------------- ours

def time_v(cmd, log_path):
    """Runs cmd under /usr/bin/time -v when present. Returns (wall s, peak RSS MiB or None, stdout, stderr)."""
    use_time = Path("/usr/bin/time").exists()
    full = (["/usr/bin/time", "-v"] if use_time else []) + cmd
    t0 = time.perf_counter()
    proc = subprocess.run(full, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    Path(log_path).write_text(
        "$ " + " ".join(cmd) + "\n--- stdout\n" + proc.stdout + "--- stderr\n" + proc.stderr)
    if proc.returncode != 0:
        raise RuntimeError(f"command failed ({proc.returncode}), see {log_path}:\n{proc.stderr[-3000:]}")
    rss = None
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    if m:
        rss = int(m.group(1)) / 1024.0
    return wall, rss, proc.stdout, proc.stderr


def run_ours(trainer, train_csv, test_csv, target, extra, out_dir, na_values, allow_leaky, log_path):
    cmd = [trainer, "--data", str(train_csv), "--target", target, "--out", str(out_dir)]
    if test_csv is not None:
        cmd += ["--test-data", str(test_csv)]
    if na_values:
        cmd += ["--na-values", ",".join(na_values)]
    if allow_leaky:
        cmd += ["--allow-leaky", ",".join(allow_leaky)]
    cmd += extra
    wall, rss, stdout, stderr = time_v(cmd, log_path)
    report = json.loads((Path(out_dir) / "report.json").read_text())
    m = report["test_metrics"]
    final = re.search(r"final (\w+) fit: ([0-9.]+) s", stderr)
    return {
        "command": " ".join(cmd),
        "roc_auc": m["roc_auc"], "log_loss": m["log_loss"], "brier": m["brier"],
        "ece": m["ece"], "pr_auc": m["pr_auc"],
        "model_family": report.get("model_family"),
        "calibration": report.get("calibration", {}).get("method"),
        "model_choice_reason": report.get("model_choice_reason"),
        "total_seconds": wall,
        "peak_rss_mib": rss,
        "cv_fold_fit_seconds": {c["family"]: c["fit_seconds"] for c in report.get("candidates", [])},
        "final_fit_seconds": float(final.group(2)) if final else None,
        "train_rows": report["split"]["train_rows"],
        "test_rows": report["split"]["test_rows"],
        "notices": report.get("notices", []),
    }


# ---------------------------------------------------------------- subcommands

def cmd_datasets(args):
    from sklearn.model_selection import train_test_split
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    paths = {"x_education": args.xedu, "leadforge": args.leadforge}
    results = {}
    for name, spec in DATASETS.items():
        path = paths[name] or os.environ.get(spec["env"]) or spec["default"]
        if not Path(path).exists():
            print(f"SKIPPED {name}: {path} not found")
            results[name] = {"skipped": f"{path} not found"}
            continue
        print(f"== {name}: {path}", flush=True)
        df, y, dropped = load(name, path)
        tr, te = train_test_split(df, test_size=TEST_SIZE, stratify=y, random_state=SEED)
        d = work / name
        d.mkdir(exist_ok=True)
        tr.to_csv(d / "train.csv", index=False)
        te.to_csv(d / "test.csv", index=False)
        x, numeric, categorical = design(df, spec["target"], spec["na_values"])
        xtr, xte = x.loc[tr.index], x.loc[te.index]
        ytr, yte = y[df.index.get_indexer(tr.index)], y[df.index.get_indexer(te.index)]
        res = {
            "file": str(path),
            "rows": int(len(df)), "train_rows": int(len(tr)), "test_rows": int(len(te)),
            "test_positives": int(yte.sum()), "positive_rate": float(y.mean()),
            "dropped_columns": dropped,
            "numeric_columns": numeric, "categorical_columns": categorical,
            "na_values": spec["na_values"], "allow_leaky": spec["allow_leaky"],
            "load_average_at_start": os.getloadavg(),
            "models": {},
        }
        for label, make in reference_models(numeric, categorical).items():
            model, times = timed_fits(make, xtr, ytr)
            p = model.predict_proba(xte)[:, 1]
            res["models"][label] = {**metric_set(yte, p), "fit_seconds": statistics.median(times),
                                    "fit_seconds_all": times}
            print(f"  {label:<24} AUC {res['models'][label]['roc_auc']:.4f}  "
                  f"log loss {res['models'][label]['log_loss']:.4f}  fit {statistics.median(times):.3f} s", flush=True)
        # LightGBM with its own categorical handling (extra row).
        from lightgbm import LGBMClassifier
        cats = {c: sorted(xtr[c].dropna().unique().tolist()) for c in categorical}
        ntr, nte = native_lgbm_frame(xtr, categorical, cats), native_lgbm_frame(xte, categorical, cats)
        model, times = timed_fits(lambda: LGBMClassifier(verbose=-1, random_state=SEED), ntr, ytr)
        p = model.predict_proba(nte)[:, 1]
        res["models"]["lightgbm_native_cat"] = {**metric_set(yte, p), "fit_seconds": statistics.median(times),
                                                "fit_seconds_all": times}
        # LightGBM single-threaded (our trainer uses one core): timing only.
        one = lambda: reference_models(numeric, categorical)["lightgbm_onehot"]().set_params(lgbmclassifier__n_jobs=1)
        _, times = timed_fits(one, xtr, ytr)
        res["lightgbm_onehot_1thread_fit_seconds"] = statistics.median(times)
        for run, extra, _ in OUR_RUNS:
            out = d / run
            r = run_ours(args.trainer, d / "train.csv", d / "test.csv", spec["target"], extra, out,
                         spec["na_values"], spec["allow_leaky"], d / f"{run}.log")
            res["models"][run] = r
            print(f"  {run:<24} AUC {r['roc_auc']:.4f}  log loss {r['log_loss']:.4f}  ECE {r['ece']:.4f}  "
                  f"total {r['total_seconds']:.1f} s  ({r['model_family']}, calibration {r['calibration']})", flush=True)
        results[name] = res
    (work / "datasets.json").write_text(json.dumps(results, indent=2))


def cmd_reffit(args):
    """One reference fit on a stratified 80% split of a wide CSV; prints JSON."""
    from sklearn.model_selection import train_test_split
    t0 = time.perf_counter()
    df = pd.read_csv(args.data)
    load_s = time.perf_counter() - t0
    y = df.pop(args.target).astype(int).to_numpy()
    xtr, xte, ytr, yte = train_test_split(df, y, test_size=TEST_SIZE, stratify=y, random_state=SEED)
    x_cols = list(df.columns)
    if args.lib == "sklearn":
        make = reference_models(x_cols, [])["sklearn_logistic"]
    elif args.lib == "lightgbm":
        make = reference_models(x_cols, [])["lightgbm_onehot"]
    else:  # lightgbm on one thread, as our trainer runs
        make = lambda: reference_models(x_cols, [])["lightgbm_onehot"]().set_params(lgbmclassifier__n_jobs=1)
    model, times = timed_fits(make, xtr, ytr, repeats=1)
    p = model.predict_proba(xte)[:, 1]
    print(json.dumps({"lib": args.lib, "rows": int(len(df)), "train_rows": int(len(xtr)),
                      "load_seconds": load_s, "fit_seconds": times[0], **metric_set(yte, p)}))


def cmd_scaling(args):
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    out = {"features": args.features, "folds": args.folds, "runs": []}
    for n in args.rows:
        csv = work / f"wide_{n}.csv"
        t0 = time.perf_counter()
        subprocess.run([args.make_wide, "--rows", str(n), "--features", str(args.features),
                        "--seed", "1", "--out", str(csv)], check=True)
        gen = time.perf_counter() - t0
        row = {"rows": n, "csv_mib": csv.stat().st_size / 2**20, "generate_seconds": gen,
               "load_average_at_start": os.getloadavg()}
        print(f"== scaling {n} rows x {args.features}: {row['csv_mib']:.0f} MiB", flush=True)
        for lib in ["sklearn", "lightgbm", "lightgbm_1thread"]:
            cmd = [sys.executable, __file__, "reffit", "--data", str(csv), "--lib", lib]
            wall, rss, stdout, _ = time_v(cmd, work / f"ref_{lib}_{n}.log")
            r = json.loads(stdout.strip().splitlines()[-1])
            r["process_seconds"], r["peak_rss_mib"] = wall, rss
            row[lib] = r
            print(f"  {lib:<10} fit {r['fit_seconds']:.1f} s (load {r['load_seconds']:.1f} s)  "
                  f"AUC {r['roc_auc']:.4f}  peak RSS {rss or float('nan'):.0f} MiB", flush=True)
        for family, extra in [("logistic", ["--numeric-bins", "0"]), ("gbdt", [])]:
            cmd_extra = ["--model", family, "--calibration", "none", "--folds", str(args.folds)] + extra
            label = f"ours_{family}"
            try:
                r = run_ours_bounded(args.trainer, csv, "converted", cmd_extra, work / f"{label}_{n}",
                                     work / f"{label}_{n}.log", args.timeout)
            except TimeoutError as e:
                r = {"timeout": str(e)}
                print(f"  {label:<10} TIMEOUT: {e}", flush=True)
            else:
                print(f"  {label:<10} total {r['total_seconds']:.1f} s  per-fold fit "
                      f"{r['cv_fold_fit_seconds'].get(family, float('nan')):.1f} s  final fit "
                      f"{r['final_fit_seconds']} s  AUC {r['roc_auc']:.4f}  peak RSS "
                      f"{r['peak_rss_mib'] or float('nan'):.0f} MiB", flush=True)
            row[label] = r
        out["runs"].append(row)
        if not args.keep:
            csv.unlink()
    (work / "scaling.json").write_text(json.dumps(out, indent=2))


def run_ours_bounded(trainer, csv, target, extra, out_dir, log_path, timeout):
    """run_ours with a wall-clock limit; on timeout the log keeps the stage lines reached."""
    cmd = [trainer, "--data", str(csv), "--target", target, "--out", str(out_dir)] + extra
    use_time = Path("/usr/bin/time").exists()
    full = (["/usr/bin/time", "-v"] if use_time else []) + cmd
    t0 = time.perf_counter()
    with open(log_path, "w") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        proc = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            log.write("--- stdout\n" + stdout + "--- stderr\n" + stderr)
            raise TimeoutError(f"stopped after {timeout} s; stages reached: "
                               + "; ".join(l for l in stderr.splitlines() if ":" in l or "..." in l))
        log.write("--- stdout\n" + stdout + "--- stderr\n" + stderr)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed ({proc.returncode}), see {log_path}")
    rss = None
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    if m:
        rss = int(m.group(1)) / 1024.0
    report = json.loads((Path(out_dir) / "report.json").read_text())
    tm = report["test_metrics"]
    final = re.search(r"final (\w+) fit: ([0-9.]+) s", stderr)
    stages = [l for l in stderr.splitlines() if re.search(r": .*\d", l) and "Maximum" not in l
              and not l.startswith("\t")]
    return {
        "command": " ".join(cmd), "total_seconds": wall, "peak_rss_mib": rss,
        "roc_auc": tm["roc_auc"], "log_loss": tm["log_loss"],
        "cv_fold_fit_seconds": {c["family"]: c["fit_seconds"] for c in report.get("candidates", [])},
        "final_fit_seconds": float(final.group(2)) if final else None,
        "train_rows": report["split"]["train_rows"], "stages": stages,
    }


# ---------------------------------------------------------------- summary

def fmt(v, nd=4):
    return "—" if v is None else f"{v:.{nd}f}"


def cmd_summarize(args):
    work = Path(args.work)
    ds = json.loads((work / "datasets.json").read_text()) if (work / "datasets.json").exists() else {}
    sc = json.loads((work / "scaling.json").read_text()) if (work / "scaling.json").exists() else None
    import lightgbm
    import sklearn
    env = {
        "python": platform.python_version(), "scikit-learn": sklearn.__version__,
        "lightgbm": lightgbm.__version__, "pandas": pd.__version__, "numpy": np.__version__,
        "cpus": os.cpu_count(), "machine": platform.machine(),
        "note": "2 shared cores: other builds ran at the same time; see load_average_at_start",
    }
    bars, lines = [], []
    for name, res in ds.items():
        if "skipped" in res:
            lines.append(f"{name}: SKIPPED ({res['skipped']})")
            continue
        m = res["models"]
        lines.append(f"\n{name}: {res['rows']} rows ({res['train_rows']} train / {res['test_rows']} test, "
                     f"{res['test_positives']} test positives), seed {SEED}")
        lines.append(f"{'model':<24} {'ROC AUC':>8} {'log loss':>9} {'Brier':>7} {'ECE':>7} {'PR AUC':>7} "
                     f"{'fit s':>8} {'total s':>8}")
        for label, r in m.items():
            fit = r.get("fit_seconds")
            if fit is None:
                folds = r.get("cv_fold_fit_seconds", {})
                fit = folds.get(r.get("model_family")) if folds else None
            lines.append(f"{label:<24} {fmt(r['roc_auc']):>8} {fmt(r['log_loss']):>9} {fmt(r['brier']):>7} "
                         f"{fmt(r['ece']):>7} {fmt(r['pr_auc']):>7} {fmt(fit, 3):>8} "
                         f"{fmt(r.get('total_seconds'), 1):>8}")
        sk, lg = m["sklearn_logistic"], m["lightgbm_onehot"]
        ol, og = m["ours_logistic_plain"], m["ours_gbdt_plain"]

        def bar(what, ours, theirs, value, limit, ok):
            bars.append({"dataset": name, "bar": what, "ours": ours, "reference": theirs,
                         "value": value, "limit": limit, "pass": bool(ok)})

        d = ol["roc_auc"] - sk["roc_auc"]
        bar("logistic ROC AUC within 0.005 of scikit-learn", ol["roc_auc"], sk["roc_auc"], d,
            BARS["logistic_auc_delta"], abs(d) <= BARS["logistic_auc_delta"])
        q = ol["log_loss"] / sk["log_loss"]
        bar("logistic log loss within 2% of scikit-learn", ol["log_loss"], sk["log_loss"], q,
            BARS["logistic_log_loss_ratio"], q <= BARS["logistic_log_loss_ratio"])
        d = og["roc_auc"] - lg["roc_auc"]
        bar("gbdt ROC AUC within 0.01 of LightGBM", og["roc_auc"], lg["roc_auc"], d,
            BARS["gbdt_auc_delta"], abs(d) <= BARS["gbdt_auc_delta"])
        q = og["log_loss"] / lg["log_loss"]
        bar("gbdt log loss within 3% of LightGBM", og["log_loss"], lg["log_loss"], q,
            BARS["gbdt_log_loss_ratio"], q <= BARS["gbdt_log_loss_ratio"])
        for run in CALIBRATED_RUNS:
            r = m[run]
            bar(f"{run} ({r['model_family']}, calibration {r['calibration']}) ECE <= 0.03",
                r["ece"], None, r["ece"], BARS["calibrated_ece"], r["ece"] <= BARS["calibrated_ece"])
    lines.append("\nBars (AUC: ours − reference; log loss: ours / reference):")
    for b in bars:
        lines.append(f"  {'PASS' if b['pass'] else 'FAIL'}  {b['dataset']:<12} {b['bar']:<70} "
                     f"value {b['value']:.4f} (limit {b['limit']})")
    if sc:
        lines.append(f"\nScaling: {sc['features']} features, ours with --folds {sc['folds']} "
                     f"(seconds; per-fold fit is on {100 * (1 - TEST_SIZE) * (sc['folds'] - 1) / sc['folds']:.0f}% "
                     f"of rows, final fit and reference fits on 80%)")
        lines.append(f"{'rows':>9} {'sklearn LR':>10} {'LightGBM':>9} {'LGBM 1thr':>9} {'ours LR total':>13} {'fold':>7} {'final':>7} "
                     f"{'ours GBDT total':>15} {'fold':>7} {'final':>7}  peak RSS MiB (sk/lgb/LR/GBDT)")
        for row in sc["runs"]:
            def o(k, f):
                r = row.get(k, {})
                if "timeout" in r:
                    return "timeout"
                if f == "total":
                    return fmt(r.get("total_seconds"), 1)
                if f == "fold":
                    return fmt(r.get("cv_fold_fit_seconds", {}).get(k.split("_")[1]), 1)
                return fmt(r.get("final_fit_seconds"), 1)
            rss = "/".join(f"{(row.get(k, {}).get('peak_rss_mib') or 0):.0f}"
                           for k in ["sklearn", "lightgbm", "ours_logistic", "ours_gbdt"])
            lines.append(f"{row['rows']:>9} {fmt(row['sklearn']['fit_seconds'], 1):>10} "
                         f"{fmt(row['lightgbm']['fit_seconds'], 1):>9} "
                         f"{fmt(row.get('lightgbm_1thread', {}).get('fit_seconds'), 1):>9} {o('ours_logistic', 'total'):>13} "
                         f"{o('ours_logistic', 'fold'):>7} {o('ours_logistic', 'final'):>7} "
                         f"{o('ours_gbdt', 'total'):>15} {o('ours_gbdt', 'fold'):>7} {o('ours_gbdt', 'final'):>7}  {rss}")
    text = "\n".join(lines)
    print(text)
    all_pass = all(b["pass"] for b in bars)
    print(f"\nquality bar: {'PASS' if all_pass else 'FAIL'} ({sum(b['pass'] for b in bars)}/{len(bars)} bars)")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "generated_by": "bash scripts/trainer_quality.sh",
            "protocol": {"split": "train_test_split(stratify=y, test_size=0.2, random_state=0)",
                         "fit_seconds": "reference: median of 3 fits (pipeline incl. preprocessing); "
                                        "ours: mean per-fold fit of the 5-fold CV (report.json candidates[].fit_seconds)",
                         "ece": "10 equal-width bins, weighted by rows"},
            "environment": env, "bars_limits": BARS, "datasets": ds, "bars": bars,
            "all_pass": all_pass, "scaling": sc,
        }, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("datasets")
    a.add_argument("--work", required=True)
    a.add_argument("--trainer", required=True)
    a.add_argument("--xedu")
    a.add_argument("--leadforge")
    a = sub.add_parser("scaling")
    a.add_argument("--work", required=True)
    a.add_argument("--trainer", required=True)
    a.add_argument("--make-wide", required=True)
    a.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    a.add_argument("--features", type=int, default=30)
    a.add_argument("--folds", type=int, default=2)
    a.add_argument("--timeout", type=float, default=900)
    a.add_argument("--keep", action="store_true")
    a = sub.add_parser("reffit")
    a.add_argument("--data", required=True)
    a.add_argument("--target", default="converted")
    a.add_argument("--lib", choices=["sklearn", "lightgbm", "lightgbm_1thread"], required=True)
    a = sub.add_parser("summarize")
    a.add_argument("--work", required=True)
    a.add_argument("--json")
    args = ap.parse_args()
    return {"datasets": cmd_datasets, "scaling": cmd_scaling, "reffit": cmd_reffit,
            "summarize": cmd_summarize}[args.cmd](args) or 0


if __name__ == "__main__":
    sys.exit(main())
