#!/usr/bin/env bash
# make setup step (vdi): load libvirt's drivers that the core package list may have added after a
# running daemon started: storage (pools and volumes: golden images, linked clones, stream
# upload) and nwfilter (the network filters that keep a desktop to its own network, vdi/nwfilter.py; it
# drives ebtables/iptables, which Debian's iptables package provides as ebtables-nft/iptables-nft).
# A libvirtd started before a driver was installed does not load it, so that daemon is restarted once;
# running guests survive the restart (libvirtd reconnects to their QEMU processes).
set -euo pipefail
URI=${HALLCLOUD_SETUP_URI:-qemu:///system}
# scripts/setup.sh installs these (BACKPORTS_PKGS) before this step runs
PKGS=(libvirt-daemon-driver-storage libvirt-daemon-driver-nwfilter)

drivers_loaded() {
    virsh -c "$URI" pool-list --all >/dev/null 2>&1 && virsh -c "$URI" nwfilter-list >/dev/null 2>&1
}

if drivers_loaded; then
    exit 0
fi
pid=$(cat /run/libvirtd.pid 2>/dev/null || true)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    echo "[setup] restarting libvirtd (pid $pid) so that it loads the storage and nwfilter drivers"
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
fi
libvirtd -d
for _ in $(seq 1 100); do
    drivers_loaded && exit 0
    sleep 0.5
done
echo "libvirtd at $URI still lacks the storage or nwfilter driver: are ${PKGS[*]} installed?" \
    "(dpkg -L libvirt-daemon-driver-nwfilter)" >&2
exit 1
