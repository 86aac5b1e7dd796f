#!/usr/bin/env bash
# A primary that is behind serves at once (phase 2b): osd3 misses writes while
# it is down; when it returns it is the primary of some PGs whose newest data
# is on the others. Peering merges the authoritative log into osd3's, the PG
# goes active (reported active+recovering), and osd3 pulls the objects in the
# background, slowly (--recovery-max-bytes-per-sec); an op on an object not
# pulled yet pulls it first. While such a PG is still reported recovering,
# objects it misses are read (they must return the newest data) and
# rewritten, and new ones written and read back; a pg ls after each round
# must still show the PG recovering (the order of observations is the proof,
# not timing). Then kill -9 of osd3 in the middle of the background pull
# under a write load: no acknowledged write is lost; osd3 restarts with a log
# that runs ahead of its data, and the next round finds what it lacks
# (last_complete) and pulls it again. Every PG ends active+clean, HEALTH_OK,
# and every object verifies on every member.
. "$(dirname "$0")/../lib.sh"
tsr_init osd-primary-behind

OSDCTL="$TSR_BIN/osdctl"
MON="$TSR_BIN/tessera-mon"
OSD="$TSR_BIN/tessera-osd"
CLI="${TSR_OSD_TESTCLI:-$(dirname "$TSR_BIN")/tests/integ/osd/tessera-osd-testcli}"
[ -x "$CLI" ] || tsr_fail "test client not found at $CLI"
NPG=16
NOBJ=160

mport=$(tsr_free_port)
MONADDR="127.0.0.1:$mport"
tsr_start mon "$MON" --id 1 --data "$TSR_DIR/mon" --listen "$MONADDR" --osd-grace 2s
tsr_wait_port 127.0.0.1 "$mport" 10

start_osd() {
	tsr_start "osd$1" "$OSD" --mon "$MONADDR" --device "$TSR_DIR/osd$1.img" --size 128M \
		--cores 2 --host "host$1" --io-buffers 32 --max-io 64K --object-size 256K \
		--op-timeout 20s --recovery-max-bytes-per-sec 256K --no-recovery-blocking-pull
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
# The seed of a PG whose primary is osd.$1, reported active+recovering.
recovering_seed() {
	"$OSDCTL" -m "$MONADDR" --timeout 2s pg ls --format json 2>/dev/null |
		grep -oE "\"seed\":[0-9]+,\"acting\":\[[0-9,]*\],\"primary\":$1,\"state\":\"active\\+recovering[a-z+]*\",\"state_source\":\"reported\"" |
		head -n 1 | sed -E 's/^"seed":([0-9]+),.*/\1/'
}
pg_recovering() {
	"$OSDCTL" -m "$MONADDR" --timeout 2s pg ls --format json 2>/dev/null |
		grep -qE "\"seed\":$1,\"acting\":\[[0-9,]*\],\"primary\":[0-9]+,\"state\":\"active\\+recovering"
}
have_recovering() {
	[ -n "$(recovering_seed "$1")" ]
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
id3=$(grep -oE "booted as osd\.[0-9]+" "$TSR_DIR/osd3.log" | head -n 1 | sed 's/.*osd\.//')
[ -n "$id3" ] || tsr_fail "no id for osd3"

tsr_stop osd3 TERM 20 || tsr_fail "osd3 did not exit cleanly"
tsr_wait_for 30 "osd3 marked down" -- osds_up_exact 2
"$CLI" rewrite --mon "$MONADDR" --pool rbd --objects $NOBJ --base 5000 ||
	tsr_fail "writes while osd3 is down"

start_osd 3
tsr_wait_for 30 "osd3 booted again" -- boots 3 2
tsr_wait_for 60 "a PG of osd.$id3 reported active+recovering" -- have_recovering "$id3"
grep -q "pulling [0-9]* objects from osd\.[0-9]* in the background" "$TSR_DIR/osd3.log" ||
	tsr_fail "osd3 logged no background pull"
# The PG with the most objects to pull (the longest recovery).
seed=$(grep -oE "PG 1\.[0-9a-f]+: pulling [0-9]+ objects from osd\.[0-9]+ in the background" \
	"$TSR_DIR/osd3.log" | sort -t' ' -k4 -n -r | head -n 1 | sed -E 's/^PG 1\.([0-9a-f]+):.*/\1/')
[ -n "$seed" ] || tsr_fail "no PG pulled in the background"
seed=$((16#$seed))
pg_recovering "$seed" || tsr_fail "PG $seed finished its pull before any I/O (too few objects?)"
tsr_log "PG seed $seed (primary osd.$id3, behind) is recovering: client I/O on it"

# Its objects in ascending order (the order of the background walk); the
# rounds use the last ones, the least likely to be here yet.
objs=()
o=$("$CLI" oid-in-pg --mon "$MONADDR" --pool rbd --pg "$seed" --oid 0 | head -n 1)
while [ -n "$o" ] && [ "$o" -lt $NOBJ ] && [ "${#objs[@]}" -lt $NOBJ ]; do
	objs+=("$o")
	o=$("$CLI" oid-in-pg --mon "$MONADDR" --pool rbd --pg "$seed" --oid $((o + 1)) | head -n 1)
done
[ "${#objs[@]}" -ge 3 ] || tsr_fail "too few objects in PG $seed"
olds=()
for ((k = ${#objs[@]} - 1; k >= 0 && ${#olds[@]} < 6; k--)); do
	olds+=("${objs[$k]}")
done
new=$("$CLI" oid-in-pg --mon "$MONADDR" --pool rbd --pg "$seed" --oid 200000 | head -n 1)
during=0
round=0
for old in "${olds[@]}"; do
	round=$((round + 1))
	b=$((20000 + round))
	# Missed while down: the newest data, pulled on demand if needed.
	"$CLI" read-one --mon "$MONADDR" --pool rbd --oid "$old" --base $((5000 + old)) --expect 0 ||
		tsr_fail "read of $old (written while osd3 was down) during the pull"
	"$CLI" write-one --mon "$MONADDR" --pool rbd --oid "$new" --base "$b" --expect 0 ||
		tsr_fail "write of $new during the pull"
	if pg_recovering "$seed"; then
		during=$((during + 1))
	else
		break
	fi
done
[ "$during" -ge 1 ] || tsr_fail "no I/O round completed while PG $seed was still recovering"
tsr_log "$during verified I/O rounds completed while PG $seed was reported recovering"
# A rewrite of a missed object (a partial write: the rest comes from the pull).
"$CLI" write-one --mon "$MONADDR" --pool rbd --oid "${olds[0]}" --base 30000 --expect 0 ||
	tsr_fail "rewrite of ${olds[0]} during the pull"

# kill -9 of the primary in the middle of the background pull, under a load.
"$CLI" load --mon "$MONADDR" --pool rbd --objects 20 --oid 600 --base 40000 \
	--state "$TSR_DIR/load" &
loadpid=$!
tsr_wait_for 30 "the write load is running" -- acks 50
if pg_recovering "$seed"; then
	tsr_log "PG $seed still recovering when osd3 is killed"
else
	tsr_log "PG $seed done before the kill (other PGs may still pull)"
fi
tsr_kill osd3
wait "$loadpid" || tsr_fail "the write load failed after kill -9 of osd3"
tsr_wait_for 30 "osd3 marked down" -- osds_up_exact 2
"$CLI" verify-load --mon "$MONADDR" --pool rbd --state "$TSR_DIR/load" --wait 100 ||
	tsr_fail "an acknowledged write was lost after kill -9 of the primary"
"$CLI" check-one --mon "$MONADDR" --pool rbd --oid "${olds[0]}" --base 30000 --wait 100 ||
	tsr_fail "the rewrite made during the pull was lost"

start_osd 3
tsr_wait_for 30 "osd3 booted a third time" -- boots 3 3
tsr_wait_for 120 "PGs active+clean and HEALTH_OK after recovery" -- all_clean
grep -q "pulled [0-9]* objects from osd\.[0-9]* in the background" "$TSR_DIR/osd3.log" ||
	tsr_fail "no background pull completed"
"$CLI" verify-load --mon "$MONADDR" --pool rbd --state "$TSR_DIR/load" ||
	tsr_fail "members differ on the load's objects"
"$CLI" check-one --mon "$MONADDR" --pool rbd --oid "${olds[0]}" --base 30000 ||
	tsr_fail "members differ on ${olds[0]}"
"$CLI" check-one --mon "$MONADDR" --pool rbd --oid "$new" --base "$b" ||
	tsr_fail "members differ on $new"
# Every object holds its write made while osd3 was down, on every member (the
# one rewritten during the pull is written back to that pattern first).
"$CLI" write-one --mon "$MONADDR" --pool rbd --oid "${olds[0]}" --base $((5000 + olds[0])) \
	--expect 0 || tsr_fail "writing ${olds[0]} back"
"$CLI" verify --mon "$MONADDR" --pool rbd --objects $NOBJ --base 5000 --wait 100 ||
	tsr_fail "members differ after the recovery"

for i in 1 2 3; do
	tsr_stop "osd$i" TERM 20 || tsr_fail "osd$i did not exit cleanly"
done
tsr_pass
