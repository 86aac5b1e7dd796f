#!/bin/sh
# /init of the vhost test guest (busybox). The kernel command line chooses
# the checks: tsr.mode=io|verify|loop|resize|dd (comma-separated, run in order),
# tsr.seed=WORD (the data pattern), tsr.iters=N (loop). Every check prints
# "TSR-..." lines on the console; the last line is "TSR-RESULT: PASS" or
# "TSR-RESULT: FAIL <why>", then the guest powers off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmp /tmp
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m.ko || echo "TSR-WARN insmod $m"; done

mode=io seed=s1 iters=4
for a in $(cat /proc/cmdline); do
	case "$a" in
	tsr.mode=*) mode=${a#tsr.mode=} ;;
	tsr.seed=*) seed=${a#tsr.seed=} ;;
	tsr.iters=*) iters=${a#tsr.iters=} ;;
	esac
done

result() {
	echo "TSR-RESULT: $*"
	sync
	poweroff -f
	sleep 10
}
fail() { result "FAIL $*"; }

i=0
while [ ! -b /dev/vda ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "no /dev/vda"
	sleep 0.1
done
dev=/dev/vda
echo "TSR-SIZE $(cat /sys/block/vda/size)"
echo "TSR-SERIAL $(cat /sys/block/vda/serial 2>/dev/null)"
echo "TSR-QUEUES $(ls /sys/block/vda/mq | wc -l)"
echo "TSR-BLKSIZE $(cat /sys/block/vda/queue/logical_block_size)"

# BLOCK:COUNT pairs of 4 KiB blocks (64 MiB device; 1024 blocks = one 4 MiB object).
BLOCKS="0:1 1:1 7:2 255:1 1023:2 1024:1 2047:4 3071:16 4096:64 8191:1 12000:256 16383:1" # tsr-blocks
DISCARD=5000:8 # tsr-discard
# The loop mode's smaller set (each iteration rewrites and checks it).
LOOP_BLOCKS="0:1 1023:2 2047:4 4096:32 12000:64 16383:1" # tsr-loop-blocks

# The pattern of block $1 with seed $2: 4096 bytes (the host makes the same).
pat() { yes "tessera $2 block $1 " | head -c 4096; }
chunk() { # BLOCK COUNT SEED > file
	_k=$1
	while [ $_k -lt $(($1 + $2)) ]; do pat $_k $3; _k=$((_k + 1)); done
}

write_all() { # SEED [BLOCKS]
	for bc in ${2:-$BLOCKS}; do
		b=${bc%:*} c=${bc#*:}
		chunk $b $c $1 >/tmp/w
		dd if=/tmp/w of=$dev bs=4096 seek=$b count=$c oflag=direct 2>/dev/null ||
			fail "write at block $b"
	done
}

verify_all() { # SEED [BLOCKS]
	for bc in ${2:-$BLOCKS}; do
		b=${bc%:*} c=${bc#*:}
		chunk $b $c $1 >/tmp/w
		dd if=$dev of=/tmp/r bs=4096 skip=$b count=$c iflag=direct 2>/dev/null ||
			fail "read at block $b"
		cmp -s /tmp/w /tmp/r || fail "data mismatch at block $b (seed $1)"
	done
	b=${DISCARD%:*} c=${DISCARD#*:}
	head -c $((c * 4096)) /dev/zero >/tmp/z
	dd if=$dev of=/tmp/r bs=4096 skip=$b count=$c iflag=direct 2>/dev/null ||
		fail "read at block $b"
	cmp -s /tmp/z /tmp/r || fail "discarded blocks $b+$c do not read as zeroes"
}

check_io() {
	write_all $seed
	# A discard: write, discard, must read zeroes.
	b=${DISCARD%:*} c=${DISCARD#*:}
	chunk $b $c $seed >/tmp/w
	dd if=/tmp/w of=$dev bs=4096 seek=$b count=$c oflag=direct 2>/dev/null || fail "write $b"
	blkdiscard -o $((b * 4096)) -l $((c * 4096)) $dev || fail "blkdiscard"
	# Buffered writes made durable by sync (a FLUSH), read back past the cache.
	chunk 3000 4 $seed >/tmp/w
	dd if=/tmp/w of=$dev bs=4096 seek=3000 count=4 conv=fsync 2>/dev/null || fail "write 3000"
	sync
	echo 3 >/proc/sys/vm/drop_caches
	dd if=$dev of=/tmp/r bs=4096 skip=3000 count=4 iflag=direct 2>/dev/null || fail "read 3000"
	cmp -s /tmp/w /tmp/r || fail "buffered write at 3000 did not read back"
	verify_all $seed
	echo "TSR-IO-OK"
}

check_loop() {
	# Background readers keep requests in flight at all times, so that a
	# backend killed during the loop dies with I/O taken and not completed.
	(while :; do dd if=$dev of=/dev/null bs=1M count=16 iflag=direct 2>/dev/null; done) &
	reader=$!
	k=1
	while [ $k -le $iters ]; do
		write_all $seed-$k "$LOOP_BLOCKS"
		verify_all $seed-$k "$LOOP_BLOCKS"
		echo "TSR-ITER $k"
		k=$((k + 1))
	done
	kill $reader
	# Leave the data of the last iteration for the host to check.
	echo "TSR-LAST-SEED $seed-$iters"
}

check_resize() {
	old=$(cat /sys/block/vda/size)
	echo "TSR-READY"
	i=0
	while [ "$(cat /sys/block/vda/size)" = "$old" ]; do
		i=$((i + 1))
		[ $i -gt 600 ] && fail "the size did not change"
		sleep 0.1
	done
	echo "TSR-RESIZED $(cat /sys/block/vda/size)"
}

# Timing only (tests/bench/vhost/guest-dd.sh): dd with O_DIRECT over the
# first 32 MiB, each repeated tsr.iters times, one "TSR-DD what bytes
# centiseconds" line each. Under TCG these measure the emulated guest CPU
# more than the backend.
now_cs() { read _u _r </proc/uptime; echo $((${_u%.*} * 100 + 1${_u#*.} - 100)); }
dd_time() { # WHAT BYTES dd-args...
	_w=$1 _n=$2 _k=0
	shift 2
	_t0=$(now_cs)
	while [ $_k -lt $iters ]; do
		dd "$@" 2>/dev/null || fail "dd $_w"
		_k=$((_k + 1))
	done
	_t1=$(now_cs)
	echo "TSR-DD $_w $((_n * iters)) $((_t1 - _t0))"
}
check_dd() {
	dd_time seq-write-1M $((32 << 20)) if=/dev/zero of=$dev bs=1M count=32 oflag=direct
	dd_time seq-read-1M $((32 << 20)) if=$dev of=/dev/null bs=1M count=32 iflag=direct
	dd_time seq-write-4K $((4 << 20)) if=/dev/zero of=$dev bs=4096 count=1024 oflag=direct
	dd_time seq-read-4K $((4 << 20)) if=$dev of=/dev/null bs=4096 count=1024 iflag=direct
}

for m in $(echo $mode | tr , ' '); do
	case $m in
	io) check_io ;;
	verify) verify_all $seed && echo "TSR-VERIFY-OK" ;;
	loop) check_loop ;;
	resize) check_resize ;;
	dd) check_dd ;;
	*) fail "unknown mode $m" ;;
	esac
done
result PASS
