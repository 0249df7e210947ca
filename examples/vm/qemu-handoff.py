#!/usr/bin/env python3
"""Start QEMU unprivileged on a macdemux endpoint's tap queues, received from macdemuxd.

    qemu-handoff.py --socket /run/macdemux/handoff.sock --endpoint vm1 --queues 2 -- \
        qemu-system-x86_64 ... -netdev tap,id=n0,fds=@,vhost=off -device virtio-net-pci,netdev=n0,mac=@,mq=on,vectors=6

ENDPOINT is a `vm:` endpoint of the daemon's config: a kernel macvtap, or a VM port (tap) of a
userspace network; the command is the same for both. Connects to the daemon's hand-off socket
(see docs/vm.md), asks for QUEUES fresh queue fds of ENDPOINT, and
execs the command with the fds as 3, 4, ... (inherited). In the command, `fds=@` becomes
`fds=3:4` (`fd=3` for one queue) and `mac=@` the endpoint's MAC. The daemon checks this process's
uid/gid (SO_PEERCRED) against the endpoint's owner/group; run it as that user, not as root.
A VM port's tap serves one hypervisor: while another holds its queues the daemon answers EBUSY.
"""
import argparse
import fcntl
import json
import os
import socket
import sys


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--socket", required=True)
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--queues", type=int, default=1)
    ap.add_argument("command", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    if not cmd:
        ap.error("a command to run after --")

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(a.socket)
        s.sendall((json.dumps({"endpoint": a.endpoint, "queues": a.queues}) + "\n").encode())
        data, fds, _flags, _addr = socket.recv_fds(s, 65536, 64)
        while not data.endswith(b"\n"):
            more = s.recv(65536)
            if not more:
                break
            data += more
    answer = json.loads(data.decode() or '{"ok":false,"error":"no answer"}')
    if not answer.get("ok"):
        for fd in fds:
            os.close(fd)
        code = f" ({answer['code']})" if answer.get("code") else ""
        print(f"qemu-handoff: {a.endpoint}: {answer.get('error')}{code}", file=sys.stderr)
        return 1
    if len(fds) != a.queues:
        print(f"qemu-handoff: asked for {a.queues} fds, got {len(fds)}", file=sys.stderr)
        return 1

    # fds 3, 4, ... in order; nothing else leaks into QEMU
    first = 3
    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in fds]  # out of the way of 3.. first
    for fd in fds:
        os.close(fd)
    for i, fd in enumerate(moved):
        os.dup2(fd, first + i, inheritable=True)
        os.close(fd)
    numbers = [str(first + i) for i in range(len(moved))]
    spec = f"fd={numbers[0]}" if len(numbers) == 1 else f"fds={':'.join(numbers)}"
    cmd = [x.replace("fds=@", spec).replace("mac=@", f"mac={answer.get('mac', '')}") for x in cmd]
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    sys.exit(main())
