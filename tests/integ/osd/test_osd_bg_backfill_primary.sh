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
tsr_init osd-bg-backfill-primary

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
		--op-timeout 10s --recovery-max-bytes-per-sec 256K --pg-log-len 8 \
		--no-recovery-blocking-pull
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

# The script name (1..3) of the OSD with map id $1.
osd_name() {
	local i
	for i in 1 2 3; do
		if grep -q "booted as osd\.$1 " "$TSR_DIR/osd$i.log"; then
			echo "$i"
			return 0
		fi
	done
	return 1
}

for i in 1 2 3; do start_osd "$i"; done
tsr_wait_for 30 "3 OSDs up" -- osds_up_exact 3
"$OSDCTL" -m "$MONADDR" pool create rbd --size 3 --min-size 2 --pg-count $NPG ||
	tsr_fail "pool create"
"$CLI" rewrite --mon "$MONADDR" --pool rbd --objects $NOBJ --base 1000 || tsr_fail "first writes"
tsr_wait_for 30 "PGs active+clean before the test" -- all_clean
id3=$(grep -oE "booted as osd\.[0-9]+" "$TSR_DIR/osd3.log" | head -n 1 | sed 's/.*osd\.//')
[ -n "$id3" ] || tsr_fail "no id for osd3"

tsr_stop osd3 TERM 20 || tsr_fail "osd3 did not exit cleanly"
tsr_wait_for 30 "osd3 marked down" -- osds_up_exact 2
"$CLI" rewrite --mon "$MONADDR" --pool rbd --objects $NOBJ --base 5000 ||
	tsr_fail "writes while osd3 is down"

start_osd 3
tsr_wait_for 30 "osd3 booted again" -- boots 3 2
tsr_wait_for 60 "a PG reported active+backfilling" -- have_backfilling
seed=$(backfilling_seed)
[ -n "$seed" ] || tsr_fail "the backfilling PG vanished"
pid=$("$OSDCTL" -m "$MONADDR" --timeout 2s pg ls --format json |
	grep -oE "\"seed\":$seed,\"acting\":\[[0-9,]*\],\"primary\":[0-9]+" | sed -E 's/.*"primary":([0-9]+)/\1/')
[ -n "$pid" ] && [ "$pid" != "$id3" ] || tsr_fail "no primary other than osd3 for PG $seed"
victim=$(osd_name "$pid") || tsr_fail "no script name for osd.$pid"
tsr_log "PG $seed backfills osd3 from osd.$pid (osd$victim): killing it under a load"

"$CLI" load --mon "$MONADDR" --pool rbd --objects 20 --oid 300 --base 40000 \
	--state "$TSR_DIR/load" &
loadpid=$!
tsr_wait_for 30 "the write load is running" -- acks 50
if pg_backfilling "$seed"; then
	tsr_log "PG $seed still backfilling when osd$victim is killed"
else
	tsr_log "WARNING: the backfill of PG $seed ended before the kill"
fi
tsr_kill "osd$victim"
wait "$loadpid" || tsr_fail "the write load failed after kill -9 of the primary"
tsr_wait_for 30 "osd$victim marked down" -- osds_up_exact 2
"$CLI" verify-load --mon "$MONADDR" --pool rbd --state "$TSR_DIR/load" --wait 100 ||
	tsr_fail "an acknowledged write was lost after kill -9 of the primary"
start_osd "$victim"
tsr_wait_for 30 "osd$victim booted again" -- boots "$victim" 2
tsr_wait_for 150 "PGs active+clean and HEALTH_OK after the backfill" -- all_clean
grep -q "backfill into this OSD done" "$TSR_DIR/osd3.log" ||
	tsr_fail "osd3 never cleared its backfill marker"
"$CLI" verify-load --mon "$MONADDR" --pool rbd --state "$TSR_DIR/load" --wait 100 ||
	tsr_fail "members differ on the load's objects"
"$OSDCTL" -m "$MONADDR" pg ls >&2
"$CLI" verify --mon "$MONADDR" --pool rbd --objects $NOBJ --base 5000 --wait 100 ||
	tsr_fail "members differ after the backfill"

for i in 1 2 3; do
	tsr_stop "osd$i" TERM 20 || tsr_fail "osd$i did not exit cleanly"
done
tsr_pass
