#!/usr/bin/env bash
# The trainer's quality bar (docs/trainer.md, "Quality bar"): leadscore-train
# against scikit-learn LogisticRegression and LightGBM defaults on the two real
# data sets in ../shared/data, plus a fit-time scaling run on synthetic data.
# Prints a table with PASS/FAIL per bar and writes docs/quality.json.
#
# usage: bash scripts/trainer_quality.sh            (from the repository root)
#        bash scripts/trainer_quality.sh suite      all five shared data sets with
#                                                   defaults -> docs/quality.md
#
# Environment:
#   VENV=/tmp/leadscore-quality-venv   virtual environment (created if absent)
#   SHARED_DATA=../shared/data         where the real data sets live
#   XEDU_CSV, LEADFORGE_CSV            override one data set's CSV
#   SCALING_ROWS="100000 1000000"      scaling sizes; SCALING_ROWS= skips scaling
#   SCALING_TIMEOUT=900                seconds before one of our scaling runs is stopped
#   WORK=<temp dir>                    where splits, models and logs go (kept)
#   CARGO_TARGET_DIR                   cargo's target dir (default: cargo's own)
#   QUALITY_JSON=docs/quality.json     where the numbers go
#   ECE_SPLITS=9                       suite: further splits (seeds 1..N) for the ECE spread
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${VENV:-/tmp/leadscore-quality-venv}
SHARED_DATA=${SHARED_DATA:-$ROOT/../shared/data}
export XEDU_CSV=${XEDU_CSV:-$SHARED_DATA/x_education_leads/Leads.csv}
export LEADFORGE_CSV=${LEADFORGE_CSV:-$SHARED_DATA/leadforge/leadforge_converted_within_90_days.csv}
SCALING_ROWS=${SCALING_ROWS-100000 1000000}
SCALING_TIMEOUT=${SCALING_TIMEOUT:-900}
QUALITY_JSON=${QUALITY_JSON:-$ROOT/docs/quality.json}

if [ ! -f "$XEDU_CSV" ] && [ ! -f "$LEADFORGE_CSV" ]; then
    echo "SKIPPED: neither $XEDU_CSV nor $LEADFORGE_CSV exists (the real data lives in ../shared/data)"
    exit 0
fi

# Pinned reference versions (the numbers in docs/quality.json were made with these).
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "numpy==2.4.6" "scipy==1.17.1" "pandas==3.1.1" "scikit-learn==1.9.1" "lightgbm==4.7.0"

if [ "${1:-}" = suite ]; then
    # Every data set in ../shared/data with defaults (issue: the trainer works
    # on the data its users have): docs/quality.md and docs/quality_suite.json.
    cargo build --release --locked --bin leadscore-train
    "$VENV/bin/python" scripts/quality_suite.py \
        --trainer "${CARGO_TARGET_DIR:-$ROOT/target}/release/leadscore-train" \
        --data "$SHARED_DATA" --json "$ROOT/docs/quality_suite.json" --markdown "$ROOT/docs/quality.md" \
        --ece-splits "${ECE_SPLITS:-9}"
    exit 0
fi

cargo build --release --locked --bin leadscore-train --example make_wide
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
TRAINER=$TARGET_DIR/release/leadscore-train
MAKE_WIDE=$TARGET_DIR/release/examples/make_wide

WORK=${WORK:-$(mktemp -d /tmp/leadscore-quality.XXXXXX)}
mkdir -p "$WORK"
echo "work dir: $WORK"

PY="$VENV/bin/python $ROOT/scripts/trainer_quality.py"
$PY datasets --work "$WORK" --trainer "$TRAINER" --xedu "$XEDU_CSV" --leadforge "$LEADFORGE_CSV"
if [ -n "$SCALING_ROWS" ]; then
    # shellcheck disable=SC2086 # a list of sizes
    $PY scaling --work "$WORK/scaling" --trainer "$TRAINER" --make-wide "$MAKE_WIDE" \
        --rows $SCALING_ROWS --features 30 --folds 2 --timeout "$SCALING_TIMEOUT"
    cp "$WORK/scaling/scaling.json" "$WORK/scaling.json"
fi
$PY summarize --work "$WORK" --json "$QUALITY_JSON"
