# gup-audit: two entry points (README Quick start).
#   make audit [KERNEL=path/to/linux]   set up .venv, install, audit the tree (default: Debian's linux-source-6.1)
#   make test                           set up .venv with test extras and run the tests
PYTHON ?= python3
VENV   ?= .venv
CACHE  ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/gup-audit
DEFAULT_TREE := $(CACHE)/linux-source-6.1
KERNEL ?=
FORMAT ?= pretty

.PHONY: audit test venv bench default-tree clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

default-tree:
	@if [ ! -f "$(DEFAULT_TREE)/Makefile" ]; then \
	  if [ ! -f /usr/src/linux-source-6.1.tar.xz ]; then \
	    echo "installing Debian's linux-source-6.1 ..."; \
	    (apt-get update -qq && apt-get install -y -qq linux-source-6.1) >/dev/null || \
	      { echo "make audit: cannot install linux-source-6.1; give KERNEL=path/to/linux"; exit 2; }; \
	  fi; \
	  echo "extracting /usr/src/linux-source-6.1.tar.xz into $(CACHE) ..."; \
	  mkdir -p "$(CACHE)" && tar xJf /usr/src/linux-source-6.1.tar.xz -C "$(CACHE)"; \
	fi

# audit exits 1 when it reports findings: that is the expected outcome here, not a make error.
ifeq ($(KERNEL),)
audit: venv default-tree
	$(VENV)/bin/audit "$(DEFAULT_TREE)" --format $(FORMAT) || [ $$? -eq 1 ]
else
audit: venv
	$(VENV)/bin/audit "$(KERNEL)" --format $(FORMAT) || [ $$? -eq 1 ]
endif

test: venv
	$(VENV)/bin/python -m pytest -q

bench: venv
	$(VENV)/bin/python bench/bench.py $(if $(KERNEL),$(KERNEL),$(DEFAULT_TREE))

clean:
	rm -rf $(VENV) build dist *.egg-info
