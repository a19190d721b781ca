#!/usr/bin/env bash
# Provide the Pulumi CLI, its Python language host and the dynamic-provider launcher in .venv/bin, at the
# version of the `pulumi` Python SDK pinned in pyproject.toml:
#
#   .venv/libexec/hallcloud/pulumi          the CLI (engine), built from github.com/pulumi/pulumi/pkg/v3
#   .venv/bin/pulumi                        a wrapper of it with HallCloud's defaults (see "The wrapper")
#   .venv/bin/pulumi-language-python        the Python language host (see "Why sdk/v3 v3.79.0" below)
#   .venv/bin/pulumi-language-python-exec   the script the host runs programs with, from sdk/v3 at the pin
#   .venv/bin/pulumi-resource-pulumi-python our launcher of `python -m pulumi.dynamic` (dynamic providers)
#
# No Python package carries the CLI (it is a Go program) and get.pulumi.com is not reachable from the
# hall's machines, but the Go module proxy is: so we build from source with `go build`, from the small
# build modules in scripts/pulumi-build/ (pkg/v3's go.mod replaces sdk/v3 with a relative path, which
# makes `go install pkg@version` refuse it; a module of ours that requires it does not). Their go.sum
# pins every dependency's hash. A CLI of the right version already on PATH is used instead of building.
#
# Why sdk/v3 v3.79.0 for the language host: since 3.80 the host is its own module,
# github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3, which the Go module proxy refuses
# (403 at every version). Up to v3.79.0 it was the package python/cmd/pulumi-language-python inside the
# github.com/pulumi/pulumi/sdk/v3 module, which the proxy serves. The engine starts a language host with
# only its own address as argument and falls back for RPCs the old host does not implement
# (codes.Unimplemented), so the old host works with the newer engine: tests/infra/test_pulumi_engine.py
# runs preview/up/refresh/destroy through it. The old host does not receive Pulumi.yaml's `virtualenv`
# option (newer engines no longer pass it as a flag) and runs `$PULUMI_PYTHON_CMD` or `python3` from PATH
# instead, so run the CLI with .venv/bin first on PATH (infra/pulumi_env.py does). The program itself is
# run by pulumi-language-python-exec taken from sdk/v3 at the pinned version, in step with the SDK.
#
# Usage: scripts/build-pulumi.sh          build what is missing or of the wrong version (idempotent)
#        scripts/build-pulumi.sh --bump   after changing the pin in pyproject.toml: move the build
#                                         module to that version (go get + go mod tidy), then build
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.venv/bin
REAL_DIR=$ROOT/.venv/libexec/hallcloud
REAL=$REAL_DIR/pulumi
CLI_MOD=$ROOT/scripts/pulumi-build/cli
HOST_MOD=$ROOT/scripts/pulumi-build/language-python
HOST_SDK_VERSION=v3.79.0  # the last sdk/v3 that contains the Python language host (see above)
log() { printf '[pulumi] %s\n' "$*"; }
die() { printf '[pulumi] error: %s\n' "$*" >&2; exit 1; }

bump=0
case "${1:-}" in
    "") ;;
    --bump) bump=1 ;;
    *) die "unknown argument '$1'; usage: $0 [--bump]" ;;
esac

[ -x "$BIN/python" ] || die "$BIN/python is missing; run make setup (it creates .venv first)"

# The pin: `"pulumi==X.Y.Z"` in pyproject.toml's dependencies.
PIN=$(sed -n 's/^[[:space:]]*"pulumi==\([0-9][0-9.]*\)".*/\1/p' pyproject.toml | head -n1)
[ -n "$PIN" ] || die "pyproject.toml pins no exact pulumi version (expected a line '\"pulumi==X.Y.Z\",')"
VERSION=v$PIN
VERSION_PKG=github.com/pulumi/pulumi/sdk/v3/go/common/version.Version

cli_version() { "$1" version 2>/dev/null | head -n1 || true; }

find_go() {
    local go
    for go in "${GO:-}" "$(command -v go || true)" /usr/local/go/bin/go; do
        [ -n "$go" ] && [ -x "$go" ] || continue
        # `tool` directives in our build modules need Go >= 1.24.
        if "$go" version | grep -Eq 'go1\.(2[4-9]|[3-9][0-9])'; then
            echo "$go"
            return 0
        fi
    done
    die "Go >= 1.24 is needed to build the Pulumi CLI and none was found (looked at \$GO, PATH, /usr/local/go/bin/go); install Go from https://go.dev/dl/ or install Pulumi with its official installer (see README, 'Pulumi CLI')"
}

# GOFLAGS from the caller would change what gets built (e.g. -mod=mod rewriting go.mod): keep only ours.
go_build() {  # go_build MODULE_DIR PACKAGE VERSION_STRING OUTPUT
    local mod=$1 pkg=$2 ver=$3 out=$4 start=$SECONDS
    (cd "$mod" && GOFLAGS=-mod=readonly "$GOBIN_" build -trimpath \
        -ldflags "-s -w -X $VERSION_PKG=$ver" -o "$out.tmp" "$pkg")
    mv -f "$out.tmp" "$out"
    log "built $(basename "$out") in $((SECONDS - start)) s"
}

required_version() {  # required_version MODULE_DIR MODULE_PATH -> the version go.mod requires
    sed -n "s#^[[:space:]]*\(require[[:space:]]\)\{0,1\}$2[[:space:]]\{1,\}\(v[^[:space:]]*\).*#\2#p" "$1/go.mod" | head -n1
}

if [ "$bump" = 1 ]; then
    GOBIN_=$(find_go)
    log "moving $CLI_MOD to pkg/v3 and sdk/v3 $VERSION"
    (cd "$CLI_MOD" && GOFLAGS=-mod=mod "$GOBIN_" get "github.com/pulumi/pulumi/pkg/v3@$VERSION" \
        "github.com/pulumi/pulumi/sdk/v3@$VERSION" && "$GOBIN_" mod tidy)
    log "check the replace directives in $CLI_MOD/go.mod against pkg/v3's and sdk/v3's go.mod at $VERSION"
fi

# --- the CLI ---------------------------------------------------------------------------------------
mkdir -p "$REAL_DIR"
# an earlier layout kept the binary itself in .venv/bin: move it where the wrapper expects it
if [ -f "$BIN/pulumi" ] && [ ! -L "$BIN/pulumi" ] && ! head -c 2 "$BIN/pulumi" | grep -q '#!'; then
    mv -f "$BIN/pulumi" "$REAL"
fi
have=$(cli_version "$REAL")
if [ "$have" = "$VERSION" ]; then
    log "pulumi $VERSION present in .venv/libexec/hallcloud"
else
    on_path=$(PATH=$(printf '%s' "$PATH" | tr ':' '\n' | grep -vxF "$BIN" | paste -sd: -) \
        command -v pulumi || true)
    if [ -n "$on_path" ] && [ "$(cli_version "$on_path")" = "$VERSION" ]; then
        log "using pulumi $VERSION found on PATH at $on_path"
        ln -sfn "$on_path" "$REAL"
        # The official distribution ships the language host next to the CLI: use it too.
        dir=$(dirname "$(readlink -f "$on_path")")
        for f in pulumi-language-python pulumi-language-python-exec; do
            [ -x "$dir/$f" ] && ln -sfn "$dir/$f" "$BIN/$f"
        done
    else
        GOBIN_=$(find_go)
        want=$(required_version "$CLI_MOD" github.com/pulumi/pulumi/pkg/v3)
        [ "$want" = "$VERSION" ] || die "pyproject.toml pins pulumi==$PIN but $CLI_MOD/go.mod requires pkg/v3 $want; run: scripts/build-pulumi.sh --bump"
        [ -n "$have" ] && log "replacing $REAL ($have)"
        log "building pulumi $VERSION from the Go module proxy with $("$GOBIN_" version | cut -d' ' -f3) (first build: several minutes; caches: $("$GOBIN_" env GOMODCACHE), $("$GOBIN_" env GOCACHE))"
        go_build "$CLI_MOD" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi "$VERSION" "$REAL"
        have=$(cli_version "$REAL")
        [ "$have" = "$VERSION" ] || die "the freshly built $REAL reports '$have', expected $VERSION"
    fi
fi

# --- the wrapper -----------------------------------------------------------------------------------
# `pulumi` in .venv/bin runs the CLI with HallCloud's defaults, so that an operator's plain `pulumi
# preview|up|refresh|stack output` in the project directory works on the same stacks and state as `hall
# stack` and window setup (infra/automation.py), with no environment variables to set: the file backend
# and the generated passphrase under HallCloud's state directory (and PULUMI_HOME there, where the
# selected stack is remembered), this virtualenv's python and plugins
# first, no update check (the hall's machines do not reach get.pulumi.com). Whatever the caller sets
# (PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE[_FILE], ...) wins.
wrapper=$BIN/pulumi
wrapper_text='#!/bin/sh
# Written by scripts/build-pulumi.sh: the Pulumi CLI with HallCloud'"'"'s defaults (PULUMI_HOME, file backend and
# passphrase under $HALLCLOUD_STATE_DIR, default ~/.local/state/hallcloud; this virtualenv first on PATH).
# Variables the caller sets, and a `pulumi login` in that PULUMI_HOME, win.
here=$(cd "$(dirname "$0")" && pwd)
state=${HALLCLOUD_STATE_DIR:-$HOME/.local/state/hallcloud}
PULUMI_HOME=${PULUMI_HOME:-$state/pulumi/home}
if [ -z "${PULUMI_BACKEND_URL:-}" ] && [ ! -s "$PULUMI_HOME/credentials.json" ]; then
    # not logged in anywhere yet: the HallCloud file backend (a `pulumi login` elsewhere is respected)
    [ -d "$state/pulumi/state" ] || (umask 077 && mkdir -p "$state/pulumi/state")
    PULUMI_BACKEND_URL="file://$state/pulumi/state"
    export PULUMI_BACKEND_URL
fi
if [ -z "${PULUMI_CONFIG_PASSPHRASE+set}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
    if [ ! -s "$state/passphrase" ]; then
        (umask 077 && mkdir -p "$state" && tmp="$state/.passphrase.$$" \
            && head -c 32 /dev/urandom | base64 | tr -d "/+=\n" > "$tmp" && mv -n "$tmp" "$state/passphrase"; \
            rm -f "$tmp")
    fi
    PULUMI_CONFIG_PASSPHRASE_FILE="$state/passphrase"
    export PULUMI_CONFIG_PASSPHRASE_FILE
fi
PULUMI_SKIP_UPDATE_CHECK=${PULUMI_SKIP_UPDATE_CHECK:-true}
PULUMI_PYTHON_CMD=${PULUMI_PYTHON_CMD:-$here/python}
PATH="$here:$PATH"
export PULUMI_HOME PULUMI_SKIP_UPDATE_CHECK PULUMI_PYTHON_CMD PATH
exec "$here/../libexec/hallcloud/pulumi" "$@"'
if [ "$(cat "$wrapper" 2>/dev/null)" != "$wrapper_text" ]; then
    rm -f "$wrapper"
    printf '%s\n' "$wrapper_text" > "$wrapper"
    chmod 0755 "$wrapper"
    log "wrote .venv/bin/pulumi (the CLI with HallCloud's defaults)"
fi
have=$(cli_version "$BIN/pulumi")
[ "$have" = "$VERSION" ] || die ".venv/bin/pulumi reports '$have', expected $VERSION"

# --- the Python language host ----------------------------------------------------------------------
# Built from sdk/v3 $HOST_SDK_VERSION (which the stamp records, since the host has no --version flag);
# its exec script comes from sdk/v3 at the pin. A host linked from an official install needs neither.
stamp=$BIN/.pulumi-language-python.stamp
want_stamp="host sdk/v3@$HOST_SDK_VERSION exec sdk/v3@$VERSION $(cat "$HOST_MOD/go.mod" "$HOST_MOD/go.sum" | sha256sum | cut -c1-16)"
if [ -L "$BIN/pulumi-language-python" ] && [ -e "$BIN/pulumi-language-python" ]; then
    log "pulumi-language-python linked from the installed CLI"
elif [ -x "$BIN/pulumi-language-python" ] && [ -f "$BIN/pulumi-language-python-exec" ] \
        && [ "$(cat "$stamp" 2>/dev/null)" = "$want_stamp" ]; then
    log "pulumi-language-python (sdk/v3 $HOST_SDK_VERSION) present in .venv/bin"
else
    GOBIN_=$(find_go)
    log "building pulumi-language-python from sdk/v3 $HOST_SDK_VERSION"
    go_build "$HOST_MOD" github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python \
        "$HOST_SDK_VERSION" "$BIN/pulumi-language-python"
    sdk_dir=$(cd "$ROOT" && GOFLAGS= "$GOBIN_" mod download -json "github.com/pulumi/pulumi/sdk/v3@$VERSION" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    exec_script=$sdk_dir/python/cmd/pulumi-language-python-exec
    [ -f "$exec_script" ] || die "sdk/v3 $VERSION carries no python/cmd/pulumi-language-python-exec (looked in '$sdk_dir')"
    install -m 0755 "$exec_script" "$BIN/pulumi-language-python-exec"
    echo "$want_stamp" > "$stamp"
    log "installed pulumi-language-python-exec from sdk/v3 $VERSION"
fi

# --- the dynamic-provider launcher -----------------------------------------------------------------
# The engine starts `pulumi-resource-pulumi-python` for dynamic providers; the SDK's pulumi.dynamic
# module is its entry point (`python -m pulumi.dynamic ENGINE_ADDRESS`, prints the port it serves on).
# Ours always uses the python of the venv it lives in, so providers can import our installed packages,
# and goes through infra.providers.launch, which turns SIGINT into vdi's cancel flag (see there).
launcher=$BIN/pulumi-resource-pulumi-python
launcher_text='#!/bin/sh
# Written by scripts/build-pulumi.sh: the Pulumi engine starts this for dynamic providers.
exec "$(dirname "$0")/python" -u -m infra.providers.launch "$@"'
if [ "$(cat "$launcher" 2>/dev/null)" != "$launcher_text" ]; then
    printf '%s\n' "$launcher_text" > "$launcher"
    chmod 0755 "$launcher"
    log "wrote .venv/bin/pulumi-resource-pulumi-python"
fi

log "ready: $("$BIN/pulumi" version) (.venv/bin/pulumi, pulumi-language-python, pulumi-resource-pulumi-python)"
