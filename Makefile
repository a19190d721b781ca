# HallCloud: the README documents every target here.
.PHONY: setup test check unit demo demo-down bench

setup:
	bash scripts/setup.sh

# ruff (lint + format) + mypy + the whole pytest suite (unit and integration), after setup;
# ARGS are handed to pytest: make check ARGS="tests/vdi -k backup -x"
test: setup
	bash scripts/check.sh $(ARGS)

# the checks alone, without running setup first (for a machine already set up)
check:
	bash scripts/check.sh $(ARGS)

# the fast tests alone: no root, no daemons, no guests (about a minute); ARGS as for check
unit:
	bash scripts/unit.sh $(ARGS)

demo: setup
	.venv/bin/hall demo up

demo-down: setup
	.venv/bin/hall demo down

bench: setup
	.venv/bin/python -m benchmarks
