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
. "$(dirname "$0")/osd_lib.sh"
tsr_init osd-stale-replica
osd_need_cli
NPG=8
NOBJ=40

# --op-timeout: the read that waits for osd2 must outlast osd2's restart and
# peering on a slow machine (the reads expected to fail take that long).
OSD_ARGS=(--size 128M --cores 2 --io-buffers 32 --op-timeout 8s)
osd_start_mon --osd-grace 2s
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

osd_cluster_with_data 1

osd_stop 3 2
osd_write_all $NOBJ 5000 "writes while osd3 is down"
osd_stop 1 1
# osd2 alone (min_size 1) takes one more write: only osd2 has it.
"$CLI" write-one --mon "$MONADDR" --pool rbd --oid 7 --base 7777 --expect 0 ||
	tsr_fail "write with osd2 alone"
tsr_stop osd2 TERM 60 || tsr_fail "osd2 did not exit cleanly"
tsr_wait_for 60 "all OSDs down" -- osds_up_exact 0

osd_restart 3
tsr_wait_for 60 "osd3 up alone" -- osds_up_exact 1
tsr_wait_for 60 "osd3 finds every PG incomplete" -- all_incomplete 3
# Not the stale copy: a clear error after --op-timeout.
"$CLI" read-one --mon "$MONADDR" --pool rbd --oid 3 --expect 22 ||
	tsr_fail "a read on the stale osd3 alone did not fail with EPGINACTIVE"
"$CLI" write-one --mon "$MONADDR" --pool rbd --oid 4 --base 9999 --expect 22 ||
	tsr_fail "a write on the stale osd3 alone did not fail with EPGINACTIVE"

# osd1 knows osd2 went on without it: still incomplete.
osd_restart 1
tsr_wait_for 60 "osd1 and osd3 up" -- osds_up_exact 2
tsr_wait_for 60 "osd1 finds the PGs it is primary of incomplete too" -- some_incomplete 1
"$CLI" read-one --mon "$MONADDR" --pool rbd --oid 7 --expect 22 ||
	tsr_fail "a read without osd2 (which alone holds the newest write) did not fail"

# A read waiting when osd2 returns gets the newest write.
tsr_start reader "$CLI" read-one --mon "$MONADDR" --pool rbd --oid 7 --base 7777 --expect 0
start_osd 2
tsr_stop reader 0 120 || tsr_fail "the read did not return the newest write once osd2 came back"
tsr_wait_for 120 "PGs active+clean and HEALTH_OK with all three back" -- all_clean
"$CLI" check-one --mon "$MONADDR" --pool rbd --oid 7 --base 7777 --wait $OSD_WAIT ||
	tsr_fail "the write made by osd2 alone differs on a member"
"$CLI" verify --mon "$MONADDR" --pool rbd --objects 7 --base 5000 --wait $OSD_WAIT ||
	tsr_fail "members differ after the recovery"

osd_stop_all
tsr_pass
