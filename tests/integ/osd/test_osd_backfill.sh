#!/usr/bin/env bash
# Backfill: with a PG log of 8 entries, an OSD that misses more writes than the
# logs hold cannot be recovered from the logs. When it returns, peering
# compares object listings instead (PgListObjects): objects written, rewritten
# and deleted while it was down are brought over (pulled where it is the
# primary, pushed where it is a replica), and every member then holds the same
# data.
. "$(dirname "$0")/../lib.sh"
tsr_init osd-backfill

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
		--cores 2 --host "host$1" --io-buffers 32 --max-io 256K --op-timeout 10s \
		--pg-log-len 8
}
osds_up_exact() {
	local n
	n=$("$OSDCTL" -m "$MONADDR" --timeout 2s osd ls 2>/dev/null | grep -cw up)
	[ "$n" = "$1" ]
}
boots() {
	[ "$(grep -c "booted as" "$TSR_DIR/osd$1.log")" -ge "$2" ]
}

for i in 1 2 3; do start_osd "$i"; done
tsr_wait_for 30 "3 OSDs up" -- osds_up_exact 3
"$OSDCTL" -m "$MONADDR" pool create rbd --size 3 --min-size 2 --pg-count 16 ||
	tsr_fail "pool create"
"$CLI" rewrite --mon "$MONADDR" --pool rbd --objects 160 --base 1000 || tsr_fail "first writes"

tsr_stop osd3 TERM 20 || tsr_fail "osd3 did not exit cleanly"
tsr_wait_for 30 "osd3 marked down" -- osds_up_exact 2
"$CLI" rewrite --mon "$MONADDR" --pool rbd --objects 200 --base 5000 ||
	tsr_fail "writes while osd3 is down"
for oid in 150 151 152; do
	"$CLI" delete-one --mon "$MONADDR" --pool rbd --oid "$oid" --expect 0 ||
		tsr_fail "delete $oid"
done

start_osd 3
tsr_wait_for 30 "osd3 booted again" -- boots 3 2
tsr_wait_for 30 "3 OSDs up again" -- osds_up_exact 3
"$CLI" verify --mon "$MONADDR" --pool rbd --objects 150 --base 5000 --wait 100 ||
	tsr_fail "members differ after backfill"
for oid in 150 151 152; do
	"$CLI" absent --mon "$MONADDR" --pool rbd --oid "$oid" --wait 100 ||
		tsr_fail "deleted object $oid is still on a member"
done
grep -q "backfilling from it" "$TSR_DIR"/osd*.log || tsr_fail "no pull backfill was logged"
grep -q "backfilling it" "$TSR_DIR"/osd*.log || tsr_fail "no push backfill was logged"

for i in 1 2 3; do
	tsr_stop "osd$i" TERM 20 || tsr_fail "osd$i did not exit cleanly"
done
tsr_pass
