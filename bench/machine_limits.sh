# Sourced by bench scripts: this machine's own limits, measured in the run
# that compares against them. Sets RAW_W and RAW_R (MB/s, 1 GiB sequential
# with O_DIRECT in $1) and LOOP (MB/s, 2 GiB through one loopback TCP
# connection). Progress goes to stderr.
measure_machine_limits() {
  local dir=$1
  echo "== raw disk: 1 GiB sequential write then read with O_DIRECT in $dir" >&2
  _dd_rate() { grep -Eo '[0-9.]+ [GM]B/s' | tail -1 | awk '{ v=$1; if ($2 == "GB/s") v *= 1000; print v }'; }
  RAW_W=$(dd if=/dev/zero of="$dir/raw" bs=4M count=256 oflag=direct conv=fdatasync 2>&1 | _dd_rate)
  RAW_R=$(dd if="$dir/raw" of=/dev/null bs=4M iflag=direct 2>&1 | _dd_rate)
  rm -f "$dir/raw"
  echo "== loopback TCP: 2 GiB through one connection" >&2
  LOOP=$(python3 - <<'PY'
import socket, threading, time
N = 2 << 30
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
def sink():
    c, _ = srv.accept(); got = 0
    while got < N:
        b = c.recv(1 << 20)
        if not b: break
        got += len(b)
    c.close()
t = threading.Thread(target=sink); t.start()
s = socket.create_connection(srv.getsockname()); buf = b"\0" * (1 << 20)
t0 = time.time(); sent = 0
while sent < N:
    s.sendall(buf); sent += len(buf)
s.close(); t.join()
print(f"{N / (time.time() - t0) / 1e6:.0f}")
PY
)
  echo "== raw write ${RAW_W} MB/s, raw read ${RAW_R} MB/s, loopback ${LOOP} MB/s" >&2
}
