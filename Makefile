# The two entry points of the README. Each sets up what it needs first.
.PHONY: setup compare test lint

setup:
	./scripts/setup.sh

compare: setup
	.venv/bin/transferlab compare

test: setup
	.venv/bin/ruff check src tests bench
	./scripts/setup-test-deps.sh
	.venv/bin/python -m pytest -q

lint: setup
	.venv/bin/ruff check src tests bench
