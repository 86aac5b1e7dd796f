#!/usr/bin/env bash
# Scrub: objects are written with self-describing blocks (--tagged 1). One
# replica of an object is stopped and a data block of that object is corrupted
# in its device file behind libstore's back; after its restart a scrub of every
# PG (osdctl pg scrub: ScrubPg to each primary) must report the inconsistency (the replica's read
# fails its CRC) and repair it from the primary, after which every member holds
# the right data (read directly from each member). Then the same with the
# primary's copy corrupted: scrub pulls the chunk from a good replica. A final
# scrub finds nothing.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/osd_lib.sh"
tsr_init osd-scrub
osd_need_cli

NPG=8
OSD_ARGS=(--size 128M --cores 2 --io-buffers 32 --max-io 256K --op-timeout 10s
	--scrub-interval 0 --scrub-max-bytes-per-sec 0)
osd_start_mon --osd-grace 3s

# A scrub of every PG of the pool through osdctl (ScrubPg to each primary);
# the JSON total gives the counts, the human report is checked once too.
json_num() {
	grep -o "\"$1\": [0-9]*" | tail -1 | awk '{print $2}'
}
scrub_all() {
	"$OSDCTL" -m "$MONADDR" --timeout 60s --format json pg scrub rbd \
		>"$TSR_DIR/scrub.json" || { cat "$TSR_DIR/scrub.json" >&2; tsr_fail "scrub failed"; }
	total=$(grep '"total"' "$TSR_DIR/scrub.json")
	pgs=$(echo "$total" | json_num pgs)
	errors=$(echo "$total" | json_num inconsistencies)
	repaired=$(echo "$total" | json_num repaired)
	unrepaired=$(echo "$total" | json_num unrepaired)
	[ "$pgs" = 8 ] || tsr_fail "scrub reported $pgs PGs, not 8"
	tsr_log "scrub: errors=$errors repaired=$repaired unrepaired=$unrepaired"
}
# Stop OSD number $1, corrupt block 1 of object $2 in its file, restart it.
corrupt_on() {
	local num=$1 oid=$2
	osd_stop "$num" 2
	"$CLI" corrupt --device "$TSR_DIR/osd$num.img" --oid "$oid" --block 1 >&2 ||
		tsr_fail "block 1 of object $oid not found in osd$num.img"
	osd_restart "$num"
	tsr_wait_for 60 "3 OSDs up again" -- osds_up_exact 3
}

osd_start_cluster 3
osd_pool_create 3 2
N=24
"$CLI" rewrite --mon "$MONADDR" --pool rbd --objects $N --base 1000 --tagged 1 ||
	tsr_fail "writes"

scrub_all
[ "$errors" = 0 ] || tsr_fail "a clean cluster scrubbed with $errors errors"
# The human report: a header, one line per PG, a total; bad arguments are refused.
"$OSDCTL" -m "$MONADDR" --timeout 30s pg scrub 1.0 1.7 --no-repair >"$TSR_DIR/scrub.txt" ||
	tsr_fail "pg scrub 1.0 1.7"
cat "$TSR_DIR/scrub.txt" >&2
grep -q "^PG .*INCONS" "$TSR_DIR/scrub.txt" || tsr_fail "no header in the scrub report"
grep -q "^1\.7 .*osd\." "$TSR_DIR/scrub.txt" || tsr_fail "no line for pg 1.7"
grep -q "^total: 2 pgs scrubbed, .* 0 inconsistencies" "$TSR_DIR/scrub.txt" ||
	tsr_fail "bad scrub total"
if "$OSDCTL" -m "$MONADDR" --timeout 5s pg scrub 1.8 2>"$TSR_DIR/scrub.err"; then
	tsr_fail "pg scrub of a PG that does not exist succeeded"
fi
grep -q "neither an existing PGID" "$TSR_DIR/scrub.err" || tsr_fail "no clear error for pg 1.8"

# 1. A replica's copy: reported (CRC error on the replica) and repaired from the primary.
OID=5
read -r -a members <<<"$("$CLI" members --mon "$MONADDR" --pool rbd --oid $OID)"
[ "${#members[@]}" = 3 ] || tsr_fail "object $OID has ${#members[@]} members"
rnum=$(osd_num "${members[1]}") || tsr_fail "no log of osd.${members[1]}"
pnum=$(osd_num "${members[0]}") || tsr_fail "no log of osd.${members[0]}"
tsr_log "object $OID: primary osd.${members[0]} (osd$pnum), corrupting replica osd.${members[1]} (osd$rnum)"
corrupt_on "$rnum" $OID
scrub_all
[ "$errors" -ge 1 ] || tsr_fail "scrub did not report the corrupted replica block"
[ "$repaired" -ge 1 ] || tsr_fail "scrub did not repair the corrupted replica block"
[ "$unrepaired" = 0 ] || tsr_fail "scrub left $unrepaired inconsistencies"
grep -q "CRC mismatch" "$TSR_DIR/osd$rnum.log" || tsr_fail "the replica logged no CRC mismatch"
grep -q "repaired object $OID .* on osd\.${members[1]} from the primary" "$TSR_DIR/osd$pnum.log" ||
	tsr_fail "the primary logged no repair of object $OID"
"$CLI" verify --mon "$MONADDR" --pool rbd --objects $N --base 1000 --tagged 1 ||
	tsr_fail "members differ after the replica repair"

# 2. The primary's copy: pulled from a good replica.
OID=11
read -r -a members <<<"$("$CLI" members --mon "$MONADDR" --pool rbd --oid $OID)"
pnum=$(osd_num "${members[0]}") || tsr_fail "no log of osd.${members[0]}"
tsr_log "object $OID: corrupting the primary osd.${members[0]} (osd$pnum)"
corrupt_on "$pnum" $OID
# The restarted OSD is primary again once its PGs have peered (scrub retries meanwhile).
scrub_all
[ "$errors" -ge 1 ] || tsr_fail "scrub did not report the corrupted primary block"
[ "$repaired" -ge 1 ] || tsr_fail "scrub did not repair the primary's block"
[ "$unrepaired" = 0 ] || tsr_fail "scrub left $unrepaired inconsistencies (primary)"
grep -q "repaired object $OID .* on the primary from" "$TSR_DIR/osd$pnum.log" ||
	tsr_fail "the primary logged no repair of its own copy of object $OID"
"$CLI" verify --mon "$MONADDR" --pool rbd --objects $N --base 1000 --tagged 1 ||
	tsr_fail "members differ after the primary repair"

# 3. Nothing left.
scrub_all
[ "$errors" = 0 ] || tsr_fail "a final scrub found $errors errors"

osd_stop_all
tsr_pass
