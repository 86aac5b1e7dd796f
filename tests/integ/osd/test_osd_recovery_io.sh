#!/usr/bin/env bash
# Client I/O during background recovery (phase 2b, first slice): osd3 misses
# writes while it is down; when it returns, the PGs where it is a replica go
# active at once and push it what it misses in the background, slowly
# (--recovery-max-bytes-per-sec). While such a PG is still reported
# active+recovering, objects of that PG are written and read back (verified);
# a pg ls after each round must still show the PG recovering: the order of the
# observations, not timing, is the proof. Then every PG becomes active+clean,
# HEALTH_OK, and every object verifies on every member (the objects written
# during the recovery included: they were pushed again).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/osd_lib.sh"
tsr_init osd-recovery-io
osd_need_cli
NPG=16
NOBJ=300

OSD_ARGS=(--size 128M --cores 2 --io-buffers 32 --max-io 64K --object-size 256K --op-timeout 10s
	--recovery-max-bytes-per-sec 256K --no-recovery-blocking-pull)
osd_start_mon --osd-grace 3s

osd_cluster_with_data 2

osd_stop 3 2
osd_write_all $NOBJ 5000 "writes while osd3 is down"

osd_restart 3
tsr_wait_for 60 "a PG reported active+recovering" -- have_pg_in recovering
seed=$(pg_seed_in recovering)
[ -n "$seed" ] || tsr_fail "the recovering PG vanished before it could be used"
echo "PG seed $seed is recovering: client I/O on it"

# Rounds of write + verified read-back on objects of that PG: one not written
# while osd3 was down (new) and one it misses (rewritten, not yet pushed or
# pushed already). Each round is followed by a pg ls.
osd_io_rounds "$seed" recovering recovery
grep -q "recovering it in the background" "$TSR_DIR"/osd*.log ||
	tsr_fail "no background recovery was logged"

tsr_wait_for 120 "PGs active+clean and HEALTH_OK after recovery" -- all_clean
grep -q "recovered in the background" "$TSR_DIR"/osd*.log ||
	tsr_fail "no background recovery completion was logged"
"$CLI" verify --mon "$MONADDR" --pool rbd --objects $NOBJ --base 5000 --wait $OSD_WAIT ||
	tsr_fail "members differ after recovery"
"$CLI" check-one --mon "$MONADDR" --pool rbd --oid "$new" --base "$b" ||
	tsr_fail "object $new written during recovery differs on a member"

osd_stop_all
tsr_pass
