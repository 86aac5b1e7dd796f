#!/usr/bin/env bash
# One monitor: map changes survive a clean restart and a SIGKILL; OSDs keep
# their ids across reboots; garbage and truncated frames are rejected and the
# monitor keeps serving.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/mon_lib.sh"
tsr_init mon-single

port=$(tsr_free_port)
rport=$((port + 1000))
M=127.0.0.1:$port
data="$TSR_DIR/mon1"
start_mon mon1 1 "$port" "$data"
tsr_wait_for 60 "mon.1 leads" -- bash -c "\"$OSDCTL\" -m $M --timeout 1s status >/dev/null"

"$OSDCTL" -m "$M" pool create rbd --size 2 --min-size 1 --pg-count 32 || tsr_fail "pool create"
"$OSDCTL" -m "$M" pool create second --pg-count 8 || tsr_fail "pool create 2"
"$OSDCTL" -m "$M" pool create rbd >/dev/null 2>&1 && tsr_fail "duplicate pool accepted"
"$OSDCTL" -m "$M" pool create bad --size 0 >/dev/null 2>&1 && tsr_fail "size 0 accepted"
for i in 1 2 3; do
	"$OSDCTL" -m "$M" debug fake-osd --uuid "uuid-$i" --host "h$i" --heartbeats 0 \
		>"$TSR_DIR/osd$i.out" || tsr_fail "fake osd $i boot"
done
grep -q "osd_id=2" "$TSR_DIR/osd3.out" || tsr_fail "third OSD did not get id 2"
"$OSDCTL" -m "$M" pool set second size 1 || tsr_fail "pool set"
"$OSDCTL" -m "$M" pool rm second >/dev/null 2>&1 && tsr_fail "pool rm without confirmation"
"$OSDCTL" -m "$M" pool rm second --yes-i-really-mean-it || tsr_fail "pool rm"
before=$("$OSDCTL" -m "$M" status --format json) || tsr_fail "status"
epoch=$(json_num "$before" epoch)
tsr_log "map before restart: $before"
[ "$(json_num "$before" total)" = 1 ] || true

# Bad input: garbage, then a truncated frame (valid header, missing body).
exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET / HTTP/1.0\r\n\r\nthis is not a frame at all, not even close........' >&3
exec 3>&-
exec 3<>"/dev/tcp/127.0.0.1/$port"
# magic "TSRF", version 1, flags 0, type 7 (get_map), msg_len 100, ... then EOF.
printf 'TSRF\x01\x00\x07\x00\x64\x00\x00\x00' >&3
exec 3>&-
tsr_wait_for 60 "monitor logged the bad frames" -- grep -q "bad frame\|truncated" "$TSR_DIR/mon1.log"
tsr_assert "monitor died on bad input" -- tsr_is_running mon1
"$OSDCTL" -m "$M" status >/dev/null || tsr_fail "monitor stopped serving after bad input"

# Clean restart keeps the map.
tsr_stop mon1 || tsr_fail "mon1 exited non-zero on SIGTERM"
start_mon mon1 1 "$port" "$data"
tsr_wait_for 60 "map back after restart" -- bash -c \
	"\"$OSDCTL\" -m $M --timeout 1s pool ls | grep -q rbd"
after=$("$OSDCTL" -m "$M" status --format json)
e2=$(json_num "$after" epoch)
[ "$e2" -ge "$epoch" ] || tsr_fail "epoch went back from $epoch to $e2"
out=$("$OSDCTL" -m "$M" pool ls) || tsr_fail "pool ls"
grep -q second <<<"$out" && tsr_fail "removed pool came back"
grep -q "uuid-3" <<<"$("$OSDCTL" -m "$M" osd ls)" || tsr_fail "osd lost across restart"

# SIGKILL keeps every acknowledged change too.
"$OSDCTL" -m "$M" pool create afterkill --pg-count 4 || tsr_fail "pool create before kill"
tsr_kill mon1
start_mon mon1 1 "$port" "$data"
tsr_wait_for 60 "map back after SIGKILL" -- bash -c \
	"\"$OSDCTL\" -m $M --timeout 1s pool ls | grep -q afterkill"
# An OSD rebooting with its uuid keeps its id.
"$OSDCTL" -m "$M" debug fake-osd --uuid uuid-2 --host h2 --heartbeats 0 >"$TSR_DIR/re.out" ||
	tsr_fail "reboot"
grep -q "osd_id=1" "$TSR_DIR/re.out" || tsr_fail "uuid-2 did not keep id 1: $(cat "$TSR_DIR/re.out")"
grep -q "acting" <<<"$("$OSDCTL" -m "$M" pg map 1.1f)" || tsr_fail "pg map"
"$OSDCTL" -m "$M" pg map 9.0 >/dev/null 2>&1 && tsr_fail "pg map of a missing pool succeeded"
"$OSDCTL" -m "$M" osd out 77 >/dev/null 2>&1 && tsr_fail "osd out of unknown id succeeded"
"$OSDCTL" -m "127.0.0.1:$(tsr_free_port)" --timeout 1s status >/dev/null 2>&1
[ $? = 3 ] || tsr_fail "unreachable monitor: exit code is not 3"
tsr_pass
