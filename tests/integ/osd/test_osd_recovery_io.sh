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
tsr_init osd-recovery-io

OSDCTL="$TSR_BIN/osdctl"
MON="$TSR_BIN/tessera-mon"
OSD="$TSR_BIN/tessera-osd"
CLI="${TSR_OSD_TESTCLI:-$(dirname "$TSR_BIN")/tests/integ/osd/tessera-osd-testcli}"
[ -x "$CLI" ] || tsr_fail "test client not found at $CLI"
NPG=16
NOBJ=300

mport=$(tsr_free_port)
MONADDR="127.0.0.1:$mport"
tsr_start mon "$MON" --id 1 --data "$TSR_DIR/mon" --listen "$MONADDR" --osd-grace 3s
tsr_wait_port 127.0.0.1 "$mport" 10

start_osd() {
	tsr_start "osd$1" "$OSD" --mon "$MONADDR" --device "$TSR_DIR/osd$1.img" --size 128M \
		--cores 2 --host "host$1" --io-buffers 32 --max-io 64K --object-size 256K \
		--op-timeout 10s --recovery-max-bytes-per-sec 256K --no-recovery-blocking-pull
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
# The seed of a PG reported active+recovering (served while its primary
# pushes to osd3 in the background; a primary that pulls is "recovering" and
# not active), or nothing.
recovering_seed() {
	"$OSDCTL" -m "$MONADDR" --timeout 2s pg ls --format json 2>/dev/null |
		grep -oE '"seed":[0-9]+,"acting":\[[0-9,]*\],"primary":[0-9]+,"state":"active\+recovering[a-z+]*","state_source":"reported"' |
		head -n 1 | sed -E 's/^"seed":([0-9]+),.*/\1/'
}
pg_recovering() {
	"$OSDCTL" -m "$MONADDR" --timeout 2s pg ls --format json 2>/dev/null |
		grep -qE "\"seed\":$1,\"acting\":\[[0-9,]*\],\"primary\":[0-9]+,\"state\":\"active\\+recovering"
}
have_recovering() {
	[ -n "$(recovering_seed)" ]
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

start_osd 3
tsr_wait_for 30 "osd3 booted again" -- boots 3 2
tsr_wait_for 60 "a PG reported active+recovering" -- have_recovering
seed=$(recovering_seed)
[ -n "$seed" ] || tsr_fail "the recovering PG vanished before it could be used"
echo "PG seed $seed is recovering: client I/O on it"

# Rounds of write + verified read-back on objects of that PG: one not written
# while osd3 was down (new) and one it misses (rewritten, not yet pushed or
# pushed already). Each round is followed by a pg ls.
during=0
new=$("$CLI" oid-in-pg --mon "$MONADDR" --pool rbd --pg "$seed" --oid 100000 | head -n 1)
old=$("$CLI" oid-in-pg --mon "$MONADDR" --pool rbd --pg "$seed" --oid 0 | head -n 1)
[ -n "$new" ] && [ -n "$old" ] || tsr_fail "no object of PG $seed"
for round in 1 2 3 4 5; do
	b=$((20000 + round))
	"$CLI" write-one --mon "$MONADDR" --pool rbd --oid "$new" --base "$b" --expect 0 ||
		tsr_fail "write of $new during recovery"
	"$CLI" read-one --mon "$MONADDR" --pool rbd --oid "$new" --base "$b" --expect 0 ||
		tsr_fail "read of $new during recovery"
	"$CLI" read-one --mon "$MONADDR" --pool rbd --oid "$old" --base $((5000 + old)) --expect 0 ||
		tsr_fail "read of $old (written while osd3 was down) during recovery"
	if pg_recovering "$seed"; then
		during=$((during + 1))
	else
		break
	fi
done
[ "$during" -ge 1 ] ||
	tsr_fail "no I/O round completed while PG $seed was still reported recovering"
echo "$during verified I/O rounds completed while PG $seed was reported recovering"
grep -q "recovering it in the background" "$TSR_DIR"/osd*.log ||
	tsr_fail "no background recovery was logged"

tsr_wait_for 120 "PGs active+clean and HEALTH_OK after recovery" -- all_clean
grep -q "recovered in the background" "$TSR_DIR"/osd*.log ||
	tsr_fail "no background recovery completion was logged"
"$CLI" verify --mon "$MONADDR" --pool rbd --objects $NOBJ --base 5000 --wait 100 ||
	tsr_fail "members differ after recovery"
"$CLI" check-one --mon "$MONADDR" --pool rbd --oid "$new" --base "$b" ||
	tsr_fail "object $new written during recovery differs on a member"

for i in 1 2 3; do
	tsr_stop "osd$i" TERM 20 || tsr_fail "osd$i did not exit cleanly"
done
tsr_pass
