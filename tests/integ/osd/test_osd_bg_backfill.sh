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
tsr_init osd-bg-backfill

OSDCTL="$TSR_BIN/osdctl"
MON="$TSR_BIN/tessera-mon"
OSD="$TSR_BIN/tessera-osd"
CLI="${TSR_OSD_TESTCLI:-$(dirname "$TSR_BIN")/tests/integ/osd/tessera-osd-testcli}"
[ -x "$CLI" ] || tsr_fail "test client not found at $CLI"
NPG=16
NOBJ=240

mport=$(tsr_free_port)
MONADDR="127.0.0.1:$mport"
tsr_start mon "$MON" --id 1 --data "$TSR_DIR/mon" --listen "$MONADDR" --osd-grace 3s
tsr_wait_port 127.0.0.1 "$mport" 10

start_osd() {
	tsr_start "osd$1" "$OSD" --mon "$MONADDR" --device "$TSR_DIR/osd$1.img" --size 128M \
		--cores 2 --host "host$1" --io-buffers 32 --max-io 64K --object-size 256K \
		--op-timeout 10s --recovery-max-bytes-per-sec 256K --pg-log-len 8
}
osds_up_exact() {
	local n
	n=$("$OSDCTL" -m "$MONADDR" --timeout 2s osd ls 2>/dev/null | grep -cw up)
	[ "$n" = "$1" ]
}
boots() {
	[ "$(grep -c "booted as" "$TSR_DIR/osd$1.log")" -ge "$2" ]
}
all_clean() {
	local json n
	json=$("$OSDCTL" -m "$MONADDR" --timeout 2s pg ls --format json 2>/dev/null) || return 1
	n=$(grep -o '"state":"active+clean","state_source":"reported"' <<<"$json" | wc -l)
	[ "$n" = "$NPG" ] || return 1
	[ "$("$OSDCTL" -m "$MONADDR" --timeout 2s health 2>/dev/null | head -n 1)" = HEALTH_OK ]
}
# The seed of a PG reported active+backfilling (served while its primary
# copies to osd3 in the background), or nothing.
backfilling_seed() {
	"$OSDCTL" -m "$MONADDR" --timeout 2s pg ls --format json 2>/dev/null |
		grep -oE '"seed":[0-9]+,"acting":\[[0-9,]*\],"primary":[0-9]+,"state":"active\+backfilling[a-z+]*","state_source":"reported"' |
		head -n 1 | sed -E 's/^"seed":([0-9]+),.*/\1/'
}
pg_backfilling() {
	"$OSDCTL" -m "$MONADDR" --timeout 2s pg ls --format json 2>/dev/null |
		grep -qE "\"seed\":$1,\"acting\":\[[0-9,]*\],\"primary\":[0-9]+,\"state\":\"active\\+backfilling"
}
have_backfilling() {
	[ -n "$(backfilling_seed)" ]
}
acks() {
	local n
	n=$(grep "^P" "$TSR_DIR/load" 2>/dev/null | tail -n 1 | cut -d' ' -f2)
	[ -n "$n" ] && [ "$n" -ge "$1" ]
}

for i in 1 2 3; do start_osd "$i"; done
tsr_wait_for 30 "3 OSDs up" -- osds_up_exact 3
"$OSDCTL" -m "$MONADDR" pool create rbd --size 3 --min-size 2 --pg-count $NPG ||
	tsr_fail "pool create"
"$CLI" rewrite --mon "$MONADDR" --pool rbd --objects $NOBJ --base 1000 || tsr_fail "first writes"
tsr_wait_for 30 "PGs active+clean before the test" -- all_clean

tsr_stop osd3 TERM 20 || tsr_fail "osd3 did not exit cleanly"
tsr_wait_for 30 "osd3 marked down" -- osds_up_exact 2
"$CLI" rewrite --mon "$MONADDR" --pool rbd --objects $NOBJ --base 5000 ||
	tsr_fail "writes while osd3 is down"
for oid in 230 231 232; do
	"$CLI" delete-one --mon "$MONADDR" --pool rbd --oid "$oid" --expect 0 ||
		tsr_fail "delete $oid"
done

start_osd 3
tsr_wait_for 30 "osd3 booted again" -- boots 3 2
tsr_wait_for 60 "a PG reported active+backfilling" -- have_backfilling
seed=$(backfilling_seed)
[ -n "$seed" ] || tsr_fail "the backfilling PG vanished before it could be used"
echo "PG seed $seed is backfilling: client I/O on it"

during=0
new=$("$CLI" oid-in-pg --mon "$MONADDR" --pool rbd --pg "$seed" --oid 100000 | head -n 1)
old=$("$CLI" oid-in-pg --mon "$MONADDR" --pool rbd --pg "$seed" --oid 0 | head -n 1)
[ -n "$new" ] && [ -n "$old" ] || tsr_fail "no object of PG $seed"
for round in 1 2 3 4 5; do
	b=$((20000 + round))
	"$CLI" write-one --mon "$MONADDR" --pool rbd --oid "$new" --base "$b" --expect 0 ||
		tsr_fail "write of $new during backfill"
	"$CLI" read-one --mon "$MONADDR" --pool rbd --oid "$new" --base "$b" --expect 0 ||
		tsr_fail "read of $new during backfill"
	"$CLI" read-one --mon "$MONADDR" --pool rbd --oid "$old" --base $((5000 + old)) --expect 0 ||
		tsr_fail "read of $old (written while osd3 was down) during backfill"
	if pg_backfilling "$seed"; then
		during=$((during + 1))
	else
		break
	fi
done
[ "$during" -ge 1 ] ||
	tsr_fail "no I/O round completed while PG $seed was still reported backfilling"
echo "$during verified I/O rounds completed while PG $seed was reported backfilling"
grep -q "backfilling it in the background" "$TSR_DIR"/osd*.log ||
	tsr_fail "no background backfill was logged"
grep -q "backfill into this OSD started" "$TSR_DIR/osd3.log" ||
	tsr_fail "osd3 did not persist a backfill marker"

# kill -9 of the backfill target in the middle of the backfill, under a load.
"$CLI" load --mon "$MONADDR" --pool rbd --objects 20 --oid 300 --base 40000 \
	--state "$TSR_DIR/load" &
loadpid=$!
tsr_wait_for 30 "the write load is running" -- acks 50
if have_backfilling; then
	tsr_log "a PG is still backfilling when osd3 is killed"
else
	tsr_log "WARNING: the backfill ended before osd3 was killed"
fi
tsr_kill osd3
wait "$loadpid" || tsr_fail "the write load failed after kill -9 of osd3"
tsr_wait_for 30 "osd3 marked down" -- osds_up_exact 2
start_osd 3
tsr_wait_for 30 "osd3 booted again" -- boots 3 3
tsr_wait_for 150 "PGs active+clean and HEALTH_OK after the backfill" -- all_clean
grep -q "recovered in the background" "$TSR_DIR"/osd1.log "$TSR_DIR"/osd2.log ||
	tsr_fail "no background backfill completion was logged"
grep -q "backfill into this OSD done" "$TSR_DIR/osd3.log" ||
	tsr_fail "osd3 never cleared its backfill marker"

"$CLI" verify-load --mon "$MONADDR" --pool rbd --state "$TSR_DIR/load" --wait 100 ||
	tsr_fail "an acknowledged write was lost, or members differ on the load's objects"
"$CLI" verify --mon "$MONADDR" --pool rbd --objects 230 --base 5000 --wait 100 ||
	tsr_fail "members differ after the backfill"
for oid in 230 231 232; do
	"$CLI" absent --mon "$MONADDR" --pool rbd --oid "$oid" --wait 100 ||
		tsr_fail "deleted object $oid is still on a member"
done
"$CLI" check-one --mon "$MONADDR" --pool rbd --oid "$new" --base "$b" ||
	tsr_fail "object $new written during the backfill differs on a member"

for i in 1 2 3; do
	tsr_stop "osd$i" TERM 20 || tsr_fail "osd$i did not exit cleanly"
done
tsr_pass
