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
. "$(dirname "$0")/osd_lib.sh"
tsr_init osd-incomplete
osd_need_cli
NPG=8
NOBJ=80

# --op-timeout: the read that waits for osd2 must outlast osd2's restart and
# peering on a slow machine (the reads expected to fail take that long).
OSD_ARGS=(--size 128M --cores 2 --io-buffers 32 --max-io 64K --object-size 256K --op-timeout 8s
	--recovery-max-bytes-per-sec 256K --no-recovery-blocking-pull)
osd_start_mon --osd-grace 2s
# A PG osd3 pulls at least 3 objects into (in the current run of osd3).
pulling_pg() {
	grep -oE "PG 1\.[0-9a-f]+: pulling [0-9]+ objects from osd\.[0-9]+ in the background" \
		"$TSR_DIR/osd3.log" | awk '$4 >= 3' | head -n 1 | sed -E 's/^PG 1\.([0-9a-f]+):.*/\1/'
}
have_pulling() {
	[ -n "$(pulling_pg)" ]
}

osd_cluster_with_data 1

osd_stop 3 2
osd_write_all $NOBJ 5000 "writes while osd3 is down"
start_osd 3
tsr_wait_for 60 "osd3 pulls a PG in the background" -- have_pulling
seed=$((16#$(pulling_pg)))
tsr_kill osd3
tsr_log "osd3 killed while pulling PG $seed"
logged 3 "PG 1\.$(printf %x "$seed"): pulled " &&
	tsr_fail "the pull of PG $seed finished before the kill (test too fast)"
# The last object of the PG: the background walk (ascending) had not reached it.
last=$(pg_objects "$seed" $NOBJ | tail -n 1)
[ -n "$last" ] || tsr_fail "no object in PG $seed"

tsr_wait_for 60 "osd3 marked down" -- osds_up_exact 2
tsr_stop osd1 TERM 60 || tsr_fail "osd1 did not exit cleanly"
tsr_stop osd2 TERM 60 || tsr_fail "osd2 did not exit cleanly"
tsr_wait_for 60 "all OSDs down" -- osds_up_exact 0
osd_restart 3
tsr_wait_for 60 "osd3 up alone" -- osds_up_exact 1
tsr_wait_for 60 "osd3 finds PG $seed incomplete" -- \
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
tsr_start reader "$CLI" read-one --mon "$MONADDR" --pool rbd --oid "$last" --base $((5000 + last)) --expect 0
start_osd 2
tsr_stop reader 0 120 || tsr_fail "the read did not return the newest write once osd2 came back"
start_osd 1
tsr_wait_for 120 "PGs active+clean and HEALTH_OK with all three back" -- all_clean
"$CLI" verify --mon "$MONADDR" --pool rbd --objects $NOBJ --base 5000 --wait $OSD_WAIT ||
	tsr_fail "members differ after the recovery"

osd_stop_all
tsr_pass
