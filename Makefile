# `make train` and `make test` set everything up on first use (a .venv in this directory).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: train test bench lint clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

train: $(STAMP)
	$(BIN)/energan train --energy autoencoder --loss margin --reg pullaway --name mnist-ebgan-pt

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/energan bench --output bench-results

clean:
	rm -rf $(VENV) runs bench-results .pytest_cache .benchmarks
