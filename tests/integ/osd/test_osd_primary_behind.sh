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
. "$(dirname "$0")/osd_lib.sh"
tsr_init osd-primary-behind
osd_need_cli
NPG=16
NOBJ=160

OSD_ARGS=(--size 128M --cores 2 --io-buffers 32 --max-io 64K --object-size 256K --op-timeout 20s
	--recovery-max-bytes-per-sec 256K --no-recovery-blocking-pull)
osd_start_mon --osd-grace 2s

osd_cluster_with_data 2
id3=$(osd_id 3)
[ -n "$id3" ] || tsr_fail "no id for osd3"

osd_stop 3 2
osd_write_all $NOBJ 5000 "writes while osd3 is down"

osd_restart 3
tsr_wait_for 60 "a PG of osd.$id3 reported active+recovering" -- have_pg_in recovering "$id3"
grep -q "pulling [0-9]* objects from osd\.[0-9]* in the background" "$TSR_DIR/osd3.log" ||
	tsr_fail "osd3 logged no background pull"
# The PG with the most objects to pull (the longest recovery).
seed=$(grep -oE "PG 1\.[0-9a-f]+: pulling [0-9]+ objects from osd\.[0-9]+ in the background" \
	"$TSR_DIR/osd3.log" | sort -t' ' -k4 -n -r | head -n 1 | sed -E 's/^PG 1\.([0-9a-f]+):.*/\1/')
[ -n "$seed" ] || tsr_fail "no PG pulled in the background"
seed=$((16#$seed))
pg_is_in "$seed" recovering || tsr_fail "PG $seed finished its pull before any I/O (too few objects?)"
tsr_log "PG seed $seed (primary osd.$id3, behind) is recovering: client I/O on it"

# Its objects in ascending order (the order of the background walk); the
# rounds use the last ones, the least likely to be here yet.
mapfile -t objs < <(pg_objects "$seed" $NOBJ)
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
	if pg_is_in "$seed" recovering; then
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
load_start --objects 20 --oid 600 --base 40000
tsr_wait_for 60 "the write load is running" -- acks 50
if pg_is_in "$seed" recovering; then
	tsr_log "PG $seed still recovering when osd3 is killed"
else
	tsr_log "PG $seed done before the kill (other PGs may still pull)"
fi
tsr_kill osd3
load_wait || tsr_fail "the write load failed after kill -9 of osd3"
tsr_wait_for 60 "osd3 marked down" -- osds_up_exact 2
"$CLI" verify-load --mon "$MONADDR" --pool rbd --state "$TSR_DIR/load" --wait $OSD_WAIT ||
	tsr_fail "an acknowledged write was lost after kill -9 of the primary"
"$CLI" check-one --mon "$MONADDR" --pool rbd --oid "${olds[0]}" --base 30000 --wait $OSD_WAIT ||
	tsr_fail "the rewrite made during the pull was lost"

osd_restart 3
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
"$CLI" verify --mon "$MONADDR" --pool rbd --objects $NOBJ --base 5000 --wait $OSD_WAIT ||
	tsr_fail "members differ after the recovery"

osd_stop_all
tsr_pass
