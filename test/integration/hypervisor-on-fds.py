#!/usr/bin/env python3
"""Plays the hypervisor on tap queue fds it inherited (from examples/vm/qemu-handoff.py):

    hypervisor-on-fds.py fds=3:4 mac=GUEST_MAC PEER_MAC GUEST_IP PEER_IP

Writes ICMP echo requests (each after a virtio_net_hdr: the queues carry IFF_VNET_HDR) on the first
queue until the echo reply arrives on any queue, prints `reply ok` with the uid it runs as, then
holds the queues until stdin closes (so the test can ask for the same tap meanwhile).
"""
import os
import select
import struct
import sys
import time

VNET_HDR = bytes(10)  # no checksum or GSO request: a complete frame


def csum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s > 0xFFFF:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def echo_request(src_mac: bytes, dst_mac: bytes, src_ip: bytes, dst_ip: bytes, ident: int, seq: int, payload: bytes) -> bytes:
    icmp = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + payload
    icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0, 0, 64, 1, 0, src_ip, dst_ip)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return VNET_HDR + dst_mac + src_mac + b"\x08\x00" + ip + icmp


def main() -> int:
    fds = [int(x) for x in sys.argv[1].split("=", 1)[1].split(":")]
    mac = lambda s: bytes(int(x, 16) for x in s.split(":"))  # noqa: E731
    ip = lambda s: bytes(int(x) for x in s.split("."))  # noqa: E731
    guest_mac, peer_mac = mac(sys.argv[2].split("=", 1)[1]), mac(sys.argv[3])
    guest_ip, peer_ip = ip(sys.argv[4]), ip(sys.argv[5])
    ident = os.getpid() & 0xFFFF
    payload = bytes((i * 7) & 0xFF for i in range(1000))
    for seq in range(40):
        os.write(fds[0], echo_request(guest_mac, peer_mac, guest_ip, peer_ip, ident, seq, payload))
        deadline = time.monotonic() + 0.25
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select(fds, [], [], left)
            for fd in ready:
                try:
                    f = os.read(fd, 65536)[len(VNET_HDR):]
                except BlockingIOError:
                    continue
                # IPv4 ICMP echo reply (type 0) with our id and payload
                if len(f) >= 42 and f[12:14] == b"\x08\x00" and f[23] == 1 and f[34] == 0 and struct.unpack("!H", f[38:40])[0] == ident:
                    if f[42:] != payload:
                        print("reply with a wrong payload", flush=True)
                        return 1
                    print(f"reply ok uid={os.getuid()} queues={len(fds)}", flush=True)
                    sys.stdin.read()  # hold the queues until the test closes stdin
                    return 0
    print("no reply", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
