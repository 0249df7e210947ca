#!/bin/busybox sh
# /init of the test guest's initramfs (busybox). It loads the virtio network modules shipped next to
# it, configures each NIC named on the kernel command line, runs the checks and prints one marker line
# per result on the serial console, then powers the guest off. The host side (test/support/vm/) reads
# the markers; nothing here decides whether a test passed except by printing what it saw.
#
# Kernel command line (written by guest.ts):
#   mdx.nic=IF,ADDR4/LEN,ADDR6/LEN,PEER4,PEER6,MTU,CHECKS   one per NIC (IF: eth0, eth1, ...)
#   mdx.port=N        TCP port of the peer's data server (peer-server.mjs)
#   mdx.bytes=N       bytes per TCP transfer
# CHECKS: letters: p ping, 6 ping6, j jumbo ping (MTU-28 payload), d download, u upload, q queues,
#         b bench (download + upload without hashing)
# Markers: "MDXVM <IF> <check> ok|fail [detail]", "MDXVM boot ok", "MDXVM done".
/bin/busybox mkdir -p /proc /sys /dev /tmp /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
exec >/dev/console 2>&1
echo "MDXVM boot ok $(uname -r) cpus=$(nproc)"

for m in $(cat /modules/order); do
  insmod "/modules/$m.ko" || echo "MDXVM guest insmod fail $m"
done

arg() { tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p"; }
PORT=$(arg mdx.port)
BYTES=$(arg mdx.bytes)
BLOCKS=$((BYTES / 65536))

mark() { echo "MDXVM $*"; }
# check IF NAME COMMAND...: runs COMMAND, prints ok or fail with its last output line
check() {
  i=$1; n=$2; shift 2
  out=$("$@" 2>&1); rc=$?
  last=$(echo "$out" | tail -n 1)
  if [ $rc -eq 0 ]; then mark "$i $n ok $last"; else mark "$i $n fail rc=$rc $last"; fi
}
# waits until the link is up (the virtio device appears once its module is loaded)
wait_if() {
  t=0
  while [ ! -e "/sys/class/net/$1" ] && [ $t -lt 100 ]; do sleep 0.1; t=$((t + 1)); done
  [ -e "/sys/class/net/$1" ]
}
queues() {
  n=$(ls "/sys/class/net/$1/queues" | grep -c '^tx-')
  echo "tx=$n rx=$(ls "/sys/class/net/$1/queues" | grep -c '^rx-')"
  [ "$n" -ge 2 ]
}
download() { # IF PEER: the peer sends BYTES; prints its sha256
  echo "get $BYTES" | timeout 90 nc -w 20 "$2" "$PORT" >/tmp/dl || return 1
  set -- $(wc -c </tmp/dl) $(sha256sum </tmp/dl)
  rm -f /tmp/dl
  echo "bytes=$1 sha256=$2"
  [ "$1" = "$BYTES" ]
}
upload() { # IF PEER: sends BYTES of random data; prints their sha256
  dd if=/dev/urandom of=/tmp/ul bs=65536 count=$BLOCKS 2>/dev/null || return 1
  sum=$(sha256sum </tmp/ul | cut -d' ' -f1)
  { echo "put"; cat /tmp/ul; } | timeout 90 nc -w 20 "$2" "$PORT" >/dev/null || return 1
  rm -f /tmp/ul
  echo "bytes=$BYTES sha256=$sum"
}
bench() { # IF PEER: unhashed transfers both ways; the peer measures the time
  echo "get $BYTES" | timeout 90 nc -w 20 "$2" "$PORT" >/dev/null || return 1
  { echo "put"; dd if=/dev/zero bs=65536 count=$BLOCKS 2>/dev/null; } | timeout 90 nc -w 20 "$2" "$PORT" >/dev/null || return 1
  echo "bytes=$BYTES"
}

for spec in $(arg mdx.nic); do
  IFS=, read -r IF A4 A6 P4 P6 MTU CHECKS <<EOF
$spec
EOF
  if ! wait_if "$IF"; then mark "$IF link fail no such interface"; continue; fi
  echo 0 >"/proc/sys/net/ipv6/conf/$IF/accept_dad"
  ip link set dev "$IF" mtu "$MTU" && ip link set dev "$IF" up &&
    ip addr add "$A4" dev "$IF" && ip -6 addr add "$A6" dev "$IF"
  [ $? -eq 0 ] && mark "$IF link ok $(cat /sys/class/net/$IF/address) mtu=$MTU" || mark "$IF link fail"
  case $CHECKS in *q*) check "$IF" queues queues "$IF" ;; esac
  case $CHECKS in *p*) check "$IF" ping ping -c 3 -W 5 "$P4" ;; esac
  case $CHECKS in *6*) check "$IF" ping6 ping -6 -c 3 -W 5 "$P6" ;; esac
  case $CHECKS in *j*) check "$IF" jumbo ping -c 2 -W 5 -s $((MTU - 28)) "$P4" ;; esac
  case $CHECKS in *d*) check "$IF" download download "$IF" "$P4" ;; esac
  case $CHECKS in *u*) check "$IF" upload upload "$IF" "$P4" ;; esac
  case $CHECKS in *b*) check "$IF" bench bench "$IF" "$P4" ;; esac
done
mark "done"
sync
poweroff -f
