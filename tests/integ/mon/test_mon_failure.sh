#!/usr/bin/env bash
# Failure detection, measured: a fake OSD heartbeats every 200 ms and stops;
# the monitor must mark it down within grace (1 s) + one heartbeat interval,
# then out after --osd-out-after, and back up and in when it boots again.
# Peer failure reports need two distinct reporters.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/mon_lib.sh"
tsr_init mon-failure

GRACE_MS=1000
HB_MS=200
port=$(tsr_free_port)
M=127.0.0.1:$port
start_mon mon1 1 "$port" "$TSR_DIR/mon1" --osd-grace ${GRACE_MS}ms \
	--osd-out-after 2s --osd-heartbeat-interval ${HB_MS}ms
tsr_wait_for 10 "mon.1 leads" -- bash -c "\"$OSDCTL\" -m $M --timeout 1s status >/dev/null"
"$OSDCTL" -m "$M" pool create rbd --size 2 --pg-count 16 || tsr_fail "pool create"

# A subscriber sees every epoch pushed (full map first, then incrementals).
tsr_start sub "$OSDCTL" -m "$M" --timeout 60s debug subscribe --heartbeats 1000
tsr_wait_for 10 "subscriber got the current map" -- grep -q "^full" "$TSR_DIR/sub.log"

# A steady OSD keeps heartbeating through the test (in the background).
tsr_start steady "$OSDCTL" -m "$M" debug fake-osd --uuid steady --host hs --heartbeats 200 \
	--interval ${HB_MS}ms
tsr_wait_for 10 "steady osd booted" -- bash -c "\"$OSDCTL\" -m $M osd ls | grep -q steady"

"$OSDCTL" -m "$M" debug fake-osd --uuid victim --host hv --heartbeats 5 --interval ${HB_MS}ms \
	>"$TSR_DIR/victim.out" || tsr_fail "victim osd"
last_hb=$(grep last_heartbeat_us "$TSR_DIR/victim.out" | tail -n 1 | cut -d= -f2)
vid=$(grep osd_id "$TSR_DIR/victim.out" | cut -d= -f2)
[ -n "$last_hb" ] || tsr_fail "victim sent no heartbeat"

is_down() {
	"$OSDCTL" -m "$M" osd ls --format json | grep -o "{\"id\":$vid,[^}]*\"up\":false" >/dev/null
}
tsr_wait_for 30 "osd.$vid marked down" -- is_down
json=$("$OSDCTL" -m "$M" osd ls --format json)
down_at=$(grep -o "{\"id\":$vid,[^]]*" <<<"$json" | grep -o '"down_at_us":[0-9]*' | cut -d: -f2)
delta_ms=$(( (down_at - last_hb) / 1000 ))
tsr_log "MEASURED: osd.$vid marked down ${delta_ms} ms after its last heartbeat (grace ${GRACE_MS} ms, heartbeat ${HB_MS} ms)"
[ "$delta_ms" -ge "$GRACE_MS" ] || tsr_fail "marked down too early: ${delta_ms} ms"
[ "$delta_ms" -le $((GRACE_MS + HB_MS)) ] || tsr_fail "marked down late: ${delta_ms} ms > grace + interval"
"$OSDCTL" -m "$M" health | grep -q OSD_DOWN || tsr_fail "health does not report the down OSD"

is_out() {
	"$OSDCTL" -m "$M" osd ls --format json | grep -o "{\"id\":$vid,[^}]*\"in\":false" >/dev/null
}
tsr_wait_for 30 "osd.$vid marked out" -- is_out
tsr_log "osd.$vid marked out"
# The steady OSD is untouched.
"$OSDCTL" -m "$M" osd ls | grep steady | grep -q " up " || tsr_fail "steady osd went down"

# The subscriber was pushed the epoch that marked it down, as an incremental.
down_epoch=$(json_num "$("$OSDCTL" -m "$M" status --format json)" epoch)
tsr_wait_for 10 "epoch $down_epoch pushed to the subscriber" -- \
	grep -q "^inc [0-9]* $down_epoch\$" "$TSR_DIR/sub.log"

# It returns: up and in again (it was marked out automatically).
"$OSDCTL" -m "$M" debug fake-osd --uuid victim --host hv --heartbeats 1 --interval 50ms \
	>/dev/null || tsr_fail "victim reboot"
json=$("$OSDCTL" -m "$M" osd ls --format json)
grep -o "{\"id\":$vid,[^}]*" <<<"$json" | grep -q '"up":true,"in":true' ||
	tsr_fail "victim not up+in after reboot: $json"
tsr_pass
