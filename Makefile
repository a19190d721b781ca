# HallCloud: the README documents every target here.
.PHONY: setup test check demo demo-down bench

setup:
	bash scripts/setup.sh

# ruff + mypy + the whole pytest suite (unit and integration), after setup
test: setup
	bash scripts/check.sh

# the checks alone, without running setup first (for a machine already set up)
check:
	bash scripts/check.sh

demo: setup
	.venv/bin/hall demo up

demo-down: setup
	.venv/bin/hall demo down

bench: setup
	.venv/bin/python -m benchmarks
