#!/usr/bin/env bash
# Backend restart under guest I/O: a guest runs a write/verify loop on a
# volume through tessera-vhost; the backend is killed with SIGKILL during the
# loop and started again on the same socket. QEMU (reconnect=1) reconnects,
# hands back the inflight region, the new backend resubmits what the dead one
# had taken, and the guest's I/O resumes: every iteration must verify, and
# the exported volume must hold the last iteration's data.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../deploy/lc_lib.sh"
. "$(dirname "$0")/vh_lib.sh"
lc_init vhost_restart
vh_guest_prepare

lc_up --size 512M
osdctl volume create vm1 64M >/dev/null || tsr_fail "volume create"
sock=$TSR_DIR/vm1.sock
vhost_cmd=("$TSR_BIN/tessera-vhost" --mon "$TESSERA_MON" --socket "$sock" --volume vm1 --queues 2)
tsr_start vhost1 "${vhost_cmd[@]}"
TSR_WAIT_DAEMON=vhost1 tsr_wait_for 20 "vhost socket" -- test -S "$sock"

iters=4
vh_qemu guest "$sock" loop r1 $iters
TSR_WAIT_DAEMON=guest tsr_wait_for 180 "guest loop running" -- vh_console_has guest "TSR-ITER 1"
# Freeze the OSDs so that the guest's requests pile up in the backend, and
# wait until it reports some in flight (SIGUSR1 logs the count): the kill
# then certainly lands on I/O taken from the rings and not completed.
osds=()
for f in "$LC_DIR"/osd*.pid; do osds+=("$(cat "$f")"); done
trap 'rc=$?; kill -CONT "${osds[@]}" 2>/dev/null; (exit $rc); lc__cleanup' EXIT
kill -STOP "${osds[@]}"
vh_inflight() {
	kill -USR1 "$(tsr_pid vhost1)"
	sleep 0.1
	grep -qv " 0 requests in flight" < <(grep "requests in flight" "$TSR_DIR/vhost1.log" | tail -n1)
}
TSR_WAIT_DAEMON=vhost1 tsr_wait_for 20 "requests in flight in the backend" -- vh_inflight
tsr_log "kill -9 tessera-vhost with $(grep -o '[0-9]* requests in flight' "$TSR_DIR/vhost1.log" | tail -n1)"
tsr_kill vhost1
kill -CONT "${osds[@]}"
tsr_start vhost2 "${vhost_cmd[@]}"
TSR_WAIT_DAEMON=vhost2 tsr_wait_for 20 "frontend reconnected" -- \
	grep -q "frontend connected" "$TSR_DIR/vhost2.log"
vh_wait_result guest 240
grep -q "TSR-ITER $iters" "$TSR_DIR/guest.console" || tsr_fail "the loop did not finish"
grep -q "queue 0 started" "$TSR_DIR/vhost2.log" || tsr_fail "the restarted backend served no queue"
resub=$(grep -o 'resubmitting [0-9]* requests' "$TSR_DIR/vhost2.log" | tr '\n' ' ')
[ -n "$resub" ] || tsr_fail "the restarted backend resubmitted nothing"
tsr_log "after the restart: $resub"

osdctl volume export vm1 "$TSR_DIR/vm1.img" >/dev/null 2>"$TSR_DIR/export.err" ||
	{ cat "$TSR_DIR/export.err" >&2; tsr_fail "volume export"; }
# The loop writes the last seed over every checked block; the discard area
# was never written by it and reads as zeroes.
vh_check_file "$TSR_DIR/vm1.img" r1-$iters loop
tsr_stop vhost2 || tsr_fail "tessera-vhost did not exit cleanly on SIGTERM"
tsr_pass
