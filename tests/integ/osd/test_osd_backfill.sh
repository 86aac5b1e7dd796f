#!/usr/bin/env bash
# Backfill: with a PG log of 8 entries, an OSD that misses more writes than the
# logs hold cannot be recovered from the logs. When it returns, peering
# compares object listings instead (PgListObjects): objects written, rewritten
# and deleted while it was down are brought over (pulled where it is the
# primary, pushed where it is a replica), and every member then holds the same
# data.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/osd_lib.sh"
tsr_init osd-backfill
osd_need_cli

NPG=16
OSD_ARGS=(--size 128M --cores 2 --io-buffers 32 --max-io 256K --op-timeout 10s --pg-log-len 8)
osd_start_mon --osd-grace 3s
osd_start_cluster 3
osd_pool_create 3 2
osd_write_all 160 1000 "first writes"

osd_stop 3 2
osd_write_all 200 5000 "writes while osd3 is down"
for oid in 150 151 152; do
	"$CLI" delete-one --mon "$MONADDR" --pool rbd --oid "$oid" --expect 0 ||
		tsr_fail "delete $oid"
done

osd_restart 3
tsr_wait_for 60 "3 OSDs up again" -- osds_up_exact 3
"$CLI" verify --mon "$MONADDR" --pool rbd --objects 150 --base 5000 --wait $OSD_WAIT ||
	tsr_fail "members differ after backfill"
for oid in 150 151 152; do
	"$CLI" absent --mon "$MONADDR" --pool rbd --oid "$oid" --wait $OSD_WAIT ||
		tsr_fail "deleted object $oid is still on a member"
done
grep -q "backfilling from it" "$TSR_DIR"/osd*.log || tsr_fail "no pull backfill was logged"
grep -q "backfilling it" "$TSR_DIR"/osd*.log || tsr_fail "no push backfill was logged"

osd_stop_all
tsr_pass
