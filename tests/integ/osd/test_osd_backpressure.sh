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
. "$(dirname "$0")/osd_lib.sh"
tsr_init osd-backpressure

SIZE_MB=${TSR_BP_SIZE_MB:-48}
NPG=8
OSD_ARGS=(--size 256M --cores 1 --io-buffers "${TSR_BP_IO_BUFFERS:-6}" --max-io 1M)
osd_start_mon --osd-grace 5s
osd_start_cluster 3
peerings() {
	cat "$TSR_DIR"/osd[123].log | grep -c "active after peering"
}
osd_pool_create 3 2
# Reported by every primary (not only computed from the map): peering is over
# before the peerings are counted.
tsr_wait_for 60 "PGs active+clean" -- all_clean

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

osd_stop_all
tsr_stop mon TERM 60 || tsr_fail "the monitor did not exit cleanly (status $?)"
tsr_pass
