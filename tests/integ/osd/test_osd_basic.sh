#!/usr/bin/env bash
# One monitor and three OSDs (2 reactors each) on files in a temp dir; a pool
# of size 3, min_size 2. The test client writes objects, reads them back from
# the primary and from every replica, checks duplicate detection, compare-and-
# write, stat/discard/write-zeroes/delete, error replies and a garbage
# connection. Then every OSD is stopped with SIGTERM (must exit 0), restarted
# on the same files (same ids), and a resend of an old request must still be
# answered from the persisted PG log; the data verifies on every replica.
. "$(dirname "$0")/../lib.sh"
tsr_init osd-basic

OSDCTL="$TSR_BIN/osdctl"
MON="$TSR_BIN/tessera-mon"
OSD="$TSR_BIN/tessera-osd"
CLI="${TSR_OSD_TESTCLI:-$(dirname "$TSR_BIN")/tests/integ/osd/tessera-osd-testcli}"
[ -x "$CLI" ] || tsr_fail "test client not found at $CLI"

mport=$(tsr_free_port)
MONADDR="127.0.0.1:$mport"
tsr_start mon "$MON" --id 1 --data "$TSR_DIR/mon" --listen "$MONADDR" --osd-grace 30s
tsr_wait_port 127.0.0.1 "$mport" 10

declare -A OPORT=()
start_osd() {
	local i=$1
	[ -n "${OPORT[$i]:-}" ] || { OPORT[$i]=$(tsr_free_port); tsr_free_port >/dev/null; }
	tsr_start "osd$i" "$OSD" --mon "$MONADDR" --device "$TSR_DIR/osd$i.img" --size 128M \
		--cores 2 --host "host$i" --port-base "${OPORT[$i]}" --io-buffers 16 --max-io 256K \
		--op-timeout 5s
}

osds_up() {
	local n
	n=$("$OSDCTL" -m "$MONADDR" --timeout 2s osd ls 2>/dev/null | grep -cw up) || return 1
	[ "$n" -ge "$1" ]
}

pgs_clean() {
	"$OSDCTL" -m "$MONADDR" --timeout 2s status 2>/dev/null | grep -q "16 active+clean"
}

for i in 1 2 3; do start_osd "$i"; done
tsr_wait_for 30 "3 OSDs up" -- osds_up 3
"$OSDCTL" -m "$MONADDR" pool create rbd --size 3 --min-size 2 --pg-count 16 ||
	tsr_fail "pool create"
tsr_wait_for 30 "PGs active+clean" -- pgs_clean

"$CLI" run --mon "$MONADDR" --pool rbd --objects 40 --state "$TSR_DIR/state" ||
	tsr_fail "test client run"

# Clean shutdown: every OSD exits 0 on SIGTERM.
for i in 1 2 3; do
	tsr_stop "osd$i" TERM 20 || tsr_fail "osd$i did not exit cleanly on SIGTERM (status $?)"
	grep -q "stopped cleanly" "$TSR_DIR/osd$i.log" || tsr_fail "osd$i: no clean stop logged"
done

# Restart on the same files: same uuids, same ids, PG logs reloaded.
for i in 1 2 3; do start_osd "$i"; done
tsr_wait_for 30 "3 OSDs up again" -- osds_up 3
n=$("$OSDCTL" -m "$MONADDR" osd ls 2>/dev/null | grep -c "host")
tsr_log "osd ls after restart: $n lines with a host"
"$OSDCTL" -m "$MONADDR" osd ls --format json | grep -q '"id":3' &&
	tsr_fail "a restarted OSD got a new id"
tsr_wait_for 30 "PGs active+clean after restart" -- pgs_clean

"$CLI" resend --mon "$MONADDR" --pool rbd --state "$TSR_DIR/state" ||
	tsr_fail "resend after restart"
"$CLI" verify --mon "$MONADDR" --pool rbd --objects 40 || tsr_fail "verify after restart"

for i in 1 2 3; do
	tsr_stop "osd$i" TERM 20 || tsr_fail "osd$i did not exit cleanly (second stop)"
done
tsr_pass
