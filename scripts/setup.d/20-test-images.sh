#!/usr/bin/env bash
# make setup step: build the tiny test images (x86_64, aarch64, loongarch64) from Debian packages and
# install the LoongArch UEFI firmware with its QEMU descriptor in /etc/qemu/firmware.
# Everything is cached under ~/.cache/hallcloud (about 220 MB of .debs on the first run, about a
# minute); a second run reads the cache and finishes in about a second.
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/python -m images.testimage.cli --all --firmware-descriptor
