#!/bin/busybox sh
# HallCloud tiny test guest: /init of the initramfs (busybox sh, PID 1).
# The console protocol is documented in images/testimage/README.md; keep them in step.
/bin/busybox mkdir -p /proc /sys /dev /data /tmp /run /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /run
dmesg -n 1
ARCH=$(cat /etc/hallcloud/arch)
KVER=$(cat /etc/hallcloud/kernel-version)

# modules in dependency order (computed on the build host from the kernel's modules.dep)
while read -r mod; do
    [ -n "$mod" ] || continue
    insmod "/lib/modules/$KVER/$mod" 2>/dev/null || echo "MODULE-FAILED $mod"
done < /etc/hallcloud/modules.load
ip link set lo up

is_virtio_nic() {
    drv=$(readlink "/sys/class/net/$1/device/driver" 2>/dev/null)
    [ "${drv##*/}" = virtio_net ]
}

virtio_nics() {
    for path in /sys/class/net/*; do
        name=${path##*/}
        is_virtio_nic "$name" && echo "$name"
    done
}

nic_lines() {
    for name in $(virtio_nics); do
        mac=$(cat "/sys/class/net/$name/address")
        addr=$(ip -4 addr show dev "$name" | sed -n 's/.*inet \([0-9.]*\).*/\1/p' | head -n 1)
        echo "NIC $name $mac ${addr:-none}"
    done
}

# virtio devices bind during insmod, but give slow (TCG) guests a moment for the disk node
i=0
while [ ! -b /dev/vda ] && [ "$i" -lt 30 ]; do sleep 0.1; i=$((i + 1)); done

has_address() {
    ip -4 addr show dev "$1" | grep -q ' inet '
}

dhcp() {  # dhcp NIC TRIES TIMEOUT: one udhcpc run that exits with or without a lease
    udhcpc -i "$1" -f -q -n -t "$2" -T "$3" -s /etc/hallcloud/udhcpc.script >/dev/null 2>&1
}

for name in $(virtio_nics); do ip link set "$name" up; done
# a short first round so the NIC lines come promptly ...
pids=""
for name in $(virtio_nics); do
    dhcp "$name" 2 1 &
    pids="$pids $!"
done
# shellcheck disable=SC2086
wait $pids
echo  # end whatever the firmware left on the current line
nic_lines
# ... and on a loaded (TCG) host, where the DHCP server may answer late, keep asking in the background
# until every NIC has an address (`hc ip` shows it)
for name in $(virtio_nics); do
    has_address "$name" && continue
    (
        until has_address "$name"; do
            dhcp "$name" 3 3 || sleep 2
        done
    ) </dev/null >/dev/null 2>&1 &
done

if mount -t ext4 /dev/vda /data 2>/dev/null && [ -f /data/marker ]; then
    echo "DISK-MARKER $(head -n 1 /data/marker)"
else
    echo "DISK-MARKER none"
fi

stty -echo 2>/dev/null
echo "GUEST-READY $ARCH"

cr=$(printf '\r')
while true; do
    if ! IFS= read -r line; then
        sleep 1
        continue
    fi
    line=${line%"$cr"}
    case "$line" in
        "") continue ;;
        "hc write "*|"hc damage "*)
            if ! grep -q " /data " /proc/mounts; then
                echo "HC-ERROR no disk mounted at /data"
                continue
            fi
            ;;
    esac
    case "$line" in
        "hc write "*)
            text=${line#hc write }
            printf '%s\n' "$text" > /data/marker && sync && echo "MARKER-WRITTEN $text" \
                || echo "HC-ERROR write failed"
            ;;
        "hc read")
            if [ -f /data/marker ]; then echo "MARKER $(head -n 1 /data/marker)"; else echo "MARKER none"; fi
            ;;
        "hc damage "*)
            file=${line#hc damage }
            head -c 4096 /dev/urandom > "/data/$file" && sync && echo "DAMAGED $file" \
                || echo "HC-ERROR damage failed"
            ;;
        "hc ls")
            n=0
            for path in /data/*; do
                [ -e "$path" ] || continue
                if [ -d "$path" ]; then
                    echo "DIR ${path#/data/}"
                else
                    echo "FILE ${path#/data/} $(wc -c < "$path")"
                fi
                n=$((n + 1))
            done
            echo "LS-END $n"
            ;;
        "hc ping "*)
            addr=${line#hc ping }
            if ping -c 1 -W 1 "$addr" >/dev/null 2>&1; then echo "PING $addr ok"; else echo "PING $addr fail"; fi
            ;;
        "hc sync")
            sync && echo "SYNCED"
            ;;
        "hc ip")
            nic_lines
            echo "IP-END"
            ;;
        "hc poweroff")
            sync
            umount /data 2>/dev/null
            echo "POWEROFF"
            poweroff -f
            ;;
        hc|"hc "*)
            echo "HC-ERROR unknown command: $line"
            ;;
        *)
            sh -c "$line" 2>&1
            echo "SH-EXIT $?"
            ;;
    esac
done
