#!/usr/bin/env bash
# timeout: 180
# libtessera I/O through an OSD crash: queue I/O (QD 16, 4 KiB random reads
# and writes, every read and a final pass verified against the last
# acknowledged write of each block) runs while one OSD is killed with -9 and
# restarted on the same device. The client follows the maps, resends with the
# same request ids, and must end with zero verification errors and no failed
# I/O.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../osd/osd_lib.sh"
tsr_init client-io-failover

IOC="${TSR_CLIENT_TESTS:?}/io_check"
[ -x "$IOC" ] || tsr_fail "test program not found at $IOC"

NPG=16
OSD_ARGS=(--size 128M --cores 2 --io-buffers 128 --max-io 256K)
osd_start_mon --osd-grace 3s
osd_cluster_ready

last_ops() {
	grep "^ops " "$TSR_DIR/load.log" | tail -n 1 | awk '{print $2}'
}
# progress N: the load completed N more operations than when called.
progress() {
	local base
	base=$(last_ops)
	base=${base:-0}
	tsr_wait_for 60 "load progress past $((base + $1)) ops" -- \
		bash -c "[ \"\$(grep '^ops ' '$TSR_DIR/load.log' | tail -n 1 | awk '{print \$2}')\" -ge $((base + $1)) ]"
}

# The load runs until told to stop (SIGUSR1, then it drains and verifies
# every block), so that it is still running at each step however slow the
# machine; 300 s is only a bound.
tsr_start load "$IOC" load "$MONADDR" 300
tsr_wait_for 60 "load started" -- grep -q "^ops " "$TSR_DIR/load.log"
progress 2000
tsr_kill osd2
tsr_wait_for 60 "osd2 marked down" -- osds_up_exact 2
progress 2000
start_osd 2
tsr_wait_for 60 "osd2 back up" -- osds_up_exact 3
progress 2000
tsr_is_running load || tsr_fail "the load ended before it was told to stop"
kill -USR1 "$(tsr_pid load)"
tsr_stop load 0 120
st=$?
cat "$TSR_DIR/load.log"
[ "$st" = 0 ] || tsr_fail "load exited $st"
grep -q "^load done: .* errors 0 " "$TSR_DIR/load.log" || tsr_fail "verification errors"
tsr_pass
