#!/usr/bin/env python3
"""Writes files into DIR, fsyncing each (and the directory) and only then
appending "name sha256 time" to LOG, until STOP exists or COUNT files are written.
Any I/O error is printed and exits 1: the filesystem above a block device
must not see errors while an OSD dies and comes back.

Usage: nbd_fsync_writer.py DIR LOG STOP COUNT
"""
import hashlib, os, sys, time

d, log, stop, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
os.makedirs(d, exist_ok=True)
dfd = os.open(d, os.O_RDONLY)
with open(log, "a") as lg:
    for i in range(count):
        if os.path.exists(stop):
            break
        data = os.urandom(16384 + (i * 7919) % 200000)
        name = f"f{i:05d}"
        try:
            fd = os.open(os.path.join(d, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, data)
            os.fsync(fd)
            os.close(fd)
            os.fsync(dfd)
        except OSError as e:
            print(f"writer: {name}: {e}", flush=True)
            sys.exit(1)
        lg.write(f"{name} {hashlib.sha256(data).hexdigest()} {time.time():.3f}\n")
        lg.flush()
print(f"writer: done", flush=True)
