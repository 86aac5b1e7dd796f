#!/usr/bin/env bash
# timeout: 180
# libtessera I/O through an OSD crash: queue I/O (QD 16, 4 KiB random reads
# and writes, every read and a final pass verified against the last
# acknowledged write of each block) runs while one OSD is killed with -9 and
# restarted on the same device. The client follows the maps, resends with the
# same request ids, and must end with zero verification errors and no failed
# I/O.
. "$(dirname "$0")/../lib.sh"
tsr_init client-io-failover

OSDCTL="$TSR_BIN/osdctl"
IOC="${TSR_CLIENT_TESTS:?}/io_check"
[ -x "$IOC" ] || tsr_fail "test program not found at $IOC"

mport=$(tsr_free_port)
MONADDR="127.0.0.1:$mport"
tsr_start mon "$TSR_BIN/tessera-mon" --id 1 --data "$TSR_DIR/mon" --listen "$MONADDR" \
	--osd-grace 3s
tsr_wait_port 127.0.0.1 "$mport" 10
start_osd() {
	tsr_start "osd$1" "$TSR_BIN/tessera-osd" --mon "$MONADDR" --device "$TSR_DIR/osd$1.img" \
		--size 128M --cores 2 --host "host$1" --io-buffers 128 --max-io 256K
}
osds_up() {
	local n
	n=$("$OSDCTL" -m "$MONADDR" --timeout 2s osd ls 2>/dev/null | grep -cw up) || return 1
	[ "$n" = "$1" ]
}
pgs_clean() {
	"$OSDCTL" -m "$MONADDR" --timeout 2s status 2>/dev/null | grep -q "16 active+clean"
}
for i in 1 2 3; do start_osd "$i"; done
tsr_wait_for 30 "3 OSDs up" -- osds_up 3
"$OSDCTL" -m "$MONADDR" pool create rbd --size 3 --min-size 2 --pg-count 16 ||
	tsr_fail "pool create"
tsr_wait_for 30 "PGs active+clean" -- pgs_clean

last_ops() {
	grep "^ops " "$TSR_DIR/load.log" | tail -n 1 | awk '{print $2}'
}
# progress N: the load completed N more operations than when called.
progress() {
	local base
	base=$(last_ops)
	base=${base:-0}
	tsr_wait_for 30 "load progress past $((base + $1)) ops" -- \
		bash -c "[ \"\$(grep '^ops ' '$TSR_DIR/load.log' | tail -n 1 | awk '{print \$2}')\" -ge $((base + $1)) ]"
}

tsr_start load "$IOC" load "$MONADDR" 30
tsr_wait_for 20 "load started" -- grep -q "^ops " "$TSR_DIR/load.log"
progress 2000
tsr_kill osd2
tsr_wait_for 30 "osd2 marked down" -- osds_up 2
progress 2000
start_osd 2
tsr_wait_for 30 "osd2 back up" -- osds_up 3
progress 2000
tsr_wait_for 60 "load finished" -- bash -c "! kill -0 $(tsr_pid load) 2>/dev/null"
tsr_stop load TERM 5
st=$?
cat "$TSR_DIR/load.log"
[ "$st" = 0 ] || tsr_fail "load exited $st"
grep -q "^load done: .* errors 0 " "$TSR_DIR/load.log" || tsr_fail "verification errors"
tsr_pass
