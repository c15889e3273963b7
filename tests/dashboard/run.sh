#!/usr/bin/env bash
# run.sh [FLAVOUR] - every query of docs/grafana-ringlb.json through a real
# Prometheus scraping real switch processes (a busy and an idle one, the
# FLAVOUR's interpreter and ringlb.so): data, and never NaN (main.go).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tests/lib.sh
use_flavour "${1:-}"
exec go run ./tests/dashboard -so "$so_dir" -lua "$lua_interp"
