#!/usr/bin/env bash
# tessera-vhost on a volume of a local cluster (1 monitor, 3 OSDs): a Linux
# guest under QEMU (TCG) writes patterns at many offsets (across object
# boundaries), discards, flushes and reads everything back through
# vhost-user-blk with two queues; the host then exports the volume with
# osdctl and compares it byte for byte with the guest's pattern. Then a
# second guest waits while the volume is resized and sees the new capacity
# (CONFIG_CHANGE_MSG -> config interrupt). Last, one process serves two
# volumes (--export) to the userspace benchmark frontend.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../deploy/lc_lib.sh"
. "$(dirname "$0")/vh_lib.sh"
lc_init vhost_guest
vh_guest_prepare

lc_up --size 512M
osdctl volume create vm1 64M >/dev/null || tsr_fail "volume create"
sock=$TSR_DIR/vm1.sock
tsr_start vhost "$TSR_BIN/tessera-vhost" --mon "$TESSERA_MON" --socket "$sock" --volume vm1 \
	--queues 2
TSR_WAIT_DAEMON=vhost tsr_wait_for 20 "vhost socket" -- test -S "$sock"

vh_qemu guest1 "$sock" io c1
vh_wait_result guest1 180
grep -q "TSR-SERIAL vm1" "$TSR_DIR/guest1.console" || tsr_fail "GET_ID is not the volume name"
grep -q "TSR-QUEUES 2" "$TSR_DIR/guest1.console" || tsr_fail "the guest does not see 2 queues"

tsr_log "export the volume and compare with the guest's pattern"
osdctl volume export vm1 "$TSR_DIR/vm1.img" >/dev/null 2>"$TSR_DIR/export.err" ||
	{ cat "$TSR_DIR/export.err" >&2; tsr_fail "volume export"; }
vh_check_file "$TSR_DIR/vm1.img" c1

tsr_log "resize under a running guest"
vh_qemu guest2 "$sock" resize c1
TSR_WAIT_DAEMON=guest2 tsr_wait_for 120 "guest2 ready" -- vh_console_has guest2 TSR-READY
osdctl volume resize vm1 128M >/dev/null || tsr_fail "volume resize"
vh_wait_result guest2 120
grep -q "TSR-RESIZED 262144" "$TSR_DIR/guest2.console" || tsr_fail "the guest did not see 128 MiB"

tsr_stop vhost || tsr_fail "tessera-vhost did not exit cleanly on SIGTERM"

tsr_log "one process, two exports (--export), driven by tessera-vhost-bench"
osdctl volume create vm2 32M >/dev/null || tsr_fail "volume create vm2"
tsr_start vhost2 "$TSR_BIN/tessera-vhost" --mon "$TESSERA_MON" --export "$TSR_DIR/a.sock:vm1" \
	--export "$TSR_DIR/b.sock:vm2" --queues 2
TSR_WAIT_DAEMON=vhost2 tsr_wait_for 20 "both sockets" -- test -S "$TSR_DIR/b.sock" -a -S "$TSR_DIR/a.sock"
for s in a b; do
	out=$("$TSR_BIN/tessera-vhost-bench" --socket "$TSR_DIR/$s.sock" --rw randwrite --iodepth 4 \
		--queues 2 --runtime 1s --size 16M) || tsr_fail "bench on $s.sock: $out"
	tsr_log "$s.sock: $out"
done
osdctl volume export vm2 "$TSR_DIR/vm2.img" >/dev/null 2>&1 || tsr_fail "volume export vm2"
[ "$(head -c 16M "$TSR_DIR/vm2.img" | tr -d '\0' | head -c 1 | wc -c)" = 1 ] ||
	tsr_fail "the bench's writes did not reach vm2"
tsr_stop vhost2 || tsr_fail "tessera-vhost (two exports) did not exit cleanly"
tsr_pass
