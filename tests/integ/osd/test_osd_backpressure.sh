#!/usr/bin/env bash
# Replica back-pressure: three OSDs with very few I/O buffers (--io-buffers 6
# of 1 MiB per reactor, so OSD_BUF_RESERVE is 1) and a size-3 pool take a
# QD32 import of 1 MiB writes. Replicas run out of buffers all the time; a
# RepOp must then wait for one (its connection stops reading) instead of
# being refused, so: the import and the export succeed and compare equal, no
# replica refuses a RepOp, no primary fails a write for a replica, and no PG
# peers again during the import. Before the fix, a refused RepOp answered the
# client STATUS_EIO and re-peered the PG, over and over.
. "$(dirname "$0")/../lib.sh"
tsr_init osd-backpressure

OSDCTL="$TSR_BIN/osdctl"
MON="$TSR_BIN/tessera-mon"
OSD="$TSR_BIN/tessera-osd"
SIZE_MB=${TSR_BP_SIZE_MB:-48}

mport=$(tsr_free_port)
MONADDR="127.0.0.1:$mport"
tsr_start mon "$MON" --id 1 --data "$TSR_DIR/mon" --listen "$MONADDR" --osd-grace 5s
tsr_wait_port 127.0.0.1 "$mport" 20 mon
for i in 1 2 3; do
	tsr_start "osd$i" "$OSD" --mon "$MONADDR" --device "$TSR_DIR/osd$i.img" --size 256M \
		--cores 1 --host "host$i" --io-buffers "${TSR_BP_IO_BUFFERS:-6}" --max-io 1M
done

osds_up() {
	local n
	n=$("$OSDCTL" -m "$MONADDR" --timeout 2s osd ls 2>/dev/null | grep -cw up) || return 1
	[ "$n" -ge 3 ]
}
pgs_clean() {
	"$OSDCTL" -m "$MONADDR" --timeout 2s status 2>/dev/null | grep -q "8 active+clean"
}
peerings() {
	cat "$TSR_DIR"/osd[123].log | grep -c "active after peering"
}

tsr_wait_for 30 "3 OSDs up" -- osds_up
"$OSDCTL" -m "$MONADDR" pool create rbd --size 3 --min-size 2 --pg-count 8 >/dev/null ||
	tsr_fail "pool create"
tsr_wait_for 60 "PGs active+clean" -- pgs_clean

head -c $((SIZE_MB * 1024 * 1024)) /dev/urandom >"$TSR_DIR/in.raw" || tsr_fail "input file"
before=$(peerings)
t0=$(date +%s%N)
"$OSDCTL" -m "$MONADDR" volume import "$TSR_DIR/in.raw" v1 --iodepth 32 ||
	tsr_fail "volume import (QD32) failed"
t1=$(date +%s%N)
after=$(peerings)
tsr_log "import of $SIZE_MB MiB at QD32: $(( (t1 - t0) / 1000000 )) ms," \
	"$(( SIZE_MB * 1000000000 / (t1 - t0 + 1) )) MiB/s"

"$OSDCTL" -m "$MONADDR" volume export v1 "$TSR_DIR/out.raw" --iodepth 32 ||
	tsr_fail "volume export failed"
cmp "$TSR_DIR/in.raw" "$TSR_DIR/out.raw" || tsr_fail "exported data differs from the import"

if grep -E "RepOp on .* failed|a replica failed" "$TSR_DIR"/osd[123].log >&2; then
	tsr_fail "a RepOp was refused or failed during the import"
fi
tsr_assert_eq "$after" "$before" "PG peerings during the import"
# The back-pressure path really ran (replicas waited for buffers).
waits=$(cat "$TSR_DIR"/osd[123].log | grep -c "waits for a buffer" || true)
tsr_log "peerings before/after: $before/$after; replica buffer waits logged: $waits"

for i in 1 2 3; do
	tsr_stop "osd$i" TERM 30 || tsr_fail "osd$i did not exit cleanly (status $?)"
done
tsr_stop mon TERM 20 || tsr_fail "the monitor did not exit cleanly (status $?)"
tsr_pass
