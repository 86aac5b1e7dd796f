#!/usr/bin/env bash
# Background backfill (phase 2b): with PG logs of 8 entries, osd3 misses more
# writes than the logs hold while it is down. When it returns, the PGs where it
# is a replica go active at once (reported active+backfilling) and the primary
# copies what differs (listing comparison) to it in the background, slowly
# (--recovery-max-bytes-per-sec). While such a PG is reported backfilling,
# objects of that PG are written and read back (verified); a pg ls after each
# round must still show it backfilling: the order of the observations, not
# timing, is the proof. Then kill -9 of osd3 (the backfill target) in the middle
# of the backfill, under a write load: no acknowledged write is lost; osd3
# restarts with its backfill marker persisted (PgInfo.backfilling), so it is
# backfilled again whatever its log says. Every PG ends active+clean,
# HEALTH_OK, and every object verifies on every member.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/osd_lib.sh"
tsr_init osd-bg-backfill
osd_need_cli
NPG=16
NOBJ=240

OSD_ARGS=(--size 128M --cores 2 --io-buffers 32 --max-io 64K --object-size 256K --op-timeout 10s
	--recovery-max-bytes-per-sec 256K --pg-log-len 8)
osd_start_mon --osd-grace 3s

osd_cluster_with_data 2

osd_stop 3 2
osd_write_all $NOBJ 5000 "writes while osd3 is down"
for oid in 230 231 232; do
	"$CLI" delete-one --mon "$MONADDR" --pool rbd --oid "$oid" --expect 0 ||
		tsr_fail "delete $oid"
done

osd_restart 3
tsr_wait_for 60 "a PG reported active+backfilling" -- have_pg_in backfilling
seed=$(pg_seed_in backfilling)
[ -n "$seed" ] || tsr_fail "the backfilling PG vanished before it could be used"
echo "PG seed $seed is backfilling: client I/O on it"

osd_io_rounds "$seed" backfilling backfill
grep -q "backfilling it in the background" "$TSR_DIR"/osd*.log ||
	tsr_fail "no background backfill was logged"
grep -q "backfill into this OSD started" "$TSR_DIR/osd3.log" ||
	tsr_fail "osd3 did not persist a backfill marker"

# kill -9 of the backfill target in the middle of the backfill, under a load.
load_start --objects 20 --oid 300 --base 40000
tsr_wait_for 60 "the write load is running" -- acks 50
if have_pg_in backfilling; then
	tsr_log "a PG is still backfilling when osd3 is killed"
else
	tsr_log "WARNING: the backfill ended before osd3 was killed"
fi
tsr_kill osd3
load_wait || tsr_fail "the write load failed after kill -9 of osd3"
tsr_wait_for 60 "osd3 marked down" -- osds_up_exact 2
osd_restart 3
tsr_wait_for 150 "PGs active+clean and HEALTH_OK after the backfill" -- all_clean
grep -q "recovered in the background" "$TSR_DIR"/osd1.log "$TSR_DIR"/osd2.log ||
	tsr_fail "no background backfill completion was logged"
grep -q "backfill into this OSD done" "$TSR_DIR/osd3.log" ||
	tsr_fail "osd3 never cleared its backfill marker"

"$CLI" verify-load --mon "$MONADDR" --pool rbd --state "$TSR_DIR/load" --wait $OSD_WAIT ||
	tsr_fail "an acknowledged write was lost, or members differ on the load's objects"
"$CLI" verify --mon "$MONADDR" --pool rbd --objects 230 --base 5000 --wait $OSD_WAIT ||
	tsr_fail "members differ after the backfill"
for oid in 230 231 232; do
	"$CLI" absent --mon "$MONADDR" --pool rbd --oid "$oid" --wait $OSD_WAIT ||
		tsr_fail "deleted object $oid is still on a member"
done
"$CLI" check-one --mon "$MONADDR" --pool rbd --oid "$new" --base "$b" ||
	tsr_fail "object $new written during the backfill differs on a member"

osd_stop_all
tsr_pass
