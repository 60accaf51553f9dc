# Every target creates .venv if missing and installs the package with the pinned set.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs
PYTEST := $(PY) -m pytest -q -p no:cacheprovider
# The fast suite runs in $(JOBS) worker processes (pytest-xdist), a test file per worker at a
# time (--dist loadfile: a file's module fixtures, corpora and servers are built once): on
# 2 cores the TensorFlow half took 503 s against 898 s in one process. JOBS=0: one process.
JOBS   ?= 2
PARALLEL := -n $(JOBS) --dist loadfile
# setuptools prints an informational "Editable installation" notice for every editable
# install of a flat layout (each of its editable modes prints one); it is for package
# authors, not for someone running make, so the install is asked not to show it.
QUIET_EDITABLE := PYTHONWARNINGS="ignore:Editable installation:UserWarning"
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install lint test test-jax test-slow demo bench docs clean

install: $(STAMP)

$(STAMP): constraints.txt setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(QUIET_EDITABLE) $(PY) -m pip install -q -c constraints.txt -e '.[all,test]'
	touch $(STAMP)

# The test command of the README and of CI: the fast suite on TensorFlow, then the
# backend-agnostic layer/model/loss tests again on JAX.
test: lint
	$(PYTEST) $(PARALLEL) -m "not slow" tests
	KERAS_BACKEND=jax $(PYTEST) $(PARALLEL) -m "backend_agnostic and not slow" tests

# ruff (rules in pyproject.toml) on the whole tree: lint, then the formatter's check; then the
# layer contracts of .importlinter (docs/architecture.md).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-logo --no-cache

test-jax: $(STAMP)
	KERAS_BACKEND=jax $(PYTEST) -m "backend_agnostic" tests

test-slow: $(DOCS_STAMP)
	$(PYTEST) -m slow tests

# The documentation site (mkdocs.yml): guides, the API reference from the docstrings
# (mkdocstrings), the measurement logs; strict, so a warning fails the build.
docs: $(DOCS_STAMP)
	$(VENV)/bin/mkdocs build --strict --quiet

$(DOCS_STAMP): $(STAMP)
	$(QUIET_EDITABLE) $(PY) -m pip install -q -c constraints.txt -e '.[docs]'
	touch $(DOCS_STAMP)

demo: $(STAMP)
	$(VENV)/bin/semser demo --out demo_out

bench: $(STAMP)
	$(PY) benchmarks/train_step.py --variant attention --batch 5 --sequence-length 300 --reference

clean:
	rm -rf $(VENV) demo_out .pytest_cache site
