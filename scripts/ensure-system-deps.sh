#!/usr/bin/env bash
# Installs the Debian tools the tests and benchmarks use, when missing and when we can (root + apt).
# Idempotent and quick when everything is present. Tests that need a missing tool skip with a note.
set -u
need=()
command -v ip >/dev/null       || need+=(iproute2)
command -v ping >/dev/null     || need+=(iputils-ping)
command -v iperf3 >/dev/null   || need+=(iperf3)
command -v trafgen >/dev/null  || need+=(netsniff-ng)
command -v ovs-vswitchd >/dev/null || need+=(openvswitch-switch)
command -v cmake >/dev/null    || need+=(cmake)
command -v g++ >/dev/null      || need+=(g++)
# Container runtimes driven by the docker-plugin / CNI tests (test/integration/{docker,cni,podman,ctr}-*.test.ts).
[ -x /usr/sbin/dockerd ] && [ -x /usr/bin/docker ] || need+=(docker.io)
command -v podman >/dev/null   || need+=(podman)
command -v containerd >/dev/null && command -v ctr >/dev/null || need+=(containerd)
command -v runc >/dev/null     || need+=(runc)
[ -x /usr/lib/cni/host-local ] && [ -x /usr/lib/cni/macvlan ] || need+=(containernetworking-plugins)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v tcpdump >/dev/null  || need+=(tcpdump)
command -v unshare >/dev/null && command -v nsenter >/dev/null || need+=(util-linux)
# XDP: test/unit/xdp-skeleton.test.ts regenerates addon/xdp/demux.skel.h (the build uses the committed one)
command -v clang >/dev/null    || need+=(clang)
command -v bpftool >/dev/null  || need+=(bpftool)
[ -e /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
# the VM guest tests (test/support/vm): QEMU, a static busybox and cpio for the initramfs, modinfo
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v cpio >/dev/null     || need+=(cpio)
command -v modinfo >/dev/null  || need+=(kmod)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "note: missing ${need[*]}; tests that need them will skip (install them as root)" >&2
  exit 0
fi
echo "installing Debian packages: ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
  echo "warning: apt-get install ${need[*]} failed; dependent tests will skip" >&2
# The Debian package starts OVS system services; the benchmark runs its own instance instead.
exit 0
