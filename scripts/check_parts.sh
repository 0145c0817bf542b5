#!/usr/bin/env bash
# The three parts of the crate (docs/architecture.md) as compile-time facts:
# each feature set builds on its own, and its normal dependency tree holds
# none of the crates the part must never import. Run by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# check_build LABEL "FEATURE FLAGS" FORBIDDEN_CRATE...
check_build() {
  local label=$1 flags=$2
  shift 2
  echo "== cargo check $flags ($label)"
  # shellcheck disable=SC2086
  cargo check --locked $flags
  # shellcheck disable=SC2086
  local tree
  tree=$(cargo tree --locked -e normal $flags --prefix none | awk '{print $1}' | sort -u)
  local bad=0
  for crate in "$@"; do
    if grep -qx "$crate" <<<"$tree"; then
      echo "FAIL: the $label build pulls in '$crate'" >&2
      # shellcheck disable=SC2086
      cargo tree --locked -e normal $flags -i "$crate" >&2 || true
      bad=1
    fi
  done
  [ "$bad" = 0 ] || exit 1
  echo "ok: the $label build has none of: $*"
}

check_build "scoring core" "--no-default-features" \
  tonic prost tokio hyper axum linfa linfa-logistic csv parquet indicatif
check_build "trainer" "--no-default-features --features train" \
  tonic prost tokio hyper axum
check_build "server" "--no-default-features --features serve" \
  linfa linfa-logistic csv parquet indicatif
