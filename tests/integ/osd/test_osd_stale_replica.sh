#!/usr/bin/env bash
# A stale replica left alone does not serve (pool size 3, min_size 1). osd3 is
# stopped and every object rewritten (acknowledged by osd1 and osd2); then
# osd1 and osd2 stop and osd3 comes back alone. Its log and data agree with
# each other, and min_size 1 would let it serve, but the newest interval it
# knows of went active with osd1 and osd2, which are down and may have taken
# writes since (they did): every PG stays incomplete on the OSD itself (its
# log says so) and a read fails with STATUS_EPGINACTIVE instead of returning
# old data. osd1 comes back: osd1's own record says osd2 went on after it, so
# the PGs are still incomplete. A read waiting when osd2 (the last one up)
# returns completes with the newest data, and once osd1 is back too every PG
# is clean and every member holds the acknowledged writes.
. "$(dirname "$0")/../lib.sh"
tsr_init osd-stale-replica

OSDCTL="$TSR_BIN/osdctl"
MON="$TSR_BIN/tessera-mon"
OSD="$TSR_BIN/tessera-osd"
CLI="${TSR_OSD_TESTCLI:-$(dirname "$TSR_BIN")/tests/integ/osd/tessera-osd-testcli}"
[ -x "$CLI" ] || tsr_fail "test client not found at $CLI"
NPG=8
NOBJ=40

mport=$(tsr_free_port)
MONADDR="127.0.0.1:$mport"
tsr_start mon "$MON" --id 1 --data "$TSR_DIR/mon" --listen "$MONADDR" --osd-grace 2s
tsr_wait_port 127.0.0.1 "$mport" 10

start_osd() {
	tsr_start "osd$1" "$OSD" --mon "$MONADDR" --device "$TSR_DIR/osd$1.img" --size 128M \
		--cores 2 --host "host$1" --io-buffers 32 --op-timeout 3s
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
# PGs osd$1 found incomplete from an interval record (distinct PG ids).
incomplete_pgs() {
	grep -oE "PG 1\.[0-9a-f]+: incomplete: member\(s\)" "$TSR_DIR/osd$1.log" 2>/dev/null |
		sort -u | wc -l
}
all_incomplete() {
	[ "$(incomplete_pgs "$1")" -ge "$NPG" ]
}
some_incomplete() {
	[ "$(incomplete_pgs "$1")" -ge 1 ]
}

for i in 1 2 3; do start_osd "$i"; done
tsr_wait_for 30 "3 OSDs up" -- osds_up_exact 3
"$OSDCTL" -m "$MONADDR" pool create rbd --size 3 --min-size 1 --pg-count $NPG ||
	tsr_fail "pool create"
"$CLI" rewrite --mon "$MONADDR" --pool rbd --objects $NOBJ --base 1000 || tsr_fail "first writes"
tsr_wait_for 30 "PGs active+clean before the test" -- all_clean

tsr_stop osd3 TERM 20 || tsr_fail "osd3 did not exit cleanly"
tsr_wait_for 30 "osd3 marked down" -- osds_up_exact 2
"$CLI" rewrite --mon "$MONADDR" --pool rbd --objects $NOBJ --base 5000 ||
	tsr_fail "writes while osd3 is down"
tsr_stop osd1 TERM 20 || tsr_fail "osd1 did not exit cleanly"
tsr_wait_for 30 "osd1 marked down" -- osds_up_exact 1
# osd2 alone (min_size 1) takes one more write: only osd2 has it.
"$CLI" write-one --mon "$MONADDR" --pool rbd --oid 7 --base 7777 --expect 0 ||
	tsr_fail "write with osd2 alone"
tsr_stop osd2 TERM 20 || tsr_fail "osd2 did not exit cleanly"
tsr_wait_for 30 "all OSDs down" -- osds_up_exact 0

start_osd 3
tsr_wait_for 30 "osd3 booted again" -- boots 3 2
tsr_wait_for 30 "osd3 up alone" -- osds_up_exact 1
tsr_wait_for 30 "osd3 finds every PG incomplete" -- all_incomplete 3
# Not the stale copy: a clear error after --op-timeout.
"$CLI" read-one --mon "$MONADDR" --pool rbd --oid 3 --expect 22 ||
	tsr_fail "a read on the stale osd3 alone did not fail with EPGINACTIVE"
"$CLI" write-one --mon "$MONADDR" --pool rbd --oid 4 --base 9999 --expect 22 ||
	tsr_fail "a write on the stale osd3 alone did not fail with EPGINACTIVE"

# osd1 knows osd2 went on without it: still incomplete.
start_osd 1
tsr_wait_for 30 "osd1 booted again" -- boots 1 2
tsr_wait_for 30 "osd1 and osd3 up" -- osds_up_exact 2
tsr_wait_for 30 "osd1 finds the PGs it is primary of incomplete too" -- some_incomplete 1
"$CLI" read-one --mon "$MONADDR" --pool rbd --oid 7 --expect 22 ||
	tsr_fail "a read without osd2 (which alone holds the newest write) did not fail"

# A read waiting when osd2 returns gets the newest write.
"$CLI" read-one --mon "$MONADDR" --pool rbd --oid 7 --base 7777 --expect 0 &
bg=$!
start_osd 2
wait "$bg" || tsr_fail "the read did not return the newest write once osd2 came back"
tsr_wait_for 120 "PGs active+clean and HEALTH_OK with all three back" -- all_clean
"$CLI" check-one --mon "$MONADDR" --pool rbd --oid 7 --base 7777 --wait 100 ||
	tsr_fail "the write made by osd2 alone differs on a member"
"$CLI" verify --mon "$MONADDR" --pool rbd --objects 7 --base 5000 --wait 100 ||
	tsr_fail "members differ after the recovery"

for i in 1 2 3; do
	tsr_stop "osd$i" TERM 20 || tsr_fail "osd$i did not exit cleanly"
done
tsr_pass
