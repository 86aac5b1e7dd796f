#!/usr/bin/env bash
# tessera-vhost without a cluster (its RAM-disk backend): a Linux guest under
# QEMU (TCG) reads, writes, discards and flushes through vhost-user-blk with
# two queues and checks every byte; then the same process serves a second
# guest boot (reconnection after the frontend went away) that verifies the
# data the first one left.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/vh_lib.sh"
tsr_init vhost_guest_malloc
vh_guest_prepare

sock=$TSR_DIR/vhost.sock
tsr_start vhost "$TSR_BIN/tessera-vhost" --socket "$sock" --malloc 64M --queues 2
TSR_WAIT_DAEMON=vhost tsr_wait_for 10 "vhost socket" -- test -S "$sock"

vh_qemu guest1 "$sock" io m1
vh_wait_result guest1 120
grep -q "TSR-QUEUES 2" "$TSR_DIR/guest1.console" || tsr_fail "the guest does not see 2 queues"
grep -q "TSR-BLKSIZE 4096" "$TSR_DIR/guest1.console" || tsr_fail "logical block size is not 4096"
grep -q "TSR-SIZE 131072" "$TSR_DIR/guest1.console" || tsr_fail "capacity is not 64 MiB"

vh_qemu guest2 "$sock" verify m1
vh_wait_result guest2 120
tsr_is_running vhost || tsr_fail "tessera-vhost died"
grep -q "queue 1 started" "$TSR_DIR/vhost.log" || tsr_fail "queue 1 never ran"
tsr_stop vhost || tsr_fail "tessera-vhost did not exit cleanly on SIGTERM"
[ ! -e "$sock" ] || tsr_fail "the socket was not removed at exit"
tsr_pass
