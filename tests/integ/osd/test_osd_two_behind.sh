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
. "$(dirname "$0")/osd_lib.sh"
tsr_init osd-two-behind
osd_need_cli
NPG=8
NOBJ=120

OSD_ARGS=(--size 128M --cores 2 --io-buffers 32 --max-io 64K --object-size 256K --op-timeout 20s
	--recovery-max-bytes-per-sec 256K --no-recovery-blocking-pull)
osd_start_mon --osd-grace 2s

osd_cluster_with_data 1
id2=$(osd_id 2)
id3=$(osd_id 3)

osd_stop 3 2
osd_write_all $NOBJ 3000 "writes while osd3 is down"
osd_stop 2 1
osd_write_all $NOBJ 5000 "writes on osd1 alone (min_size 1)"

# osd3 first (alone behind: recovered in the background), then osd2 while
# osd3 is still behind: now both are, and osd3 stays the background one.
osd_restart 3
tsr_wait_for 60 "osd1 recovers osd.$id3 in the background" -- \
	logged 1 "osd\.$id3 is behind .*recovering it in the background"
osd_restart 2
tsr_wait_for 60 "osd1 sees osd.$id2 behind" -- logged 1 "osd\.$id2 is behind"
tsr_wait_for 120 "PGs active+clean and HEALTH_OK after recovery" -- all_clean
grep -E "is behind" "$TSR_DIR/osd1.log" >&2
# osd3 (furthest behind) is never the one pushed before the PG serves; when
# both were behind in a round, osd2 was pushed ("pushing").
if logged 1 "osd\.$id3 is behind .*: pushing"; then
	tsr_fail "osd.$id3 (furthest behind) was pushed before serving instead of osd.$id2"
fi
logged 1 "osd\.$id2 is behind .*: pushing" ||
	tsr_log "note: osd3 was done before osd2 returned in every PG of osd1 (no round with both)"
"$CLI" verify --mon "$MONADDR" --pool rbd --objects $NOBJ --base 5000 --wait $OSD_WAIT ||
	tsr_fail "members differ after the recovery"

osd_stop_all
tsr_pass
