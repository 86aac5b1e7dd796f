#!/usr/bin/env bash
# kill -9 of the primary in the middle of a background backfill (PG logs of 8
# entries): osd3 misses more writes than the logs hold; when it returns, a PG
# where it is a replica is reported active+backfilling; its primary is killed
# under a write load. The surviving member becomes primary and finds osd3
# still marked as being backfilled (PgInfo.backfilling), so it backfills it
# again (the listing comparison skips what already arrived). No acknowledged
# write is lost; the killed primary restarts; every PG ends active+clean,
# HEALTH_OK, and every object verifies on every member.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/osd_lib.sh"
tsr_init osd-bg-backfill-primary
osd_need_cli
NPG=16
NOBJ=240

OSD_ARGS=(--size 128M --cores 2 --io-buffers 32 --max-io 64K --object-size 256K --op-timeout 10s
	--recovery-max-bytes-per-sec 256K --pg-log-len 8 --no-recovery-blocking-pull)
osd_start_mon --osd-grace 3s

osd_cluster_with_data 2
id3=$(osd_id 3)
[ -n "$id3" ] || tsr_fail "no id for osd3"

osd_stop 3 2
osd_write_all $NOBJ 5000 "writes while osd3 is down"

osd_restart 3
tsr_wait_for 60 "a PG reported active+backfilling" -- have_pg_in backfilling
seed=$(pg_seed_in backfilling)
[ -n "$seed" ] || tsr_fail "the backfilling PG vanished"
pid=$("$OSDCTL" -m "$MONADDR" --timeout 2s pg ls --format json |
	grep -oE "\"seed\":$seed,\"acting\":\[[0-9,]*\],\"primary\":[0-9]+" | sed -E 's/.*"primary":([0-9]+)/\1/')
[ -n "$pid" ] && [ "$pid" != "$id3" ] || tsr_fail "no primary other than osd3 for PG $seed"
victim=$(osd_num "$pid") || tsr_fail "no script name for osd.$pid"
tsr_log "PG $seed backfills osd3 from osd.$pid (osd$victim): killing it under a load"

load_start --objects 20 --oid 300 --base 40000
tsr_wait_for 60 "the write load is running" -- acks 50
if pg_is_in "$seed" backfilling; then
	tsr_log "PG $seed still backfilling when osd$victim is killed"
else
	tsr_log "WARNING: the backfill of PG $seed ended before the kill"
fi
tsr_kill "osd$victim"
load_wait || tsr_fail "the write load failed after kill -9 of the primary"
tsr_wait_for 60 "osd$victim marked down" -- osds_up_exact 2
"$CLI" verify-load --mon "$MONADDR" --pool rbd --state "$TSR_DIR/load" --wait $OSD_WAIT ||
	tsr_fail "an acknowledged write was lost after kill -9 of the primary"
osd_restart "$victim"
tsr_wait_for 150 "PGs active+clean and HEALTH_OK after the backfill" -- all_clean
grep -q "backfill into this OSD done" "$TSR_DIR/osd3.log" ||
	tsr_fail "osd3 never cleared its backfill marker"
"$CLI" verify-load --mon "$MONADDR" --pool rbd --state "$TSR_DIR/load" --wait $OSD_WAIT ||
	tsr_fail "members differ on the load's objects"
"$OSDCTL" -m "$MONADDR" pg ls >&2
"$CLI" verify --mon "$MONADDR" --pool rbd --objects $NOBJ --base 5000 --wait $OSD_WAIT ||
	tsr_fail "members differ after the backfill"

osd_stop_all
tsr_pass
