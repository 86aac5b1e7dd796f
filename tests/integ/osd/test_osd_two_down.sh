#!/usr/bin/env bash
# Two of three OSDs down, the survivor stale: one monitor and three OSDs, pool
# size 3, min_size 2. osd1 is stopped and every object is rewritten (each
# write acknowledged by osd2 and osd3 only); then osd2 and osd3 are killed
# with kill -9 and osd1 comes back alone. Its copies are stale, and it cannot
# know it: a read must not return them. Below min_size a read (like a write)
# waits and fails with STATUS_EPGINACTIVE after --op-timeout; health is
# HEALTH_ERR and every PG incomplete (the monitor's map history shows that the
# members that could have taken writes since osd1 left are all down). A read waiting when osd2 returns completes with the newest data
# (peering pulls it from osd2), and once osd3 is back every PG is clean and
# every member holds the acknowledged writes.
. "$(dirname "$0")/../lib.sh"
tsr_init osd-two-down

OSDCTL="$TSR_BIN/osdctl"
MON="$TSR_BIN/tessera-mon"
OSD="$TSR_BIN/tessera-osd"
CLI="${TSR_OSD_TESTCLI:-$(dirname "$TSR_BIN")/tests/integ/osd/tessera-osd-testcli}"
[ -x "$CLI" ] || tsr_fail "test client not found at $CLI"

mport=$(tsr_free_port)
MONADDR="127.0.0.1:$mport"
tsr_start mon "$MON" --id 1 --data "$TSR_DIR/mon" --listen "$MONADDR" --osd-grace 3s
tsr_wait_port 127.0.0.1 "$mport" 10

start_osd() {
	tsr_start "osd$1" "$OSD" --mon "$MONADDR" --device "$TSR_DIR/osd$1.img" --size 128M \
		--cores 2 --host "host$1" --io-buffers 32 --max-io 256K --op-timeout 4s
}
osds_up_exact() {
	local n
	n=$("$OSDCTL" -m "$MONADDR" --timeout 2s osd ls 2>/dev/null | grep -cw up)
	[ "$n" = "$1" ]
}
boots() {
	[ "$(grep -c "booted as" "$TSR_DIR/osd$1.log")" -ge "$2" ]
}
health_inactive() {
	"$OSDCTL" -m "$MONADDR" --timeout 2s health 2>/dev/null >"$TSR_DIR/health"
	head -n 1 "$TSR_DIR/health" | grep -qx HEALTH_ERR && grep -q PG_AVAILABILITY "$TSR_DIR/health"
}
all_clean() {
	local n
	n=$("$OSDCTL" -m "$MONADDR" --timeout 2s pg ls --format json 2>/dev/null |
		grep -o '"state":"active+clean","state_source":"reported"' | wc -l)
	[ "$n" = 8 ] || return 1
	[ "$("$OSDCTL" -m "$MONADDR" --timeout 2s health 2>/dev/null | head -n 1)" = HEALTH_OK ]
}
reads_waiting() {
	grep -q "read waits" "$TSR_DIR/osd1.log"
}

for i in 1 2 3; do start_osd "$i"; done
tsr_wait_for 30 "3 OSDs up" -- osds_up_exact 3
"$OSDCTL" -m "$MONADDR" pool create rbd --size 3 --min-size 2 --pg-count 8 ||
	tsr_fail "pool create"
"$CLI" rewrite --mon "$MONADDR" --pool rbd --objects 20 --base 1000 || tsr_fail "first writes"

tsr_stop osd1 TERM 20 || tsr_fail "osd1 did not exit cleanly"
tsr_wait_for 30 "osd1 marked down" -- osds_up_exact 2
"$CLI" rewrite --mon "$MONADDR" --pool rbd --objects 20 --base 2000 ||
	tsr_fail "writes while osd1 is down"
tsr_kill osd2
tsr_kill osd3
tsr_wait_for 30 "osd2 and osd3 marked down" -- osds_up_exact 0
start_osd 1
tsr_wait_for 30 "osd1 booted again" -- boots 1 2
tsr_wait_for 30 "osd1 up alone" -- osds_up_exact 1
tsr_wait_for 30 "HEALTH_ERR with PGs below min_size" -- health_inactive
cat "$TSR_DIR/health" >&2
# The members that acknowledged the last writes (osd2, osd3) are both gone:
# every PG is incomplete (from the map history), and health says so.
n=$("$OSDCTL" -m "$MONADDR" --timeout 2s pg ls --format json | grep -o '"state":"incomplete"' |
	wc -l)
tsr_assert_eq "$n" 8 "PGs shown incomplete with only the stale osd1 up"
grep -q "8 incomplete" "$TSR_DIR/health" || tsr_fail "health does not count the incomplete PGs"

# Alone and stale: neither the stale nor any data; a clear error after the timeout.
"$CLI" read-one --mon "$MONADDR" --pool rbd --oid 0 --expect 22 ||
	tsr_fail "a read below min_size on a stale survivor did not fail with EPGINACTIVE"
"$CLI" write-one --mon "$MONADDR" --pool rbd --oid 1 --expect 22 ||
	tsr_fail "a write below min_size did not fail with EPGINACTIVE"

# A read waiting when osd2 returns gets the newest acknowledged write.
"$CLI" read-one --mon "$MONADDR" --pool rbd --oid 2 --base 2002 --expect 0 &
bg=$!
tsr_wait_for 20 "a read waiting for min_size" -- reads_waiting
start_osd 2
wait "$bg" || tsr_fail "the waiting read did not return the newest write once osd2 came back"
tsr_wait_for 30 "osd2 up again" -- osds_up_exact 2
# The OSD re-peers an incomplete PG every second and reports every second.
none_incomplete() {
	local json
	json=$("$OSDCTL" -m "$MONADDR" --timeout 2s pg ls --format json 2>/dev/null) || return 1
	! grep -q '"incomplete"' <<<"$json"
}
tsr_wait_for 15 "no PG incomplete with osd2 (which held the newest data) back" -- none_incomplete
"$CLI" verify --mon "$MONADDR" --pool rbd --objects 20 --base 2000 --wait 100 ||
	tsr_fail "an acknowledged write is missing with osd1 and osd2 up"

start_osd 3
tsr_wait_for 60 "every PG active+clean and HEALTH_OK" -- all_clean
"$CLI" verify --mon "$MONADDR" --pool rbd --objects 20 --base 2000 ||
	tsr_fail "members differ with all three back"
tsr_log "two of three down with a stale survivor: I/O failed clearly, nothing acknowledged lost"

for i in 1 2 3; do
	tsr_stop "osd$i" TERM 20 || tsr_fail "osd$i did not exit cleanly"
done
tsr_pass
