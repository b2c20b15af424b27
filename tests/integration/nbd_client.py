#!/usr/bin/env python3
"""A tiny raw NBD client for the bad-input cases real clients never send.

Usage: nbd_client.py HOST PORT CHECK [ARGS]; exits 0 when the server answered
as expected. Checks: garbage, unknown EXPORT, past_end EXPORT, huge EXPORT,
snap_write EXPORT, hold EXPORT SECONDS (keeps a connection open).
"""
import socket, struct, sys, time

NBDMAGIC, IHAVEOPT, REPMAGIC = 0x4E42444D41474943, 0x49484156454F5054, 0x3E889045565A9
OPT_GO, OPT_STRUCTURED = 7, 8
EPERM, EINVAL, ENOSPC = 1, 22, 28


def recvn(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("server closed")
        b += c
    return b


def hello(host, port):
    s = socket.create_connection((host, port), timeout=10)
    magic, opt, flags = struct.unpack(">QQH", recvn(s, 18))
    assert magic == NBDMAGIC and opt == IHAVEOPT, "bad greeting"
    s.sendall(struct.pack(">I", 3))  # fixed newstyle + no zeroes
    return s


def option(s, opt, data=b""):
    s.sendall(struct.pack(">QII", IHAVEOPT, opt, len(data)) + data)


def replies(s):
    """Option replies until ACK or error: list of (type, data)."""
    out = []
    while True:
        magic, opt, typ, ln = struct.unpack(">QIII", recvn(s, 20))
        assert magic == REPMAGIC
        out.append((typ, recvn(s, ln)))
        if typ == 1 or typ & 0x80000000:
            return out


def go(s, name):
    n = name.encode()
    option(s, OPT_GO, struct.pack(">I", len(n)) + n + struct.pack(">H", 0))
    return replies(s)


def request(s, typ, offset, length, payload=b"", cookie=7, flags=0):
    s.sendall(struct.pack(">IHHQQI", 0x25609513, flags, typ, cookie, offset, length) + payload)


def simple_reply(s):
    magic, err, cookie = struct.unpack(">IIQ", recvn(s, 16))
    assert magic == 0x67446698, hex(magic)
    return err, cookie


def export_size(reps):
    for typ, data in reps:
        if typ == 3 and struct.unpack(">H", data[:2])[0] == 0:
            return struct.unpack(">Q", data[2:10])[0]
    raise AssertionError("no export info in %r" % (reps,))


def main():
    host, port, check = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    arg = sys.argv[4] if len(sys.argv) > 4 else ""
    if check == "garbage":
        s = socket.create_connection((host, port), timeout=10)
        recvn(s, 18)
        s.sendall(b"\xde\xad\xbe\xef" * 64)
        try:
            while s.recv(4096):
                pass
        except (ConnectionResetError, socket.timeout):
            pass
        return 0
    if check == "bad_option":
        s = hello(host, port)
        s.sendall(struct.pack(">QII", IHAVEOPT, 99, 0))
        assert replies(s)[-1][0] == 0x80000001, "unknown option not refused"
        s.sendall(struct.pack(">QII", IHAVEOPT, OPT_GO, 0x7FFFFFFF))  # absurd length
        try:
            recvn(s, 1)
            return 1
        except (EOFError, ConnectionResetError):
            return 0
    s = hello(host, port)
    if check == "unknown":
        reps = go(s, arg)
        assert reps[-1][0] == 0x80000006, "expected NBD_REP_ERR_UNKNOWN, got %r" % (reps,)
        return 0
    reps = go(s, arg)
    assert reps[-1][0] == 1, "GO failed: %r" % (reps,)
    size = export_size(reps)
    if check == "past_end":
        request(s, 0, size - 512, 1024)  # READ across the end
        assert simple_reply(s) == (EINVAL, 7)
        request(s, 1, size, 512, b"x" * 512, cookie=8)  # WRITE past the end
        assert simple_reply(s) == (ENOSPC, 8)
        request(s, 0, 0, 512, cookie=9)  # still works afterwards
        err, _ = simple_reply(s)
        assert err == 0
        recvn(s, 512)
    elif check == "huge":
        request(s, 0, 0, 0xFFFFFFFF)  # READ of 4 GiB
        assert simple_reply(s)[0] == EINVAL
        # A 64 MiB WRITE (over the 32 MiB maximum): the payload is drained.
        request(s, 1, 0, 64 << 20, b"\0" * (64 << 20), cookie=8)
        assert simple_reply(s) == (EINVAL, 8)
        request(s, 9, 0, 1, cookie=10)  # unknown command
        assert simple_reply(s) == (EINVAL, 10)
        request(s, 3, 0, 0, cookie=11)  # FLUSH still fine
        assert simple_reply(s) == (0, 11)
    elif check == "snap_write":
        request(s, 1, 0, 512, b"y" * 512)
        assert simple_reply(s) == (EPERM, 7)
    elif check == "hold":
        time.sleep(float(sys.argv[5]))
    request(s, 2, 0, 0)  # DISC
    s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
