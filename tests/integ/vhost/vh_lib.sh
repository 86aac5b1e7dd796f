# shellcheck shell=bash
# Shared by the tessera-vhost guest tests: builds the guest (kernel +
# busybox initramfs, mkinitramfs.sh), boots QEMU (TCG) against a
# tessera-vhost socket, waits for the guest's result line, and recomputes the
# guest's data pattern on the host.
#
#   vh_guest_prepare                     # $TSR_DIR/guest/{vmlinuz,initramfs.cpio.gz}; skips (77) without QEMU/busybox
#   vh_qemu NAME SOCKET "MODE" SEED [ITERS]   # start QEMU; console in $TSR_DIR/NAME.console
#   vh_wait_result NAME TIMEOUT          # wait for "TSR-RESULT:", fail unless PASS
#   vh_check_file FILE SEED [loop]       # FILE (an exported volume) holds the guest's pattern
#                                        # (loop: the loop mode's blocks)

VH_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# In CI (CI set, as .ci/run does) a missing QEMU or guest kernel is a failure,
# not a skip: CI installs them (scripts/install-deps.sh).
vh_guest_prepare() {
	if ! command -v qemu-system-x86_64 >/dev/null; then
		[ -n "${CI:-}" ] && tsr_fail "no qemu-system-x86_64 (CI must run the guest tests)"
		tsr_log "SKIP: no qemu-system-x86_64"; TSR_PASSED=1; exit 77
	fi
	local rc=0
	"$VH_HERE/mkinitramfs.sh" "$TSR_DIR/guest" 2>>"$TSR_DIR/mkinitramfs.log" || rc=$?
	if [ "$rc" = 77 ] && [ -n "${CI:-}" ]; then
		cat "$TSR_DIR/mkinitramfs.log" >&2
		tsr_fail "guest image cannot be built (CI must run the guest tests)"
	fi
	if [ "$rc" = 77 ]; then
		tsr_log "SKIP: $(tail -n1 "$TSR_DIR/mkinitramfs.log")"
		TSR_PASSED=1
		exit 77
	fi
	[ "$rc" = 0 ] || { cat "$TSR_DIR/mkinitramfs.log" >&2; tsr_fail "mkinitramfs.sh"; }
}

vh_qemu() {
	local name=$1 sock=$2 mode=$3 seed=$4 iters=${5:-4}
	local con="$TSR_DIR/$name.console"
	: >"$con"
	TSR_LOGS[$name.console]=$con
	tsr_start "$name" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -m 512 -smp 2 \
		-object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem \
		-kernel "$TSR_DIR/guest/vmlinuz" -initrd "$TSR_DIR/guest/initramfs.cpio.gz" \
		-append "console=ttyS0 quiet panic=-1 tsr.mode=$mode tsr.seed=$seed tsr.iters=$iters" \
		-chardev "socket,id=vhost0,path=$sock,reconnect=1" \
		-device vhost-user-blk-pci,chardev=vhost0,num-queues=2 \
		-display none -serial "file:$con" -no-reboot -nodefaults
}

vh_console_has() {
	grep -q "$2" "$TSR_DIR/$1.console"
}

vh_wait_result() {
	local name=$1 timeout=$2
	TSR_WAIT_DAEMON=$name tsr_wait_for "$timeout" "$name: a result line" -- \
		vh_console_has "$name" "TSR-RESULT:"
	grep -a "^TSR-" "$TSR_DIR/$name.console" | tr -d '\r' >&2
	grep -q "TSR-RESULT: PASS" "$TSR_DIR/$name.console" ||
		tsr_fail "$name: $(grep -a 'TSR-RESULT:' "$TSR_DIR/$name.console" | tr -d '\r')"
	TSR_WAIT_DAEMON="" tsr_wait_for 30 "$name exits" -- bash -c "! kill -0 $(tsr_pid "$name")"
	tsr_stop "$name" TERM 5 || true
}

# The guest's pattern (guest-init.sh: pat).
vh_pat() { yes "tessera $2 block $1 " | head -c 4096; }

vh_check_file() {
	local file=$1 seed=$2 bc b c k
	local blocks discard tag=tsr-blocks var=BLOCKS
	[ "${3:-}" = loop ] && tag=tsr-loop-blocks var=LOOP_BLOCKS
	blocks=$(sed -n "s/^$var=\"\(.*\)\" # $tag\$/\1/p" "$VH_HERE/guest-init.sh")
	discard=$(sed -n 's/^DISCARD=\([0-9:]*\) # tsr-discard$/\1/p' "$VH_HERE/guest-init.sh")
	[ -n "$blocks" ] && [ -n "$discard" ] || tsr_fail "cannot read the block list of guest-init.sh"
	for bc in $blocks; do
		b=${bc%:*} c=${bc#*:}
		for ((k = b; k < b + c; k++)); do vh_pat "$k" "$seed"; done >"$TSR_DIR/want"
		dd if="$file" of="$TSR_DIR/got" bs=4096 skip="$b" count="$c" status=none
		cmp -s "$TSR_DIR/want" "$TSR_DIR/got" || tsr_fail "$file: blocks $b+$c differ from the guest's data"
	done
	b=${discard%:*} c=${discard#*:}
	dd if="$file" of="$TSR_DIR/got" bs=4096 skip="$b" count="$c" status=none
	cmp -s <(head -c $((c * 4096)) /dev/zero) "$TSR_DIR/got" ||
		tsr_fail "$file: discarded blocks $b+$c are not zeroes"
}
