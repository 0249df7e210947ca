#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks run, when one of their programs is missing.
# Quick (no apt) when everything is present. As root with apt-get, a failed install fails this script
# (exit 1): tests never skip because a tool is missing. Not root: prints what is missing, exit 0
# (the integration tests that use these tools need root and skip without it anyway).
#
# The two lists below are also read by test/unit/system-deps.test.ts, which holds every program that
# src/, bench/ and test/ spawn to "in BASE or in INSTALL". One line per package:
#   PACKAGE  PROGRAM...  # who needs it
# To run a new program, add its package's line (or the program to its package's line).
set -u

# On every fresh machine of this project's kind (../shared/reference/base-image-packages.txt):
# never installed here, listed so that the test knows where each program comes from.
BASE='
coreutils           cat sleep timeout rm mknod ln env nice # tests (lab exec, sleepers, env for podman), bench/micro (timeout)
curl                curl                     # service-daemon.test (raw HTTP over the control socket)
bash                bash                     # xdp-skeleton.test (scripts/build-xdp.sh)
tar                 tar                      # container-helpers (busybox rootfs tarball)
apt                 apt-get apt-cache        # test/support/vm (apt-get download of the guest kernel)
findutils           find                     # test/support/vm (guest modules)
gzip                gzip                     # test/support/vm (initramfs)
libc-bin            getent                   # src/devices/vm-tap.ts (owner/group names)
dash                sh                       # lab exec, tool checks (command -v)
dpkg                dpkg dpkg-deb            # system-deps.test (which package a program is from)
iproute2            ip bridge                # lab, demo, bench, service, most integration tests
nodejs              node                     # engine-scenario.test (node inside a namespace)
procps              sysctl                   # lab (Namespace.sysctl), demo, bench, engine-*.test
util-linux          setpriv taskset nsenter unshare         # io-nonroot/service-daemon.test (setpriv), demo/bench CPU pinning
'

# Installed by this script when a program is missing.
INSTALL='
ethtool             ethtool                  # devices-offloads/lab/engine-tap.test (oracle: ethtool -k)
iperf3              iperf3                   # bench TCP column, engine-scenario.test
iputils-ping        ping                     # lab (Namespace.ping), service-*.test, engine-*.test
netsniff-ng         trafgen                  # demo/bench fallback generator, bench trafgen cross-check
openvswitch-common  ovs-ofctl ovs-appctl ovsdb-tool ovsdb-server  # bench OVS peer
openvswitch-switch  ovs-vsctl ovs-vswitchd   # bench OVS peer (runs its own instance in a namespace)
tcpdump             tcpdump                  # src/io/bpf.ts (filter compile), service-userspace.test
docker.io           dockerd /usr/bin/docker           # docker-plugin tests (a private dockerd per host namespace)
podman              podman                   # podman CNI test
containerd          containerd ctr           # ctr run --cni test
runc                runc                     # OCI runtime of podman and containerd in tests
containernetworking-plugins /usr/lib/cni/host-local /usr/lib/cni/macvlan  # CNI IPAM delegation, reference macvlan
busybox-static      busybox                  # container images and the VM guest initramfs
clang-14            clang clang++-14         # xdp-skeleton.test (regenerates addon/xdp skeleton), native-fuzz.test
libclang-rt-14-dev  /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a  # native-fuzz.test (libFuzzer, ASan/UBSan runtimes)
bpftool             bpftool                  # xdp-skeleton.test
libbpf-dev          /usr/include/bpf/bpf_helpers.h  # xdp program headers
qemu-system-x86     qemu-system-x86_64       # vm-guest tests and VM bench (real guest under TCG/KVM)
cpio                cpio                     # VM guest initramfs
kmod                modinfo                  # VM guest: module dependencies of the unpacked kernel
'

need=()
while read -r pkg progs; do
  progs=${progs%%#*}
  case "$pkg" in '' | '#'*) continue ;; esac
  for p in $progs; do
    # A program by name on PATH, or a file by absolute path (headers, plugin binaries).
    case "$p" in
      /*) [ -e "$p" ] && continue ;;
      *) command -v "$p" >/dev/null 2>&1 && continue ;;
    esac
    need+=("$pkg"); break
  done
done <<<"$INSTALL"
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "note: missing Debian packages ${need[*]}; install them as root (apt-get install ${need[*]})" >&2
  exit 0
fi
echo "installing Debian packages: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# The dpkg lock may be held by another apt run for a while: retry a few times.
for attempt in 1 2 3 4 5; do
  if apt-get install -y -qq --no-install-recommends "${need[@]}" >/tmp/ensure-system-deps.log 2>&1; then
    exit 0
  fi
  # An empty package index (fresh machine) is the common first failure: update it once.
  [ "$attempt" = 1 ] && { apt-get update -qq >>/tmp/ensure-system-deps.log 2>&1 || true; continue; }
  sleep 5
done
echo "error: apt-get install ${need[*]} failed; last lines of /tmp/ensure-system-deps.log:" >&2
tail -n 20 /tmp/ensure-system-deps.log >&2
exit 1
