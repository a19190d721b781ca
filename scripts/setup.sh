#!/usr/bin/env bash
# make setup: install everything HallCloud needs on a fresh Debian 12 machine, idempotently.
#
# Core steps live here; each feature area adds its own step as scripts/setup.d/NN-name.sh, run in
# order after the core (they may assume apt packages, running libvirt and .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export DEBIAN_FRONTEND=noninteractive
log() { printf '[setup] %s\n' "$*"; }
start=$(date +%s)

if [ "$(id -u)" != 0 ]; then
    echo "make setup must run as root (it installs Debian packages and starts libvirtd)" >&2
    exit 1
fi

# --- Debian packages -----------------------------------------------------------------------------
# libvirt >= 11 and QEMU >= 10 (loongarch64 guests, external snapshot revert) come from backports.
BACKPORTS_PKGS=(
    libvirt-daemon libvirt-daemon-driver-qemu libvirt-daemon-driver-storage libvirt-daemon-driver-nwfilter
    libvirt-daemon-config-network libvirt-clients
    libvirt-dev qemu-system-x86 qemu-system-arm qemu-system-misc qemu-utils
    qemu-system-modules-spice ovmf qemu-efi-aarch64
)
MAIN_PKGS=(
    dnsmasq-base iptables nftables pkg-config gcc python3-dev
    snmpd snmp snmptrapd openssh-server openssh-client postgresql
    busybox-static cpio e2fsprogs libxml2-utils python3-gdbm novnc websockify
    chromium chromium-driver fonts-wqy-microhei xz-utils zstd iproute2 iputils-ping kmod genisoimage curl
)
BPO_LIST=/etc/apt/sources.list.d/hallcloud-backports.sources

missing_pkgs() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
    done
}

need_update=0
if [ ! -f "$BPO_LIST" ]; then
    log "adding bookworm-backports to apt sources"
    cat > "$BPO_LIST" <<'X'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
X
    need_update=1
fi
mapfile -t miss_bpo < <(missing_pkgs "${BACKPORTS_PKGS[@]}")
mapfile -t miss_main < <(missing_pkgs "${MAIN_PKGS[@]}")
if [ "${#miss_bpo[@]}" -gt 0 ] || [ "${#miss_main[@]}" -gt 0 ]; then
    need_update=1
fi
if [ "$need_update" = 1 ]; then
    log "apt-get update"
    apt-get update -q >/dev/null
fi
if [ "${#miss_bpo[@]}" -gt 0 ]; then
    log "installing from bookworm-backports: ${miss_bpo[*]}"
    apt-get install -y -q --no-install-recommends -t bookworm-backports "${BACKPORTS_PKGS[@]}" >/dev/null
fi
if [ "${#miss_main[@]}" -gt 0 ]; then
    log "installing: ${miss_main[*]}"
    apt-get install -y -q --no-install-recommends "${miss_main[@]}" >/dev/null
fi
libvirt_version=$(dpkg-query -W -f='${Version}' libvirt-daemon)
case "$libvirt_version" in
    9.*|10.*) echo "libvirt $libvirt_version is too old; need >= 11 from bookworm-backports" >&2; exit 1 ;;
esac

# --- libvirt daemons (no systemd here: start by hand) ---------------------------------------------
# Without this /dev/kvm fix every libvirt call re-probes QEMU for seconds.
if [ -e /dev/kvm ]; then
    chgrp kvm /dev/kvm 2>/dev/null || true
    chmod 0660 /dev/kvm 2>/dev/null || true
fi
running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# libvirt hooks HallCloud relies on (libvirtd reads the hook directories only when it starts). The qemu
# hook prepares the cgroup v1 cpuset partition guests are placed in before every start, so that many
# guests starting at once on a host where no guest ever ran do not fail with "No space left on device"
# (see scripts/host/libvirt-hook-qemu-cgroups). Running guests survive a libvirtd restart.
hook_changed=0
install_hook() {  # install_hook SOURCE DESTINATION
    if ! cmp -s "$1" "$2"; then
        install -D -m 0755 "$1" "$2"
        log "installed libvirt hook $2"
        hook_changed=1
    fi
}
install_hook scripts/host/libvirt-hook-qemu-cgroups /etc/libvirt/hooks/qemu.d/10-hallcloud-cgroups
# prepare the partition now as well (the hook does it again before each start)
/etc/libvirt/hooks/qemu.d/10-hallcloud-cgroups - prepare begin - </dev/null
if [ "$hook_changed" = 1 ] && running /run/libvirtd.pid; then
    pid=$(cat /run/libvirtd.pid)
    log "restarting libvirtd (pid $pid) so that it runs the new hook"
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f /run/libvirtd.pid
fi
if ! running /run/virtlogd.pid; then
    log "starting virtlogd"
    virtlogd -d
fi
if ! running /run/libvirtd.pid; then
    log "starting libvirtd"
    libvirtd -d
    # answering, not just a socket file (a restarted daemon's old socket may still be there)
    for _ in $(seq 1 300); do virsh -q -c qemu:///system version >/dev/null 2>&1 && break; sleep 0.2; done
fi

# --- Python environment ---------------------------------------------------------------------------
PY=${HALLCLOUD_PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
    log "creating .venv with $($PY --version)"
    "$PY" -m venv .venv
fi
stamp=.venv/.hallcloud-deps
want=$(cat pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    log "installing Python dependencies into .venv (pip cache: ~/.cache/pip)"
    .venv/bin/pip install -q --upgrade pip >/dev/null
    .venv/bin/pip install -q -e '.[dev]'
    echo "$want" > "$stamp"
fi

# --- feature steps ----------------------------------------------------------------------------------
for step in scripts/setup.d/*.sh; do
    [ -e "$step" ] || continue
    log "step $(basename "$step")"
    bash "$step"
done

log "done in $(( $(date +%s) - start )) s"
