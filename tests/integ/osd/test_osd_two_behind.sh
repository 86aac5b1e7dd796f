#!/usr/bin/env bash
# Two replicas behind (pool size 3, min_size 1): osd3 misses two rounds of
# writes, osd2 the second one only. Only one member can be left out of the
# RepOps while the PG serves (the other must take writes with the primary),
# so one of them is pushed before the PG serves and the other is recovered in
# the background: the primary must leave the one furthest behind (osd3, the
# most to push) to the background and push osd2 first, never the reverse.
# Then every PG is active+clean, HEALTH_OK, and every object verifies on every
# member.
. "$(dirname "$0")/../lib.sh"
tsr_init osd-two-behind

OSDCTL="$TSR_BIN/osdctl"
MON="$TSR_BIN/tessera-mon"
OSD="$TSR_BIN/tessera-osd"
CLI="${TSR_OSD_TESTCLI:-$(dirname "$TSR_BIN")/tests/integ/osd/tessera-osd-testcli}"
[ -x "$CLI" ] || tsr_fail "test client not found at $CLI"
NPG=8
NOBJ=120

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
osd_id() {
	grep -oE "booted as osd\.[0-9]+" "$TSR_DIR/osd$1.log" | head -n 1 | sed 's/.*osd\.//'
}
logged() {
	grep -qE "$2" "$TSR_DIR/osd$1.log"
}

for i in 1 2 3; do start_osd "$i"; done
tsr_wait_for 30 "3 OSDs up" -- osds_up_exact 3
"$OSDCTL" -m "$MONADDR" pool create rbd --size 3 --min-size 1 --pg-count $NPG ||
	tsr_fail "pool create"
"$CLI" rewrite --mon "$MONADDR" --pool rbd --objects $NOBJ --base 1000 || tsr_fail "first writes"
tsr_wait_for 30 "PGs active+clean before the test" -- all_clean
id2=$(osd_id 2)
id3=$(osd_id 3)

tsr_stop osd3 TERM 20 || tsr_fail "osd3 did not exit cleanly"
tsr_wait_for 30 "osd3 marked down" -- osds_up_exact 2
"$CLI" rewrite --mon "$MONADDR" --pool rbd --objects $NOBJ --base 3000 ||
	tsr_fail "writes while osd3 is down"
tsr_stop osd2 TERM 20 || tsr_fail "osd2 did not exit cleanly"
tsr_wait_for 30 "osd2 marked down" -- osds_up_exact 1
"$CLI" rewrite --mon "$MONADDR" --pool rbd --objects $NOBJ --base 5000 ||
	tsr_fail "writes on osd1 alone (min_size 1)"

# osd3 first (alone behind: recovered in the background), then osd2 while
# osd3 is still behind: now both are, and osd3 stays the background one.
start_osd 3
tsr_wait_for 30 "osd3 booted again" -- boots 3 2
tsr_wait_for 30 "osd1 recovers osd.$id3 in the background" -- \
	logged 1 "osd\.$id3 is behind .*recovering it in the background"
start_osd 2
tsr_wait_for 30 "osd2 booted again" -- boots 2 2
tsr_wait_for 30 "osd1 sees osd.$id2 behind" -- logged 1 "osd\.$id2 is behind"
tsr_wait_for 120 "PGs active+clean and HEALTH_OK after recovery" -- all_clean
grep -E "is behind" "$TSR_DIR/osd1.log" >&2
# osd3 (furthest behind) is never the one pushed before the PG serves; when
# both were behind in a round, osd2 was pushed ("pushing").
if logged 1 "osd\.$id3 is behind .*: pushing"; then
	tsr_fail "osd.$id3 (furthest behind) was pushed before serving instead of osd.$id2"
fi
logged 1 "osd\.$id2 is behind .*: pushing" ||
	tsr_log "note: osd3 was done before osd2 returned in every PG of osd1 (no round with both)"
"$CLI" verify --mon "$MONADDR" --pool rbd --objects $NOBJ --base 5000 --wait 100 ||
	tsr_fail "members differ after the recovery"

for i in 1 2 3; do
	tsr_stop "osd$i" TERM 20 || tsr_fail "osd$i did not exit cleanly"
done
tsr_pass
