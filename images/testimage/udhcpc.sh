#!/bin/sh
# udhcpc event script of the test guest: apply the lease to the interface, nothing else.
case "$1" in
    deconfig)
        ip -4 addr flush dev "$interface"
        ;;
    bound|renew)
        ip -4 addr flush dev "$interface"
        ip addr add "$ip/${mask:-24}" dev "$interface"
        if [ -n "$router" ] && ! ip route | grep -q '^default'; then
            ip route add default via "${router%% *}" dev "$interface" 2>/dev/null
        fi
        ;;
esac
exit 0
