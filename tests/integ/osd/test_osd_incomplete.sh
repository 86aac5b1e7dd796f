#!/usr/bin/env bash
# A primary whose log runs ahead of its data, alone: the OSD reports the PG
# incomplete and serves nothing from it rather than stale data. Pool size 3,
# min_size 1. osd3 misses writes while down, comes back as the primary of a PG
# that is behind and pulls in the background (slowly); it is killed with
# kill -9 in the middle of that pull, so its PG log names writes whose objects
# it does not hold. osd1 and osd2 (which hold them) are stopped and osd3
# restarts alone: enough members for min_size 1, but its log says it lacks
# data no member up holds: it logs and reports "incomplete", and a read of an
# object of that PG fails with STATUS_EPGINACTIVE after --op-timeout instead
# of returning the old data. A read waiting when osd1 returns gets the newest
# data (osd3 pulls it); with every OSD back the PGs are clean and every object
# verifies on every member.
. "$(dirname "$0")/../lib.sh"
tsr_init osd-incomplete

OSDCTL="$TSR_BIN/osdctl"
MON="$TSR_BIN/tessera-mon"
OSD="$TSR_BIN/tessera-osd"
CLI="${TSR_OSD_TESTCLI:-$(dirname "$TSR_BIN")/tests/integ/osd/tessera-osd-testcli}"
[ -x "$CLI" ] || tsr_fail "test client not found at $CLI"
NPG=8
NOBJ=80

mport=$(tsr_free_port)
MONADDR="127.0.0.1:$mport"
tsr_start mon "$MON" --id 1 --data "$TSR_DIR/mon" --listen "$MONADDR" --osd-grace 2s
tsr_wait_port 127.0.0.1 "$mport" 10

start_osd() {
	tsr_start "osd$1" "$OSD" --mon "$MONADDR" --device "$TSR_DIR/osd$1.img" --size 128M \
		--cores 2 --host "host$1" --io-buffers 32 --max-io 64K --object-size 256K \
		--op-timeout 3s --recovery-max-bytes-per-sec 256K --no-recovery-blocking-pull
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
# A PG osd3 pulls at least 3 objects into (in the current run of osd3).
pulling_pg() {
	grep -oE "PG 1\.[0-9a-f]+: pulling [0-9]+ objects from osd\.[0-9]+ in the background" \
		"$TSR_DIR/osd3.log" | awk '$4 >= 3' | head -n 1 | sed -E 's/^PG 1\.([0-9a-f]+):.*/\1/'
}
have_pulling() {
	[ -n "$(pulling_pg)" ]
}
logged() {
	grep -qE "$2" "$TSR_DIR/osd$1.log"
}
reads_waiting() {
	grep -q "not active\|incomplete" "$TSR_DIR/osd3.log"
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
start_osd 3
tsr_wait_for 30 "osd3 pulls a PG in the background" -- have_pulling
seed=$((16#$(pulling_pg)))
tsr_kill osd3
tsr_log "osd3 killed while pulling PG $seed"
logged 3 "PG 1\.$(printf %x "$seed"): pulled " &&
	tsr_fail "the pull of PG $seed finished before the kill (test too fast)"
# The last object of the PG: the background walk (ascending) had not reached it.
last=""
o=$("$CLI" oid-in-pg --mon "$MONADDR" --pool rbd --pg "$seed" --oid 0 | head -n 1)
while [ -n "$o" ] && [ "$o" -lt $NOBJ ]; do
	last=$o
	o=$("$CLI" oid-in-pg --mon "$MONADDR" --pool rbd --pg "$seed" --oid $((o + 1)) | head -n 1)
done
[ -n "$last" ] || tsr_fail "no object in PG $seed"

tsr_wait_for 30 "osd3 marked down" -- osds_up_exact 2
tsr_stop osd1 TERM 20 || tsr_fail "osd1 did not exit cleanly"
tsr_stop osd2 TERM 20 || tsr_fail "osd2 did not exit cleanly"
tsr_wait_for 30 "all OSDs down" -- osds_up_exact 0
start_osd 3
tsr_wait_for 30 "osd3 booted a third time" -- boots 3 3
tsr_wait_for 30 "osd3 up alone" -- osds_up_exact 1
tsr_wait_for 30 "osd3 finds PG $seed incomplete" -- \
	logged 3 "PG 1\.$(printf %x "$seed"): incomplete: our log reaches"
n=$("$OSDCTL" -m "$MONADDR" --timeout 2s pg ls --format json |
	grep -oE "\"seed\":$seed,\"acting\":\[[0-9,]*\],\"primary\":[0-9]+,\"state\":\"incomplete\"" |
	wc -l)
tsr_assert_eq "$n" 1 "pg ls shows PG $seed incomplete"
# Not the stale copy: a clear error after --op-timeout.
"$CLI" read-one --mon "$MONADDR" --pool rbd --oid "$last" --expect 22 ||
	tsr_fail "a read of $last on the incomplete PG did not fail with EPGINACTIVE"

# A read waiting when osd2 returns gets the newest write. (osd2 stopped last:
# it was up alone after osd1 stopped and could have taken writes that neither
# osd1 nor osd3 holds, so the PGs wait for osd2, not for osd1.)
"$CLI" read-one --mon "$MONADDR" --pool rbd --oid "$last" --base $((5000 + last)) --expect 0 &
bg=$!
start_osd 2
wait "$bg" || tsr_fail "the read did not return the newest write once osd2 came back"
start_osd 1
tsr_wait_for 120 "PGs active+clean and HEALTH_OK with all three back" -- all_clean
"$CLI" verify --mon "$MONADDR" --pool rbd --objects $NOBJ --base 5000 --wait 100 ||
	tsr_fail "members differ after the recovery"

for i in 1 2 3; do
	tsr_stop "osd$i" TERM 20 || tsr_fail "osd$i did not exit cleanly"
done
tsr_pass
