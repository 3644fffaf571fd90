# Two commands do everything: `make run` (Penny on the embedded defaults) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TURN_MODEL := $(VENV)/share/penny/smart-turn-v3.2-cpu.onnx
RUN_PKGS := espeak-ng libportaudio2 libsndfile1
# The benchmarks' real human speech comes from Debian: pocketsphinx test data, Asterisk prompts, ALSA's test voice.
# strace: tests/test_privacy.py checks every connect() of `penny run-file` and `penny serve` goes to loopback.
TEST_PKGS := $(RUN_PKGS) sox chromium chromium-driver pocketsphinx-testdata asterisk-core-sounds-en-wav alsa-utils \
	strace

# llama.cpp (the embedded LLM) is built for any x86-64 with AVX2, not -march=native: a VM here reported AMX
# that it would not let a program use (ggml's AMX matmul faulted at ldtilecfg), and pip's cache would hand a
# wheel built natively on one machine to another. No cache, so the wheel is built with these flags.
LLAMA_CMAKE := -DGGML_NATIVE=OFF

.PHONY: run test setup setup-dev bench lock clean

run: setup
	$(BIN)/penny serve

test: setup-dev
	$(BIN)/mypy
	$(BIN)/python -m pytest -q

bench: setup-dev
	$(BIN)/penny bench --quick

setup: $(VENV)/.installed $(TURN_MODEL)
setup-dev: $(VENV)/.installed-dev $(TURN_MODEL)

$(VENV)/.installed: requirements.txt pyproject.toml
	@bash scripts/system-deps.sh $(RUN_PKGS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	CMAKE_ARGS="$(LLAMA_CMAKE)" $(BIN)/python -m pip install --no-cache-dir -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m penny.adapters.turn.provision
	touch $@

# Smart Turn (end of turn); also for a venv installed before it existed. Quiet when present.
$(TURN_MODEL): | $(VENV)/.installed
	$(BIN)/python -m penny.adapters.turn.provision

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	@bash scripts/system-deps.sh $(TEST_PKGS)
	$(BIN)/python -m pip install -r requirements-dev.txt
	touch $@

# Re-pin after editing requirements*.in.
lock:
	$(BIN)/pip-compile -q --strip-extras -o requirements.txt requirements.in
	$(BIN)/pip-compile -q --strip-extras -o requirements-dev.txt requirements-dev.in

clean:
	rm -rf $(VENV) build *.egg-info
