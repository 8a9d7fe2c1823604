# Everything runs from a local virtual environment in .venv, created on first use.
#   make lab      open the notebooks in JupyterLab (make lab ARGS=--no-browser on a server)
#   make test     unit tests + every notebook re-run and compared with its saved outputs
#   make lint     ruff (lint and format check), mypy and import-linter (installs the "lint" extra)
#   make test-machines  the notebooks under nbval with other CPUs emulated (VARIANTS="avx2 threads1")
#   make notebooks  re-execute all notebooks in place in a fresh kernel (after editing them)
#   make bench    benchmarks/*.py (installs the "bench" extra: grad-cam for comparison)
#   make test-oldest  the same test in .venv-oldest, on the lowest versions pyproject.toml declares
#   make lock     re-resolve requirements/lock.txt, the exact versions every install into .venv takes
#   make student  the student edition in student/: solutions stubbed, answers and outputs removed (ANSWERS=1: with answers.md)
#   make lab STUDENT=1  the student edition in JupyterLab (rooted at student/, the answers page beside it)
#   make student-site  the student's website in _build/student-site (no solutions, no answers)
#   make student-archive  one zip to hand out: student notebooks, cam_utils wheel, README (ANSWERS=1: with answers.md)
#   make assignments  the nbgrader course in _build/nbgrader; make autograde SUBMISSIONS=DIR grades a folder
#   make site     the course website in _build/site (open _build/site/index.html)
#   make explorer the explorer alone as a Voila app on http://127.0.0.1:8866 (PORT=... to change)
#   (student, site, explorer and test install the "course" extra: nbgrader, Sphinx, Voila; lab and test also the
#   "libraries" extra: Captum, pytorch-grad-cam, torchcam, for notebook 11 and the oracle tests)
#   make wheelhouse  download every wheel `make lab` installs, for a classroom without internet (docs/teaching.md)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Rebuilt whenever pyproject.toml changes; otherwise a second run installs nothing.
STAMP       := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench
COURSE_STAMP := $(VENV)/.installed-course
LINT_STAMP  := $(VENV)/.installed-lint
LIBRARIES_STAMP := $(VENV)/.installed-libraries
# make lab and make test install the "libraries" extra (Captum, pytorch-grad-cam, torchcam: notebook 11 and the
# oracle tests); LIBRARIES= (empty) leaves it out, as make test-oldest does (torchcam needs a newer numpy than the
# oldest set's). tests/conftest.py reads the stamp: where it is, a missing library is an error, not a skip.
LIBRARIES ?= 1
SITE_DIR    := _build/site
PORT        ?= 8866
KERNEL      := cam-tutorial
ARGS ?=
# Jupyter refuses to start as root (e.g. in a container) unless told to.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root)
# The tested environment: every install into $(VENV) (dev and any extra) takes the exact versions of
# requirements/lock.txt as pip constraints. CONSTRAINTS= (empty) installs from pyproject.toml's ranges
# instead, e.g. on a Python other than 3.11, which the lock was resolved for. An extra's step:
#   $(PIP_INSTALL) -e ".[dev,EXTRA]"
CONSTRAINTS := requirements/lock.txt
PIP_INSTALL  = $(BIN)/python -m pip install $(if $(CONSTRAINTS),--constraint $(CONSTRAINTS))

.PHONY: student-site student-archive
.PHONY: lab lint test test-machines notebooks bench venv lock test-oldest student site explorer wheelhouse

venv: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP_INSTALL) -e ".[dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "Python ($(KERNEL))"
	touch $@

$(BENCH_STAMP): $(STAMP)
	$(PIP_INSTALL) -e ".[dev,bench]"
	touch $@

$(COURSE_STAMP): $(STAMP)
	$(PIP_INSTALL) -e ".[dev,course]"
	touch $@

$(LIBRARIES_STAMP): $(STAMP)
	$(PIP_INSTALL) -e ".[dev,libraries]"
	touch $@

$(LINT_STAMP): $(STAMP)
	$(PIP_INSTALL) -e ".[dev,lint]"
	touch $@

# The server's root is this folder (not notebooks/), so that the notebooks' images under docs/ load.
# STUDENT=1: the student edition, built first (with the answers page: ANSWERS= leaves it out), and the server
# rooted at student/, so that no solution is one click away in the file browser.
STUDENT ?=
ANSWERS ?= $(STUDENT)
lab: $(STAMP) $(if $(LIBRARIES),$(LIBRARIES_STAMP)) $(if $(STUDENT),student)
	$(if $(STUDENT),cd student && ../)$(BIN)/jupyter lab $(if $(STUDENT),,notebooks/)01_what_does_the_network_look_at.ipynb $(ROOT_FLAG) $(ARGS)

# The quality gates, each configured in pyproject.toml: ruff's rules ([tool.ruff.lint]) and formatting (a diff of
# what `ruff format` would change fails), mypy on the files [tool.mypy] names, import-linter's layer contracts
# ([tool.importlinter]: the core never imports the course). CI runs it before make test.
LINT_PATHS := cam_utils tests tools benchmarks
lint: $(LINT_STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check --diff $(LINT_PATHS)
	$(BIN)/mypy
	$(BIN)/lint-imports

# One pytest run: tests/*.py as usual, and with --nbval every notebooks/*.ipynb is run
# in a fresh "cam-tutorial" kernel and its outputs compared (strict; the sanitize file
# only masks memory addresses and timings).
# OMP_WAIT_POLICY=PASSIVE: idle PyTorch threads sleep instead of spinning, so the test
# process and the notebook kernel do not steal the 2 cores from each other (results unchanged).
test: $(STAMP) $(COURSE_STAMP) $(if $(LIBRARIES),$(LIBRARIES_STAMP))
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest tests notebooks --nbval \
		--nbval-sanitize-with notebooks/nbval_sanitize.cfg \
		--nbval-cell-timeout=600 -p no:cacheprovider $(ARGS)

# The notebooks under strict nbval with other machines emulated on this one (another SIMD width, another
# thread count): tools/emulate_machines.py --list says what each variant stands for.
VARIANTS ?= avx2 novector threads1 threads4
test-machines: $(STAMP) $(COURSE_STAMP)
	$(BIN)/python tools/emulate_machines.py $(VARIANTS)

notebooks: $(STAMP)
	$(BIN)/python tools/run_notebooks.py notebooks/*.ipynb

bench: $(BENCH_STAMP)
	@set -e; found=0; for script in benchmarks/*.py; do \
		[ -e "$$script" ] || continue; found=1; \
		echo "== $$script"; $(BIN)/python $$script; \
	done; [ $$found = 1 ] || { echo "No benchmarks/*.py found."; exit 1; }

# requirements/lock.txt: pip resolves pyproject.toml's ranges, the dependencies and every extra as one
# consistent set, on Python 3.11 (environment.yml's), and writes each package's exact version; it pins
# environment.yml to the same versions. Re-run it after changing a dependency, after merging branches
# that did, or to move to newer releases; then `make test` reinstalls .venv from the new lock (or
# rm -rf .venv first for an exact copy), `make notebooks` re-executes what prints differently, and
# requirements/lock.txt, environment.yml and the notebooks are committed together.
lock:
	$(PYTHON) tools/lock.py

# The lowest versions pyproject.toml declares (requirements/oldest.txt; tests/test_setup.py checks that
# they are its lower bounds), installed in a second environment and run through the same test.
# Needs Python 3.11, the lowest the project supports (numpy 1.24 has no wheels for newer ones).
OLDEST_VENV := .venv-oldest
test-oldest:
	$(MAKE) test VENV=$(OLDEST_VENV) CONSTRAINTS=requirements/oldest.txt LIBRARIES=

student: $(COURSE_STAMP)
	$(BIN)/python tools/student_edition.py --out student $(if $(ANSWERS),--answers)

# The student's website: the site built from the student edition (docs/site/conf.py, tag "student").
student-site: $(COURSE_STAMP)
	$(BIN)/python -m sphinx -W --keep-going -q -b html -c docs/site -t student -d _build/student-doctrees . _build/student-site
	@echo "The student site is in _build/student-site: open _build/student-site/index.html"

# What an instructor hands out (tools/student_archive.py): _build/cam-tutorial-student.zip.
student-archive: $(COURSE_STAMP)
	$(BIN)/python tools/student_archive.py --out _build/cam-tutorial-student.zip $(if $(ANSWERS),--answers)

# nbgrader (docs/teaching.md, "Grading with nbgrader"; nbgrader_config.py): one assignment per notebook in
# _build/nbgrader, its source written from notebooks/*.ipynb, its release by `nbgrader generate_assignment`.
# make autograde SUBMISSIONS=DIR grades DIR/<student>/<assignment>/<notebook>.ipynb and prints the scores.
.PHONY: assignments autograde
assignments: $(COURSE_STAMP)
	$(BIN)/python tools/nbgrader_course.py release

autograde: $(COURSE_STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "Usage: make autograde SUBMISSIONS=DIR (DIR/<student>/<assignment>/<notebook>.ipynb)"; exit 2; }
	$(BIN)/python tools/nbgrader_course.py autograde --submissions "$(SUBMISSIONS)"

# -W: warnings are errors; the notebooks are not executed (nbval keeps their outputs current).
site: $(COURSE_STAMP)
	$(BIN)/python -m sphinx -W --keep-going -q -b html -c docs/site -d _build/doctrees . $(SITE_DIR)
	@echo "The site is in $(SITE_DIR): open $(SITE_DIR)/index.html"

# apps/jupyter: the app's Voila settings (voila.json) and page template, which make no request outside this computer.
explorer: $(COURSE_STAMP)
	@echo "Presenter mode (large labels, for a projector): http://127.0.0.1:$(PORT)/?presenter=1"
	JUPYTER_PATH="$(CURDIR)/apps/jupyter" JUPYTER_CONFIG_PATH="$(CURDIR)/apps/jupyter" $(BIN)/voila apps/explorer.ipynb --Voila.ip=127.0.0.1 --port=$(PORT) $(ARGS)

# An offline copy of what `make lab`, `make test` and the course targets install (the "dev", "course" and
# "libraries" extras, and setuptools and wheel to build this project and grad-cam), at the versions of the lock: about 3.3 GB, most of it torch's
# CUDA libraries (docs/teaching.md, "A room without internet"). Run it once on a machine with internet and the
# lock's platform (Linux x86-64, Python 3.11); then, offline, each machine installs from it:
#   PIP_NO_INDEX=1 PIP_FIND_LINKS="$PWD/wheelhouse" make lab
# --only-binary: every package is a wheel, so nothing is compiled offline; except grad-cam (pytorch-grad-cam, in the
# "libraries" and "bench" extras), which has only a source archive: pure Python, built offline with the wheelhouse's
# setuptools and wheel.
WHEELHOUSE     ?= wheelhouse
WHEELHOUSE_FOR ?= ".[dev,course,libraries]" "setuptools>=77" wheel
wheelhouse:
	@$(PYTHON) -c 'import platform, sys; sys.exit(None if not "$(CONSTRAINTS)" or (sys.platform, platform.machine(), sys.version_info[:2]) == ("linux", "x86_64", (3, 11)) else "make wheelhouse: the lock is for Python 3.11 on Linux x86-64; run it there (PYTHON=python3.11), or with CONSTRAINTS= for this Python")'
	$(PYTHON) -m pip download --only-binary=:all: --no-binary=grad-cam --dest $(WHEELHOUSE) $(if $(CONSTRAINTS),--constraint $(CONSTRAINTS)) $(WHEELHOUSE_FOR)
