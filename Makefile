# Set-up is two commands on a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test setup bytecode graphviz chromium tex editors bench diagrams fuzz clean parser

setup: $(STAMP) bytecode graphviz chromium tex editors/vscode/node_modules/.package-lock.json

# the package's bytecode, as installing a wheel writes it: an editable install leaves it to
# Python, which writes none where PYTHONDONTWRITEBYTECODE is set, and then compiles the
# generated parser (240 KB) again in every run, 100 ms of each `archlang` command
bytecode: $(STAMP)
	@$(PY) -m compileall -q archlang >/dev/null

# torch first and pinned: 2.13.0 is the CPU build cached on these machines, so the
# project's own range is then satisfied without pulling a multi-gigabyte CUDA build
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[all,test]'
	touch $(STAMP)

graphviz:
	@command -v dot >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Graphviz (dot) with apt-get"; \
	    (apt-get install -y -qq graphviz >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null && apt-get install -y -qq graphviz >/dev/null)) || \
	    echo "could not install Graphviz; install it with: sudo apt-get install graphviz"; \
	  else \
	    echo "Graphviz's dot is missing; install it with: sudo apt-get install graphviz"; \
	  fi; }

# Debian's chromium, which the playground's browser tests drive headless (Playwright is told
# its path; nothing downloads a browser of its own)
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Chromium with apt-get"; \
	    (apt-get install -y -qq chromium >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null)) || \
	    echo "could not install Chromium; install it with: sudo apt-get install chromium"; \
	  else \
	    echo "Chromium is missing; install it with: sudo apt-get install chromium"; \
	  fi; }

# pdflatex with TikZ and the standalone class, which tests/test_tikz.py compiles render's .tex
# with (Debian's texlive, without its recommendations: no Java)
tex:
	@command -v pdflatex >/dev/null 2>&1 && kpsewhich standalone.cls tikz.sty >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing TeX Live (pdflatex, TikZ, standalone) with apt-get"; \
	    (apt-get install -y -qq --no-install-recommends texlive-latex-extra texlive-pictures >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends texlive-latex-extra \
	      texlive-pictures >/dev/null)) || \
	    echo "could not install TeX Live; install it with: sudo apt-get install texlive-latex-extra texlive-pictures"; \
	  else \
	    echo "pdflatex is missing; install it with: sudo apt-get install texlive-latex-extra texlive-pictures"; \
	  fi; }

# the VS Code extension's locked tooling: vscode-textmate for tests/test_editors.py, vsce to
# package it (npm ci, from npm's cache once fetched: about 13 s); --ignore-scripts: no native
# build of vsce's optional keytar
editors/vscode/node_modules/.package-lock.json: editors/vscode/package-lock.json
	cd editors/vscode && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error

# editors/vscode/dist/archlang-<version>.vsix (vsce package: about 2 s); make test builds it,
# so the packaging cannot rot
editors: editors/vscode/node_modules/.package-lock.json
	sh editors/vscode/build.sh --no-ci

demo: setup
	$(VENV)/bin/archlang list
	$(VENV)/bin/archlang check lenet5
	$(VENV)/bin/archlang check resnet50 | tail -n 5
	$(VENV)/bin/archlang explain gpt2 --layer gpt1.gpt_block1.attention1
	$(VENV)/bin/archlang solve lenet_ksp
	$(VENV)/bin/archlang render resnet50 --collapse --fold -o resnet50.svg

test: setup editors
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/startup.py
	$(PY) bench/check_speed.py
	$(PY) bench/worst_inputs.py
	$(PY) bench/torch_speed.py
	$(PY) bench/onnx_speed.py
	$(PY) bench/zoo_speed.py
	$(PY) bench/solve_speed.py
	$(PY) bench/sizes_speed.py
	$(PY) bench/transformer_speed.py
	$(PY) bench/import_speed.py
	$(PY) bench/import_roundtrip.py
	$(PY) bench/costs_speed.py
	$(PY) bench/lsp_speed.py

# many more generated and mutated specs than CI runs (tests/conftest.py: the "fuzz" profile)
fuzz: setup
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q tests/test_robustness.py

diagrams: setup
	$(PY) docs/make_diagrams.py svg dot

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache editors/vscode/node_modules editors/vscode/dist

# archlang/_parse_tables.py (lark's LALR tables and lexer patterns, which archlang/lalr.py runs)
# and archlang/_parser_standalone.py (lark's standalone parser with the same tables, which `lex`
# runs), after an edit of grammars/arch.lark; the same grammar gives the same bytes, which
# tests/test_parser.py checks
parser: setup
	$(PY) -m archlang.parser_build
