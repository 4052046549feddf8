# The two commands a newcomer needs: `make demo` and `make test`. Both build the virtual environment
# themselves (Python 3.11+, packages from PyPI), so nothing has to be installed by hand first.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test typecheck lint bench clean chromium screenshots node

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/vcv demo $(ARGS)

# The browser tests drive Debian's Chromium (never a browser Playwright downloads). Installed here when it
# is missing and we may (root with apt-get); otherwise those tests skip, and fail under CI.
chromium:
	@[ -x /usr/bin/chromium ] || command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || \
	    { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }; \
	  else echo "no chromium, and no way to install it here: the browser tests will skip (fail under CI)"; fi; }

# JavaScript tools some tests run on loopback (tests/node/package.json, exact versions, lock file): npm ci.
NODE_STAMP := tests/node/node_modules/.installed
$(NODE_STAMP): tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error
	mkdir -p tests/node/node_modules && touch $(NODE_STAMP)

node: $(NODE_STAMP)

test: $(STAMP) chromium $(NODE_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest $(ARGS)

# mypy as configured in pyproject.toml: strict for privacy/ and resolvers/, the default checks elsewhere.
typecheck: $(STAMP)
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(VENV)/bin/python -m bench.run $(ARGS)

screenshots: $(STAMP) chromium
	$(VENV)/bin/python docs/screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache
