#!/usr/bin/env bash
# make setup step (vdi): libvirt's storage driver, which pools and volumes need (golden images, linked
# clones, stream upload). The core package list installs libvirt-daemon without it (no recommends), and a
# libvirtd started before the driver was installed does not load it, so that daemon is restarted once.
set -euo pipefail
URI=${HALLCLOUD_SETUP_URI:-qemu:///system}
PKG=libvirt-daemon-driver-storage

if ! dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q "install ok installed"; then
    echo "[setup] installing $PKG from bookworm-backports"
    if ! apt-get install -y -q --no-install-recommends -t bookworm-backports "$PKG" >/dev/null; then
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends -t bookworm-backports "$PKG" >/dev/null
    fi
fi

if virsh -c "$URI" pool-list --all >/dev/null 2>&1; then
    exit 0
fi
# running guests survive a libvirtd restart (it reconnects to their QEMU processes)
pid=$(cat /run/libvirtd.pid 2>/dev/null || true)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    echo "[setup] restarting libvirtd (pid $pid) so that it loads the storage driver"
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi
libvirtd -d
for _ in $(seq 1 100); do
    virsh -c "$URI" pool-list --all >/dev/null 2>&1 && exit 0
    sleep 0.5
done
echo "libvirtd at $URI still has no storage driver: is $PKG installed? (dpkg -L $PKG)" >&2
exit 1
