#!/usr/bin/env bash
# Failure detection, measured: a fake OSD heartbeats every 200 ms and stops;
# the monitor must mark it down within grace (1 s) + one heartbeat interval,
# then out after --osd-out-after, and back up and in when it boots again.
# Then PG states reported by primaries drive status and health, and a clean
# stop (OsdMarkDown) marks an OSD down at once.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/mon_lib.sh"
tsr_init mon-failure

GRACE_MS=1000
HB_MS=200
port=$(tsr_free_port)
M=127.0.0.1:$port
start_mon mon1 1 "$port" "$TSR_DIR/mon1" --osd-grace ${GRACE_MS}ms \
	--osd-out-after 2s --osd-heartbeat-interval ${HB_MS}ms
tsr_wait_for 60 "mon.1 leads" -- bash -c "\"$OSDCTL\" -m $M --timeout 1s status >/dev/null"
"$OSDCTL" -m "$M" pool create rbd --size 2 --pg-count 16 || tsr_fail "pool create"

# A subscriber sees every epoch pushed (full map first, then incrementals).
tsr_start sub "$OSDCTL" -m "$M" --timeout 60s debug subscribe --heartbeats 1000
tsr_wait_for 60 "subscriber got the current map" -- grep -q "^full" "$TSR_DIR/sub.log"

# A steady OSD keeps heartbeating through the test (in the background).
tsr_start steady "$OSDCTL" -m "$M" debug fake-osd --uuid steady --host hs --heartbeats 1000 \
	--interval ${HB_MS}ms
tsr_wait_for 60 "steady osd booted" -- bash -c "\"$OSDCTL\" -m $M osd ls | grep -q steady"

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
grep -q OSD_DOWN <<<"$("$OSDCTL" -m "$M" health)" || tsr_fail "health does not report the down OSD"

is_out() {
	"$OSDCTL" -m "$M" osd ls --format json | grep -o "{\"id\":$vid,[^}]*\"in\":false" >/dev/null
}
tsr_wait_for 30 "osd.$vid marked out" -- is_out
tsr_log "osd.$vid marked out"
# The steady OSD is untouched.
grep steady <<<"$("$OSDCTL" -m "$M" osd ls)" | grep -q " up " || tsr_fail "steady osd went down"

# The subscriber was pushed the epoch that marked it down, as an incremental.
down_epoch=$(json_num "$("$OSDCTL" -m "$M" status --format json)" epoch)
tsr_wait_for 60 "epoch $down_epoch pushed to the subscriber" -- \
	grep -q "^inc [0-9]* $down_epoch\$" "$TSR_DIR/sub.log"

# It returns: up and in again (it was marked out automatically).
"$OSDCTL" -m "$M" debug fake-osd --uuid victim --host hv --heartbeats 1 --interval 50ms \
	>/dev/null || tsr_fail "victim reboot"
json=$("$OSDCTL" -m "$M" osd ls --format json)
grep -q '"up":true,"in":true' <<<"$(grep -o "{\"id\":$vid,[^}]*" <<<"$json")" ||
	tsr_fail "victim not up+in after reboot: $json"

# PG states from the primaries: the victim comes back for good and reports
# the state written in a file for every PG it is primary of.
echo "active+undersized+degraded" >"$TSR_DIR/pgstate"
tsr_start reporter "$OSDCTL" -m "$M" --timeout 60s debug fake-osd --uuid victim --host hv \
	--heartbeats 1000 --interval ${HB_MS}ms --pg-state "@$TSR_DIR/pgstate"
reported_degraded() {
	local j
	j=$("$OSDCTL" -m "$M" status --format json) || return 1
	n=$(grep -o '"active+undersized+degraded":[0-9]*' <<<"$j" | cut -d: -f2)
	[ -n "$n" ] && [ "$n" -gt 0 ] && grep -q '"status":"HEALTH_WARN"' <<<"$j"
}
tsr_wait_for 60 "reported degraded PGs counted in status" -- reported_degraded
json=$("$OSDCTL" -m "$M" status --format json)
tsr_log "status with reports: $(grep -o '"pgs":{[^}]*}[^}]*}' <<<"$json")"
grep -q '"code":"PG_DEGRADED"' <<<"$json" || tsr_fail "no PG_DEGRADED in status: $json"
grep -q "PG_DEGRADED" <<<"$("$OSDCTL" -m "$M" health)" ||
	tsr_fail "health does not show PG_DEGRADED"
pgls=$("$OSDCTL" -m "$M" pg ls --format json) || tsr_fail "pg ls"
grep -q '"state":"active+undersized+degraded","state_source":"reported"' <<<"$pgls" ||
	tsr_fail "pg ls does not show the reported state"
# Only the primary counts: the steady OSD's PGs stay as computed from the map.
grep -q '"state":"active+clean","state_source":"map"' <<<"$pgls" ||
	tsr_fail "pg ls: the steady OSD's PGs should show map-computed states"

echo "active+clean" >"$TSR_DIR/pgstate"
healthy() { grep -q "^HEALTH_OK" <<<"$("$OSDCTL" -m "$M" health)"; }
tsr_wait_for 60 "HEALTH_OK once the primaries report active+clean" -- healthy
json=$("$OSDCTL" -m "$M" status --format json)
grep -q '"states":{"active+clean":16}' <<<"$json" || tsr_fail "not 16 active+clean: $json"
[ "$(json_num "$json" reported)" -gt 0 ] || tsr_fail "no reported PG state counted: $json"

# A clean stop: OsdMarkDown marks the OSD down at once (no grace period).
"$OSDCTL" -m "$M" debug fake-osd --uuid quitter --host hq --heartbeats 1 --interval 50ms \
	--mark-down >"$TSR_DIR/quitter.out" || tsr_fail "quitter: mark down refused"
qid=$(grep osd_id "$TSR_DIR/quitter.out" | cut -d= -f2)
q_hb=$(grep last_heartbeat_us "$TSR_DIR/quitter.out" | cut -d= -f2)
json=$("$OSDCTL" -m "$M" osd ls --format json)
grep -q '"up":false' <<<"$(grep -o "{\"id\":$qid,[^}]*" <<<"$json")" ||
	tsr_fail "osd.$qid not down right after OsdMarkDown: $json"
q_down=$(grep -o "{\"id\":$qid,[^]]*" <<<"$json" | grep -o '"down_at_us":[0-9]*' | cut -d: -f2)
tsr_log "MEASURED: clean stop: osd.$qid marked down $(( (q_down - q_hb) / 1000 )) ms after its last heartbeat"
[ $(( (q_down - q_hb) / 1000 )) -lt "$GRACE_MS" ] || tsr_fail "mark-down took a grace period"
tsr_pass
