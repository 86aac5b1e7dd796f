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
. "$(dirname "$0")/../osd/osd_lib.sh"
tsr_init client-io-basic

IOC="${TSR_CLIENT_TESTS:?}/io_check"
[ -x "$IOC" ] || tsr_fail "test program not found at $IOC"

NPG=16
OSD_ARGS=(--size 256M --cores 2 --io-buffers 128 --max-io 256K)
osd_start_mon
osd_cluster_ready

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
