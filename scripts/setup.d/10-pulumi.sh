#!/usr/bin/env bash
# make setup step: the Pulumi CLI, Python language host and dynamic-provider launcher in .venv/bin, at the
# version pinned in pyproject.toml (built with Go when missing; a second run builds nothing).
set -euo pipefail
exec bash "$(dirname "$0")/../build-pulumi.sh"
