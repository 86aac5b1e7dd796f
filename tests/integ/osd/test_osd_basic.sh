#!/usr/bin/env bash
# One monitor and three OSDs (2 reactors each) on files in a temp dir; a pool
# of size 3, min_size 2. The test client writes objects, reads them back from
# the primary and from every replica, checks duplicate detection, compare-and-
# write, stat/discard/write-zeroes/delete, error replies and a garbage
# connection. Then every OSD is stopped with SIGTERM (must exit 0), restarted
# on the same files (same ids), and a resend of an old request must still be
# answered from the persisted PG log; the data verifies on every replica.
# Then kill -9 of one OSD during a write load (no acknowledged write lost,
# degraded writes go on, HEALTH_WARN with the degraded PGs; after its restart
# every PG is reported active+clean, HEALTH_OK, and every replica verifies),
# and kill -9 of two (HEALTH_ERR; a write waits, fails after --op-timeout, and
# completes if a member returns while it waits; nothing acknowledged is lost;
# with all three back every PG is clean again).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/osd_lib.sh"
tsr_init osd-basic
osd_need_cli

NPG=16
# Ephemeral ports (the default): a restarted OSD publishes new addresses,
# which clients and peers follow through the map. The waits for a member to
# return (a write waiting below min_size) need --op-timeout to outlast an OSD
# restart on a slow machine.
OSD_ARGS=(--size 128M --cores 2 --io-buffers 32 --max-io 256K --op-timeout 10s)
osd_start_mon --osd-grace 3s
osd_cluster_ready

"$CLI" run --mon "$MONADDR" --pool rbd --objects 40 --state "$TSR_DIR/state" ||
	tsr_fail "test client run"

# Clean shutdown: every OSD exits 0 on SIGTERM.
for i in 1 2 3; do
	tsr_stop "osd$i" TERM 60 || tsr_fail "osd$i did not exit cleanly on SIGTERM (status $?)"
	grep -q "stopped cleanly" "$TSR_DIR/osd$i.log" || tsr_fail "osd$i: no clean stop logged"
done

waits_logged() {
	[ "$(grep -c "write waits" "$TSR_DIR/osd1.log")" -ge "$1" ]
}
# HEALTH_WARN and all 16 PGs undersized and degraded.
health_degraded() {
	local json n
	json=$("$OSDCTL" -m "$MONADDR" --timeout 2s health 2>/dev/null) || return 1
	[ "$(head -n 1 <<<"$json")" = HEALTH_WARN ] || return 1
	json=$("$OSDCTL" -m "$MONADDR" --timeout 2s pg ls --format json 2>/dev/null) || return 1
	n=$(grep -o '"state":"active+undersized+degraded"' <<<"$json" | wc -l)
	[ "$n" = 16 ]
}

# Restart on the same files: same uuids, same ids, PG logs reloaded.
for i in 1 2 3; do start_osd "$i"; done
for i in 1 2 3; do tsr_wait_for 60 "osd$i booted again" -- boots "$i" 2; done
tsr_wait_for 60 "3 OSDs up again" -- osds_up 3
out=$("$OSDCTL" -m "$MONADDR" osd ls 2>/dev/null)
tsr_log "osd ls after restart: $(grep -c "host" <<<"$out") lines with a host"
out=$("$OSDCTL" -m "$MONADDR" osd ls --format json) || tsr_fail "osd ls --format json"
grep -q '"id":3' <<<"$out" && tsr_fail "a restarted OSD got a new id"
tsr_wait_for 60 "PGs active+clean after restart" -- pgs_clean

"$CLI" resend --mon "$MONADDR" --pool rbd --state "$TSR_DIR/state" ||
	tsr_fail "resend after restart"
"$CLI" verify --mon "$MONADDR" --pool rbd --objects 40 || tsr_fail "verify after restart"

# Recovery: osd3 misses writes (overwrites of every object, new ones, a
# delete) while it is down; when it comes back, peering brings its PGs up to
# date: pulls where it is the primary, pushes where it is a replica. Then
# every member holds the same data.
osd_stop 3 2
osd_write_all 40 2000 "writes while osd3 is down"
"$CLI" delete-one --mon "$MONADDR" --pool rbd --oid 39 --expect 0 || tsr_fail "delete"
osd_restart 3
tsr_wait_for 60 "3 OSDs up after osd3 returned" -- osds_up_exact 3
"$CLI" verify --mon "$MONADDR" --pool rbd --objects 39 --base 2000 --wait $OSD_WAIT ||
	tsr_fail "replicas differ after recovery"
"$CLI" absent --mon "$MONADDR" --pool rbd --oid 39 --wait $OSD_WAIT ||
	tsr_fail "the deleted object came back"
grep -qE "pulling|pushing" "$TSR_DIR/osd1.log" "$TSR_DIR/osd2.log" "$TSR_DIR/osd3.log" ||
	tsr_fail "no recovery was logged"
tsr_log "osd3 recovered the writes it missed (pull and push)"

# Divergence: osd1 applies a write locally and dies before replicating it
# (--debug-hold-repops, then kill -9); no client was answered. The others go
# on and overwrite the object. When osd1 returns, peering rolls its copy back
# to the authoritative one and drops the entry from its log, so the client's
# resend of the lost request is applied (not answered from a log that lies).
tsr_stop osd1 TERM 60 || tsr_fail "osd1 did not exit cleanly"
osd_restart 1 --debug-hold-repops
tsr_wait_for 60 "3 OSDs up" -- osds_up_exact 3
hid=$(grep -o "booted as osd\.[0-9]*" "$TSR_DIR/osd1.log" | tail -n 1 | cut -d. -f2)
"$CLI" hang-write --mon "$MONADDR" --pool rbd --oid "$hid" --state "$TSR_DIR/hung" ||
	tsr_fail "hang-write"
osd_kill 1 2
hoid=$(cut -d' ' -f3 "$TSR_DIR/hung")
"$CLI" write-one --mon "$MONADDR" --pool rbd --oid "$hoid" --base 4343 --expect 0 ||
	tsr_fail "overwrite on the new primary"
osd_restart 1
tsr_wait_for 60 "3 OSDs up" -- osds_up_exact 3
"$CLI" check-one --mon "$MONADDR" --pool rbd --oid "$hoid" --base 4343 --wait $OSD_WAIT ||
	tsr_fail "the diverged copy was not rolled back"
grep -q "diverged: rolling back" "$TSR_DIR/osd1.log" || tsr_fail "no divergence was logged"
"$CLI" resend-hung --mon "$MONADDR" --pool rbd --state "$TSR_DIR/hung" --wait $OSD_WAIT ||
	tsr_fail "the resend of the unacknowledged write"
tsr_log "a diverged write was rolled back and its resend applied"

# kill -9 one OSD in the middle of a write load: every write is resent until
# acknowledged, and afterwards every object holds its last acknowledged write
# on every remaining member: no acknowledged write is lost.
load_start --objects 30 --oid 3000 --base 9000
tsr_wait_for 60 "the write load is running" -- acks 100
tsr_kill osd3
load_wait || tsr_fail "the write load failed after kill -9"
tsr_wait_for 60 "osd3 marked down" -- osds_up_exact 2
"$CLI" verify-load --mon "$MONADDR" --pool rbd --state "$TSR_DIR/load" --wait $OSD_WAIT ||
	tsr_fail "an acknowledged write was lost after kill -9"
"$CLI" verify --mon "$MONADDR" --pool rbd --objects 39 --base 2000 --wait $OSD_WAIT ||
	tsr_fail "verify after kill -9"
"$CLI" write-one --mon "$MONADDR" --pool rbd --oid 4000 --expect 0 ||
	tsr_fail "a degraded write (2 of 3 up) failed"
# Health shows the degraded PGs while osd3 is down (every PG has a member on it).
tsr_wait_for 60 "HEALTH_WARN with 16 degraded PGs" -- health_degraded
"$OSDCTL" -m "$MONADDR" health | tee "$TSR_DIR/health.down" >&2
head -n 1 "$TSR_DIR/health.down" | grep -qx HEALTH_WARN || tsr_fail "health is not HEALTH_WARN"
grep -q "PG_DEGRADED" "$TSR_DIR/health.down" || tsr_fail "health does not name PG_DEGRADED"
tsr_log "after kill -9 of osd3: no acknowledged write lost, degraded writes work, HEALTH_WARN"

# osd3 returns: recovery brings every PG back to active+clean (as reported by
# the primaries), health to OK, and every replica holds every acknowledged write.
osd_restart 3
tsr_wait_for 90 "every PG active+clean (reported) and HEALTH_OK after osd3 returned" -- all_clean
tsr_log "every PG active+clean and HEALTH_OK ${TSR_WAITED_MS} ms after osd3 booted"
"$CLI" verify-load --mon "$MONADDR" --pool rbd --state "$TSR_DIR/load" ||
	tsr_fail "after recovery from kill -9: a replica lacks an acknowledged write"
"$CLI" verify --mon "$MONADDR" --pool rbd --objects 39 --base 2000 ||
	tsr_fail "after recovery from kill -9: replicas differ"
"$CLI" check-one --mon "$MONADDR" --pool rbd --oid 4000 --base 4242 ||
	tsr_fail "after recovery from kill -9: the degraded write is not on every replica"

# min_size 2: kill -9 two of the three OSDs. A write waits, then fails with
# STATUS_EPGINACTIVE (22) after --op-timeout; health is an error (PGs below
# min_size); a write waiting when a member comes back completes; no
# acknowledged write was lost; with the third back every PG is clean again.
tsr_kill osd2
osd_kill 3 1
tsr_wait_for 60 "HEALTH_ERR with PGs below min_size" -- health_inactive "$TSR_DIR/health.inactive"
cat "$TSR_DIR/health.inactive" >&2
"$CLI" write-one --mon "$MONADDR" --pool rbd --oid 5000 --expect 22 ||
	tsr_fail "a write below min_size did not fail with EPGINACTIVE"
nwaits=$(grep -c "write waits" "$TSR_DIR/osd1.log")
tsr_start waiter "$CLI" write-one --mon "$MONADDR" --pool rbd --oid 5001 --expect 0
tsr_wait_for 60 "a write waiting for min_size" -- waits_logged $((nwaits + 1))
start_osd 2
tsr_stop waiter 0 120 || tsr_fail "the waiting write did not complete once osd2 came back"
tsr_log "a write below min_size waited and completed when a member returned"
tsr_wait_for 60 "osd2 up again" -- osds_up_exact 2
"$CLI" verify-load --mon "$MONADDR" --pool rbd --state "$TSR_DIR/load" --wait $OSD_WAIT ||
	tsr_fail "an acknowledged write was lost with two OSDs killed"
"$CLI" verify --mon "$MONADDR" --pool rbd --objects 39 --base 2000 --wait $OSD_WAIT ||
	tsr_fail "verify after two OSDs were killed"
"$CLI" check-one --mon "$MONADDR" --pool rbd --oid 5001 --base 4242 --wait $OSD_WAIT ||
	tsr_fail "the write that waited for min_size is not on every member"
start_osd 3
tsr_wait_for 90 "every PG active+clean and HEALTH_OK with all three back" -- all_clean
"$CLI" verify-load --mon "$MONADDR" --pool rbd --state "$TSR_DIR/load" ||
	tsr_fail "an acknowledged write is missing on a replica after both returned"
"$CLI" check-one --mon "$MONADDR" --pool rbd --oid 5001 --base 4242 ||
	tsr_fail "the write that waited for min_size is not on every replica"
tsr_log "two of three killed: writes waited or failed clearly, nothing acknowledged lost"

osd_stop_all
tsr_pass
