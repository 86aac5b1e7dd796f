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
tsr_init osd-scrub

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
		--scrub-interval 0 --scrub-max-bytes-per-sec 0
}
osds_up_exact() {
	local n
	n=$("$OSDCTL" -m "$MONADDR" --timeout 2s osd ls 2>/dev/null | grep -cw up)
	[ "$n" = "$1" ]
}
boots() {
	[ "$(grep -c "booted as" "$TSR_DIR/osd$1.log")" -ge "$2" ]
}
# The test's OSD number (osdN.img) of OSD id $1.
osd_num() {
	local i
	for i in 1 2 3; do
		if grep -q "booted as osd\.$1 " "$TSR_DIR/osd$i.log"; then
			echo "$i"
			return 0
		fi
	done
	return 1
}
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
	local num=$1 oid=$2 nboot
	nboot=$(grep -c "booted as" "$TSR_DIR/osd$num.log")
	tsr_stop "osd$num" TERM 20 || tsr_fail "osd$num did not exit cleanly"
	tsr_wait_for 30 "osd$num marked down" -- osds_up_exact 2
	"$CLI" corrupt --device "$TSR_DIR/osd$num.img" --oid "$oid" --block 1 >&2 ||
		tsr_fail "block 1 of object $oid not found in osd$num.img"
	start_osd "$num"
	tsr_wait_for 30 "osd$num booted again" -- boots "$num" $((nboot + 1))
	tsr_wait_for 30 "3 OSDs up again" -- osds_up_exact 3
}

for i in 1 2 3; do start_osd "$i"; done
tsr_wait_for 30 "3 OSDs up" -- osds_up_exact 3
"$OSDCTL" -m "$MONADDR" pool create rbd --size 3 --min-size 2 --pg-count 8 ||
	tsr_fail "pool create"
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

for i in 1 2 3; do
	tsr_stop "osd$i" TERM 20 || tsr_fail "osd$i did not exit cleanly"
done
tsr_pass
