#!/usr/bin/env bash
# timeout: 240
# libtessera I/O on a real cluster: one monitor, three OSDs on files, pool rbd
# (size 3, min_size 2). io_check basic runs every I/O call (sync, aio, queue
# with the fd protocol driven by poll()) with data verification, error cases
# (unaligned, past the end, a removed volume), compare-and-write match and
# miscompare; io_check threads runs 8 threads of aio on one volume with
# verification. Then every OSD is killed and a write must fail with
# -ETIMEDOUT after op_timeout (3 s), not hang (bounded here by `timeout`).
. "$(dirname "$0")/../lib.sh"
tsr_init client-io-basic

OSDCTL="$TSR_BIN/osdctl"
IOC="${TSR_CLIENT_TESTS:?}/io_check"
[ -x "$IOC" ] || tsr_fail "test program not found at $IOC"

mport=$(tsr_free_port)
MONADDR="127.0.0.1:$mport"
tsr_start mon "$TSR_BIN/tessera-mon" --id 1 --data "$TSR_DIR/mon" --listen "$MONADDR"
tsr_wait_port 127.0.0.1 "$mport" 10
for i in 1 2 3; do
	tsr_start "osd$i" "$TSR_BIN/tessera-osd" --mon "$MONADDR" --device "$TSR_DIR/osd$i.img" \
		--size 256M --cores 2 --host "host$i" --io-buffers 128 --max-io 256K
done
osds_up() {
	local n
	n=$("$OSDCTL" -m "$MONADDR" --timeout 2s osd ls 2>/dev/null | grep -cw up) || return 1
	[ "$n" -ge 3 ]
}
pgs_clean() {
	"$OSDCTL" -m "$MONADDR" --timeout 2s status 2>/dev/null | grep -q "16 active+clean"
}
tsr_wait_for 30 "3 OSDs up" -- osds_up
"$OSDCTL" -m "$MONADDR" pool create rbd --size 3 --min-size 2 --pg-count 16 ||
	tsr_fail "pool create"
tsr_wait_for 30 "PGs active+clean" -- pgs_clean

run() {
	local name=$1 limit=$2
	shift 2
	timeout "$limit" "$IOC" "$@" "$MONADDR" >"$TSR_DIR/$name.out" 2>"$TSR_DIR/$name.err"
	local rc=$?
	cat "$TSR_DIR/$name.out"
	cat "$TSR_DIR/$name.err" >&2
	[ "$rc" = 124 ] && tsr_fail "io_check $name hung"
	[ "$rc" = 0 ] || tsr_fail "io_check $name exited $rc"
}
run basic 120 basic
run threads 120 threads

for i in 1 2 3; do tsr_kill "osd$i"; done
run unreachable 40 unreachable
tsr_pass
