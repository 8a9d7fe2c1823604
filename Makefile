# Everything runs from a local virtual environment in .venv, created on first use.
#   make lab      open the notebooks in JupyterLab (make lab ARGS=--no-browser on a server)
#   make test     unit tests + every notebook re-run and compared with its saved outputs
#   make notebooks  re-execute all notebooks in place in a fresh kernel (after editing them)
#   make bench    benchmarks/*.py (installs the "bench" extra: grad-cam for comparison)
#   make student  the student edition in student/: solutions stubbed, answers and outputs removed
#   make site     the course website in _build/site (open _build/site/index.html)
#   make explorer the explorer alone as a Voila app on http://127.0.0.1:8866 (PORT=... to change)
#   (student, site, explorer and test install the "course" extra: nbgrader, Sphinx, Voila)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Rebuilt whenever pyproject.toml changes; otherwise a second run installs nothing.
STAMP       := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
COURSE_STAMP := $(VENV)/.installed-course
SITE_DIR    := _build/site
PORT        ?= 8866
KERNEL      := cam-tutorial
ARGS ?=
# Jupyter refuses to start as root (e.g. in a container) unless told to.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)

.PHONY: lab test notebooks bench venv student site explorer

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python ($(KERNEL))"
	touch $@

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install -e ".[dev,bench]"
	touch $@

$(COURSE_STAMP): $(STAMP)
	$(BIN)/python -m pip install -e ".[dev,course]"
	touch $@

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/ $(ROOT_FLAG) $(ARGS)

# One pytest run: tests/*.py as usual, and with --nbval every notebooks/*.ipynb is run
# in a fresh "cam-tutorial" kernel and its outputs compared (strict; the sanitize file
# only masks memory addresses and timings).
# OMP_WAIT_POLICY=PASSIVE: idle PyTorch threads sleep instead of spinning, so the test
# process and the notebook kernel do not steal the 2 cores from each other (results unchanged).
test: $(STAMP) $(COURSE_STAMP)
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest tests notebooks --nbval \
		--nbval-sanitize-with notebooks/nbval_sanitize.cfg \
		--nbval-cell-timeout=600 -p no:cacheprovider $(ARGS)

notebooks: $(STAMP)
	$(BIN)/python tools/run_notebooks.py notebooks/*.ipynb

bench: $(BENCH_STAMP)
	@set -e; found=0; for script in benchmarks/*.py; do \
		[ -e "$$script" ] || continue; found=1; \
		echo "== $$script"; $(BIN)/python $$script; \
	done; [ $$found = 1 ] || { echo "No benchmarks/*.py found."; exit 1; }

student: $(COURSE_STAMP)
	$(BIN)/python tools/student_edition.py --out student

# -W: warnings are errors; the notebooks are not executed (nbval keeps their outputs current).
site: $(COURSE_STAMP)
	$(BIN)/python -m sphinx -W --keep-going -q -b html -c docs/site -d _build/doctrees . $(SITE_DIR)
	@echo "The site is in $(SITE_DIR): open $(SITE_DIR)/index.html"

explorer: $(COURSE_STAMP)
	$(BIN)/voila apps/explorer.ipynb --Voila.ip=127.0.0.1 --port=$(PORT) $(ARGS)
