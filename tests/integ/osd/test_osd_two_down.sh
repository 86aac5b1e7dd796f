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
. "$(dirname "$0")/osd_lib.sh"
tsr_init osd-two-down
osd_need_cli

NPG=8
# --op-timeout: a read waiting below min_size must outlast the restart of a
# member on a slow machine (and the reads expected to fail take that long).
OSD_ARGS=(--size 128M --cores 2 --io-buffers 32 --max-io 256K --op-timeout 10s)
osd_start_mon --osd-grace 3s
# reads_waiting N: osd1 logged more than N waiting reads.
reads_waiting() {
	[ "$(grep -c "read waits" "$TSR_DIR/osd1.log")" -gt "$1" ]
}

osd_start_cluster 3
osd_pool_create 3 2
osd_write_all 20 1000 "first writes"

osd_stop 1 2
osd_write_all 20 2000 "writes while osd1 is down"
tsr_kill osd2
osd_kill 3 0
osd_restart 1
tsr_wait_for 60 "osd1 up alone" -- osds_up_exact 1
tsr_wait_for 60 "HEALTH_ERR with PGs below min_size" -- health_inactive "$TSR_DIR/health"
cat "$TSR_DIR/health" >&2
# The members that acknowledged the last writes (osd2, osd3) are both gone:
# every PG is incomplete (from the map history), and health says so.
json=$("$OSDCTL" -m "$MONADDR" --timeout 2s pg ls --format json) || tsr_fail "pg ls"
n=$(grep -o '"state":"incomplete"' <<<"$json" | wc -l)
tsr_assert_eq "$n" 8 "PGs shown incomplete with only the stale osd1 up"
grep -q "8 incomplete" "$TSR_DIR/health" || tsr_fail "health does not count the incomplete PGs"

# Alone and stale: neither the stale nor any data; a clear error after the timeout.
"$CLI" read-one --mon "$MONADDR" --pool rbd --oid 0 --expect 22 ||
	tsr_fail "a read below min_size on a stale survivor did not fail with EPGINACTIVE"
"$CLI" write-one --mon "$MONADDR" --pool rbd --oid 1 --expect 22 ||
	tsr_fail "a write below min_size did not fail with EPGINACTIVE"

# A read waiting when osd2 returns gets the newest acknowledged write.
# (The reads above logged waits too: count only the new one.)
nwaits=$(grep -c "read waits" "$TSR_DIR/osd1.log")
tsr_start reader "$CLI" read-one --mon "$MONADDR" --pool rbd --oid 2 --base 2002 --expect 0
tsr_wait_for 60 "a read waiting for min_size" -- reads_waiting "$nwaits"
start_osd 2
tsr_stop reader 0 120 || tsr_fail "the waiting read did not return the newest write once osd2 came back"
tsr_wait_for 60 "osd2 up again" -- osds_up_exact 2
# The OSD re-peers an incomplete PG every second and reports every second.
none_incomplete() {
	local json
	json=$("$OSDCTL" -m "$MONADDR" --timeout 2s pg ls --format json 2>/dev/null) || return 1
	! grep -q '"incomplete"' <<<"$json"
}
tsr_wait_for 60 "no PG incomplete with osd2 (which held the newest data) back" -- none_incomplete
"$CLI" verify --mon "$MONADDR" --pool rbd --objects 20 --base 2000 --wait $OSD_WAIT ||
	tsr_fail "an acknowledged write is missing with osd1 and osd2 up"

start_osd 3
tsr_wait_for 120 "every PG active+clean and HEALTH_OK" -- all_clean
"$CLI" verify --mon "$MONADDR" --pool rbd --objects 20 --base 2000 ||
	tsr_fail "members differ with all three back"
tsr_log "two of three down with a stale survivor: I/O failed clearly, nothing acknowledged lost"

osd_stop_all
tsr_pass
