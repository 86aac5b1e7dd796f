#!/usr/bin/env bash
# The guest's own dd figures of docs/perf.md ("vhost-user"): the test guest
# of tests/integ/vhost (QEMU, TCG: no KVM here, 2 vCPUs, 2 queues) boots with
# tsr.mode=dd and times O_DIRECT dd runs (each repeated 8 times) on its
# vhost-user-blk disk, first served by tessera-vhost on a local 3-OSD
# cluster, then by qemu-storage-daemon on a plain file in the same
# directory. Under TCG the
# guest's emulated CPU is the bottleneck: these figures say what a TCG guest
# sees, not what the backends can do (scripts/bench-vhost.sh measures that).
#
#   tests/bench/vhost/guest-dd.sh BIN_DIR
#
# Prints one markdown row per dd run. Everything started is stopped on exit.
set -u
TSR_BIN=$(cd "${1:?usage: guest-dd.sh BIN_DIR}" && pwd)
export TSR_BIN
. "$(dirname "$0")/../../integ/lib.sh"
. "$(dirname "$0")/../../integ/deploy/lc_lib.sh"
. "$(dirname "$0")/../../integ/vhost/vh_lib.sh"
lc_init bench_vhost_guest_dd
vh_guest_prepare

rows() { # LABEL CONSOLE
	grep -a "^TSR-DD " "$2" | tr -d '\r' | while read -r _ what bytes cs; do
		if [ "$cs" -gt 0 ]; then
			echo "| $1 | $what | $((bytes / 1024)) KiB | $((cs * 10)) ms |" \
				"$((bytes * 100 / cs / 1024 / 1024)) MiB/s |" \
				"$(case $what in *4K) echo "$((bytes / 4096 * 100 / cs))" ;; *) echo - ;; esac) |"
		else
			echo "| $1 | $what | $((bytes / 1024)) KiB | <10 ms | - | - |"
		fi
	done
}

tsr_log "tessera-vhost on a 3-OSD cluster"
lc_up --size 512M
osdctl volume create ddvol 64M >/dev/null || tsr_fail "volume create"
sock=$TSR_DIR/dd.sock
tsr_start vhost "$TSR_BIN/tessera-vhost" --mon "$TESSERA_MON" --socket "$sock" --volume ddvol \
	--queues 2
TSR_WAIT_DAEMON=vhost tsr_wait_for 20 "vhost socket" -- test -S "$sock"
vh_qemu guest1 "$sock" dd d1 8
vh_wait_result guest1 240
tsr_stop guest1 || true
tsr_stop vhost || tsr_fail "tessera-vhost did not exit cleanly"
"$LC_SCRIPT" down --dir "$LC_DIR" >/dev/null 2>&1

tsr_log "qemu-storage-daemon on a file"
if command -v qemu-storage-daemon >/dev/null; then
	truncate -s 64M "$TSR_DIR/qsd.img"
	qsock=$TSR_DIR/qsd.sock
	tsr_start qsd qemu-storage-daemon \
		--blockdev "driver=file,filename=$TSR_DIR/qsd.img,node-name=f,cache.direct=on,aio=io_uring" \
		--export "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=$qsock,writable=on,num-queues=2"
	TSR_WAIT_DAEMON=qsd tsr_wait_for 20 "qsd socket" -- test -S "$qsock"
	vh_qemu guest2 "$qsock" dd d2 8
	vh_wait_result guest2 240
	tsr_stop guest2 || true
	tsr_stop qsd || true
fi

echo "| backend (TCG guest) | dd | bytes | time | MiB/s | IOPS |"
echo "| --- | --- | ---: | ---: | ---: | ---: |"
rows "tessera-vhost, 3 OSDs" "$TSR_DIR/guest1.console"
[ -f "$TSR_DIR/guest2.console" ] && rows "qemu-storage-daemon" "$TSR_DIR/guest2.console"
tsr_pass
