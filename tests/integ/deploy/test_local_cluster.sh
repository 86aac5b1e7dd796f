#!/usr/bin/env bash
# deploy/local-cluster.sh: up (1 monitor, 3 OSDs, pool rbd, HEALTH_OK,
# cluster.env), kill -9 one OSD and `up` brings back only that one, down keeps
# the data, up again on the same data and the same ports, down.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lc_lib.sh"
lc_init local_cluster

tsr_log "up"
lc_up --size 256M
[ -n "${TESSERA_MON:-}" ] || tsr_fail "cluster.env did not set TESSERA_MON"
tsr_assert_eq "$(tail -n1 "$TSR_DIR/up.out")" "$TESSERA_MON" "printed monitor address"
tsr_assert_eq "$(osdctl health | head -n1)" HEALTH_OK "health after up"
grep -qw rbd < <(osdctl pool ls) || tsr_fail "pool rbd missing"
grep -q '"size":3' < <(osdctl -f json pool ls) || tsr_fail "pool rbd is not size 3"
[ "$(osdctl osd ls | grep -cw up)" = 3 ] || tsr_fail "not 3 OSDs up"
"$LC_SCRIPT" status --dir "$LC_DIR" >"$TSR_DIR/status.out" || tsr_fail "status"
grep -q "osd2: running" "$TSR_DIR/status.out" || tsr_fail "status does not list osd2"

declare -A pids
for n in mon1 osd1 osd2 osd3; do pids[$n]=$(lc_pid $n); done

tsr_log "kill -9 osd2 (pid ${pids[osd2]}); up brings back only it"
kill -KILL "${pids[osd2]}"
tsr_wait_for 10 "osd2 gone" -- bash -c "! kill -0 ${pids[osd2]}"
"$LC_SCRIPT" status --dir "$LC_DIR" >"$TSR_DIR/status.out" 2>/dev/null
grep -q "osd2: stopped" "$TSR_DIR/status.out" || tsr_fail "status does not show osd2 stopped"
lc_up
for n in mon1 osd1 osd3; do
	tsr_assert_eq "$(lc_pid $n)" "${pids[$n]}" "$n must not be restarted"
done
[ "$(lc_pid osd2)" != "${pids[osd2]}" ] || tsr_fail "osd2 was not restarted"
grep -q "started osd2" "$TSR_DIR/up.err" || tsr_fail "up did not say it started osd2"
grep -q "started osd1\|started osd3\|started mon1" "$TSR_DIR/up.err" && tsr_fail "up started more than osd2"
tsr_assert_eq "$(osdctl health | head -n1)" HEALTH_OK "health after restart"

tsr_log "down keeps the data"
mon_before=$TESSERA_MON
fsid=$(osdctl -f json status | grep -o '"fsid":"[^"]*"' | head -n1)
lc_down
for n in mon1 osd1 osd2 osd3; do
	kill -0 "${pids[$n]}" 2>/dev/null && [ "$n" != osd2 ] && tsr_fail "$n still running after down"
	[ -f "$LC_DIR/$n.pid" ] && tsr_fail "$n.pid left after down"
done
ls "$LC_DIR"/osd1.img "$LC_DIR"/mon1 >/dev/null || tsr_fail "data removed by down"
"$LC_SCRIPT" status --dir "$LC_DIR" >/dev/null 2>&1 && tsr_fail "status succeeds on a stopped cluster"

tsr_log "up again on the same data"
lc_up
tsr_assert_eq "$TESSERA_MON" "$mon_before" "same monitor address after restart"
tsr_assert_eq "$(osdctl health | head -n1)" HEALTH_OK "health after the second up"
tsr_assert_eq "$(osdctl -f json status | grep -o '"fsid":"[^"]*"' | head -n1)" "$fsid" "same cluster id"
[ "$(osdctl osd ls | grep -c .)" = 4 ] || tsr_fail "OSDs were re-created instead of restarted"
lc_down

tsr_log "bad arguments"
"$LC_SCRIPT" up --dir "$LC_DIR" --osds x >/dev/null 2>&1; tsr_assert_eq $? 2 "bad --osds"
"$LC_SCRIPT" frobnicate >/dev/null 2>&1; tsr_assert_eq $? 2 "unknown command"
"$LC_SCRIPT" up --dir "$LC_DIR" --mons 3 >/dev/null 2>&1; tsr_assert_eq $? 1 "changing --mons"
tsr_pass
