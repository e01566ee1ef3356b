# `make train` and `make test` set everything up on first use (a .venv in this directory).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: train test bench lint clean fuzz

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e '.[dev]'
	touch $(STAMP)

# A second `make train` continues runs/$(NAME) (an interrupted run resumes, a finished one stays);
# `make train NAME=other` trains another.
NAME ?= mnist-ebgan-pt
train: $(STAMP)
	@if [ -f runs/$(NAME)/config.toml ]; then \
	  echo "make train: runs/$(NAME) exists, continuing it (make train NAME=other trains a new run)"; \
	  $(BIN)/energan train --resume runs/$(NAME); \
	else \
	  $(BIN)/energan train --energy autoencoder --loss margin --reg pullaway --name $(NAME); \
	fi

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/energan bench --output bench-results

clean:
	rm -rf $(VENV) runs bench-results .pytest_cache .benchmarks

fuzz: $(STAMP)  # the CLI fuzz tests (tests/test_fuzz.py) with 40 times the examples of make test's profile
	ENERGAN_FUZZ_EXAMPLES=600 $(BIN)/python -m pytest tests/test_fuzz.py -p no:warnings
