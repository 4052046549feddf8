# The two commands a newcomer needs: `make demo` and `make test`. Both build the virtual environment
# themselves (Python 3.11+, packages from PyPI), so nothing has to be installed by hand first.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test typecheck lint bench bench-peers clean chromium screenshots node graphiql lock

# Every package, transitive ones included, comes from requirements.lock at the exact version and hash recorded
# there; the project itself is then installed without resolving anything (--no-deps).
LOCK := requirements.lock
PIP_VERSION := 26.3
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet pip==$(PIP_VERSION)
	$(VENV)/bin/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# After changing a dependency in pyproject.toml: re-resolve everything into requirements.lock (needs PyPI; a
# few minutes), review the diff, commit both files. pip-tools runs in a throw-away venv, pinned.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet pip==$(PIP_VERSION) pip-tools==7.6.2
	.lock-venv/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --extra dev \
	  --no-emit-index-url --no-emit-find-links --output-file $(LOCK) pyproject.toml
	rm -rf .lock-venv

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

# GraphiQL's built files, served by the gateway from gateway/ide/ (committed, so neither `make demo` nor an
# installed wheel needs npm or a CDN). Versions are pinned in tools/graphiql/package.json and its lock file;
# to move to another version: `cd tools/graphiql && npm install --save-exact graphiql@X`, then `make graphiql`
# and commit gateway/ide/.
IDE := gateway/ide
graphiql:
	cd tools/graphiql && npm ci --no-audit --no-fund --loglevel=error
	cp tools/graphiql/node_modules/graphiql/graphiql.min.js tools/graphiql/node_modules/graphiql/graphiql.min.css \
	   tools/graphiql/node_modules/react/umd/react.production.min.js \
	   tools/graphiql/node_modules/react-dom/umd/react-dom.production.min.js $(IDE)/
	cd tools/graphiql/node_modules && for p in graphiql react react-dom; do \
	  printf '%s %s\n\n' $$p "$$(node -p "require('./$$p/package.json').version")"; cat $$p/LICENSE; echo; \
	done > ../../../$(IDE)/THIRD-PARTY-LICENSES.txt

test: $(STAMP) chromium $(NODE_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest $(ARGS)

# mypy as configured in pyproject.toml: strict for privacy/ and resolvers/, the default checks elsewhere.
typecheck: $(STAMP)
	$(VENV)/bin/mypy

bench: $(STAMP)
	$(VENV)/bin/python -m bench.run $(ARGS)

# vcv beside Apollo Gateway and Hive Gateway over the same subgraphs (bench/peers/package.json, exact versions,
# lock file): npm ci there, then the driver writes the Peers section of bench/RESULTS.md.
PEERS_STAMP := bench/peers/node_modules/.installed
$(PEERS_STAMP): bench/peers/package.json bench/peers/package-lock.json
	cd bench/peers && npm ci --no-audit --no-fund --loglevel=error
	touch $(PEERS_STAMP)

bench-peers: $(STAMP) $(PEERS_STAMP)
	$(VENV)/bin/python -m bench.peers $(ARGS)

screenshots: $(STAMP) chromium
	$(VENV)/bin/python docs/screenshots.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache
