#!/usr/bin/env bash
# Marking an OSD out and in again: one monitor and four OSDs (one per host), a
# pool of size 3, min_size 2, 16 PGs, PG logs of 16 entries (so a new member
# is filled by backfill, not from the log). Objects are written, then a write
# load runs (every write resent with its request id until acknowledged) while
# the primary of object 0 is marked out. Once every PG is reported
# active+clean by its primary again, the out OSD is in no acting set and
# health is HEALTH_OK, every object must hold its last acknowledged write on
# every member of its NEW acting set (read from each member directly). Then,
# with writes and a delete made while it is out, the OSD is marked in: its
# PGs come back to it, it is brought up to date, and again every PG is
# active+clean, health is OK and every member holds the same data.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/osd_lib.sh"
tsr_init osd-out
osd_need_cli

NPG=16
OSD_ARGS=(--size 128M --cores 2 --io-buffers 32 --max-io 256K --op-timeout 10s --pg-log-len 16)
osd_start_mon --osd-grace 3s

# settled MODE ID: every PG reported active+clean by its primary (a state
# computed from the map does not count: right after a map change the monitor
# has no report for the new acting set yet), every acting set of 3, health
# HEALTH_OK, and osd.ID in no acting set (MODE "without") or in at least one
# (MODE "with").
settled() {
	local mode=$1 id=$2 json n
	json=$("$OSDCTL" -m "$MONADDR" --timeout 2s pg ls --format json 2>/dev/null) || return 1
	n=$(grep -o '"state":"active+clean","state_source":"reported"' <<<"$json" | wc -l)
	[ "$n" = "$NPG" ] || return 1
	n=$(grep -oE '"acting":\[[0-9]+,[0-9]+,[0-9]+\]' <<<"$json" | wc -l)
	[ "$n" = "$NPG" ] || return 1
	n=$(grep -oE '"acting":\[[0-9,]*\]' <<<"$json" | grep -cE "[[,]$id[],]")
	if [ "$mode" = without ]; then
		[ "$n" = 0 ] || return 1
	else
		[ "$n" -gt 0 ] || return 1
	fi
	health_ok
}
# pgs_of ID: how many acting sets osd.ID is a member of.
pgs_of() {
	local json
	json=$("$OSDCTL" -m "$MONADDR" pg ls --format json) || tsr_fail "pg ls"
	grep -oE '"acting":\[[0-9,]*\]' <<<"$json" | grep -cE "[[,]$1[],]"
}

osd_start_cluster 4
osd_pool_create 3 2
osd_write_all 60 1000 "first writes"
tsr_wait_for 60 "PGs active+clean before the test" -- settled with 0

# The primary of object 0 holds PGs (it is primary of at least that one).
read -r -a members <<<"$("$CLI" members --mon "$MONADDR" --pool rbd --oid 0)"
[ "${#members[@]}" = 3 ] || tsr_fail "object 0 has ${#members[@]} members"
OUT=${members[0]}
held=$(pgs_of "$OUT")
tsr_log "marking osd.$OUT out: member of $held of $NPG PGs"
[ "$held" -gt 0 ] || tsr_fail "osd.$OUT holds no PG"

# Out under a write load.
load_start --objects 30 --oid 1500 --base 9000
tsr_wait_for 60 "the write load is running" -- acks 100
"$OSDCTL" -m "$MONADDR" osd out "$OUT" || tsr_fail "osd out $OUT"
load_wait || tsr_fail "the write load failed across osd out"
for i in 1 2 3 4; do tsr_is_running "osd$i" || tsr_fail "osd$i died"; done
tsr_wait_for 120 "every PG active+clean without osd.$OUT, HEALTH_OK" -- settled without "$OUT"
tsr_log "PGs active+clean without osd.$OUT after ${TSR_WAITED_MS} ms (after the load)"
line=$("$OSDCTL" -m "$MONADDR" osd ls | grep -E "^$OUT ")
grep -qw up <<<"$line" || tsr_fail "osd.$OUT is not up any more"
grep -qw out <<<"$line" || tsr_fail "osd.$OUT is not shown out"
# The new acting sets hold every object: read from each member directly.
"$CLI" verify-load --mon "$MONADDR" --pool rbd --state "$TSR_DIR/load" ||
	tsr_fail "after osd out: an acknowledged write is missing on a member of the new acting set"
"$CLI" verify --mon "$MONADDR" --pool rbd --objects 60 --base 1000 ||
	tsr_fail "after osd out: members of the new acting sets differ"
grep -q "backfilling it" "$TSR_DIR"/osd*.log || tsr_fail "no backfill to a new member was logged"
tsr_log "osd.$OUT out: its PGs moved to the others (backfill), HEALTH_OK, data verified"

# Changes while it is out, then in again: its PGs return to it and it is
# brought up to date (its copies are older, one object was deleted).
osd_write_all 60 2000 "writes while osd.$OUT is out"
"$CLI" delete-one --mon "$MONADDR" --pool rbd --oid 59 --expect 0 || tsr_fail "delete"
"$OSDCTL" -m "$MONADDR" osd in "$OUT" || tsr_fail "osd in $OUT"
tsr_wait_for 120 "every PG active+clean with osd.$OUT back, HEALTH_OK" -- settled with "$OUT"
[ "$(pgs_of "$OUT")" = "$held" ] ||
	tsr_fail "osd.$OUT is a member of $(pgs_of "$OUT") PGs after osd in, $held before out"
"$CLI" verify --mon "$MONADDR" --pool rbd --objects 59 --base 2000 ||
	tsr_fail "after osd in: members differ"
"$CLI" absent --mon "$MONADDR" --pool rbd --oid 59 || tsr_fail "the deleted object came back"
"$CLI" verify-load --mon "$MONADDR" --pool rbd --state "$TSR_DIR/load" ||
	tsr_fail "after osd in: an acknowledged write of the load is missing on a member"
tsr_log "osd.$OUT in again: its $held PGs returned, HEALTH_OK, data verified on every member"

osd_stop_all
tsr_pass
