#!/usr/bin/env bash
# Smoke run of tessera-vhost-bench against tessera-vhost's RAM disk: every
# pattern for a moment, with zero errors. The measurements are in docs/vhost.md.
#   tests/bench/vhost/smoke.sh BIN_DIR
set -u
TSR_BIN=${1:?usage: smoke.sh BIN_DIR}
. "$(dirname "$0")/../../integ/lib.sh"
tsr_init bench_vhost_smoke
sock=$TSR_DIR/vhost.sock
tsr_start vhost "$TSR_BIN/tessera-vhost" --socket "$sock" --malloc 64M --queues 2
TSR_WAIT_DAEMON=vhost tsr_wait_for 10 "vhost socket" -- test -S "$sock"
for rw in randwrite randread write read; do
	out=$("$TSR_BIN/tessera-vhost-bench" --socket "$sock" --rw $rw --iodepth 8 --queues 2 \
		--runtime 500ms --backend-pid "$(tsr_pid vhost)") || tsr_fail "$rw: $out"
	tsr_log "$out"
	grep -q " 0 errors" <<<"$out" || tsr_fail "$rw reported errors"
	TSR_WAIT_DAEMON=vhost tsr_wait_for 10 "backend ready again" -- \
		grep -q "frontend disconnected" "$TSR_DIR/vhost.log"
	: >"$TSR_DIR/vhost.log"
done
tsr_stop vhost || tsr_fail "tessera-vhost did not exit cleanly"
tsr_pass
