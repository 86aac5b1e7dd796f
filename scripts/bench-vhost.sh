#!/usr/bin/env bash
# The vhost-user numbers of docs/perf.md, in one run: tessera-vhost-bench (a
# userspace vhost-user-blk driver playing QEMU's part, tests/bench/vhost)
# drives, one after the other,
#   tessera-vhost serving a volume of a local 3-OSD cluster (pool size 3),
#   tessera-vhost serving a volume of a local 1-OSD cluster (pool size 1),
#   qemu-storage-daemon exporting a plain file in the same directory (same
#     disk) as a vhost-user-blk export (file driver, O_DIRECT, io_uring),
# with 4 KiB random reads and writes at QD1 and QD32 on 1 and 4 queues. The
# working set is written first (sequential 128 KiB writes) so that reads find
# data; the driver counts reads that did not (the "unwritten" column).
# CPU per I/O: the backend process (utime+stime from /proc/PID/stat around
# each run, every thread: for tessera-vhost that includes libtessera), the
# OSDs together, and the driver itself. Prints progress on stderr and a
# markdown table on stdout; stops everything it started, by PID.
#
#   scripts/bench-vhost.sh [--bin DIR] [--time SECS] [--size SIZE] [--dir DIR]
#                          [--only tsr3,tsr1,qsd] [--poll-us US]
#
# --bin: the build's bin directory (default: build/bin of this repository)
# --time: seconds per point (default 5; 8 points per backend)
# --size: the working set, from offset 0 of a volume/file of twice that
#   (default 256M)
# --dir: where the clusters and the file go (default: a new temp dir, removed
#   at the end; a given one is kept)
# --only: the backends to run (default all three)
# --poll-us: tessera-vhost's --poll-us (default: its default, 0)
set -euo pipefail

prog=bench-vhost
here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$here/build/bin
secs=5
size=256M
dir=""
only=tsr3,tsr1,qsd
poll_us=""
usage() { sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
need_arg() { [ $# -ge 2 ] && [ -n "$2" ] || { echo "$prog: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
	case "$1" in
	--bin) need_arg "$@"; bin=$2; shift ;;
	--time) need_arg "$@"; secs=$2; shift ;;
	--size) need_arg "$@"; size=$2; shift ;;
	--dir) need_arg "$@"; dir=$2; shift ;;
	--only) need_arg "$@"; only=$2; shift ;;
	--poll-us) need_arg "$@"; poll_us=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "$prog: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
[[ $secs =~ ^[0-9]+$ ]] && [ "$secs" -ge 1 ] && [ "$secs" -le 60 ] ||
	{ echo "$prog: invalid --time '$secs' (1..60)" >&2; exit 2; }
[[ $size =~ ^[0-9]+[MG]$ ]] || { echo "$prog: invalid --size '$size' (e.g. 256M, 1G)" >&2; exit 2; }
[ -z "$poll_us" ] || [[ $poll_us =~ ^[0-9]+$ ]] ||
	{ echo "$prog: invalid --poll-us '$poll_us'" >&2; exit 2; }
for b in ${only//,/ }; do
	case "$b" in tsr3 | tsr1 | qsd) ;; *) echo "$prog: invalid --only '$b' (tsr3, tsr1, qsd)" >&2; exit 2 ;; esac
done
bin=$(cd "$bin" 2>/dev/null && pwd) || { echo "$prog: no directory $bin" >&2; exit 2; }
for p in tessera-vhost tessera-vhost-bench tessera-mon tessera-osd osdctl; do
	[ -x "$bin/$p" ] || { echo "$prog: $bin/$p is missing (build it first)" >&2; exit 2; }
done
keep_dir=1
if [ -z "$dir" ]; then
	dir=$(mktemp -d "${TMPDIR:-/tmp}/tessera-bench-vhost.XXXXXX")
	keep_dir=0
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
size_mib=${size%?}
[ "${size: -1}" = G ] && size_mib=$((size_mib * 1024))
disk_mib=$((size_mib * 2))

backend_pid=""
cluster_dirs=()
cleanup() {
	set +e
	if [ -n "$backend_pid" ]; then
		kill "$backend_pid" 2>/dev/null
		for _ in $(seq 1 100); do kill -0 "$backend_pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$backend_pid" 2>/dev/null
		wait "$backend_pid" 2>/dev/null
	fi
	for c in "${cluster_dirs[@]}"; do
		"$here/deploy/local-cluster.sh" down --dir "$c" >/dev/null 2>&1
	done
	[ "$keep_dir" = 1 ] || rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "$prog: $*" >&2; }
die() { say "$*"; exit 1; }

cpu_ticks() { # PID...: utime+stime of these processes, in clock ticks
	local t=0 p f
	for p in "$@"; do
		f=$(cat "/proc/$p/stat" 2>/dev/null) || continue
		f=${f##*) }
		# shellcheck disable=SC2086
		set -- $f
		t=$((t + ${12} + ${13}))
	done
	echo "$t"
}
hz=$(getconf CLK_TCK)

wait_sock() { # PATH PID
	for _ in $(seq 1 200); do
		[ -S "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

rows=()
osd_pids=()
# run_set LABEL SOCKET: fill, then the 8 points.
run_set() {
	local label=$1 sock=$2 rw qd nq out load t0 t1 osd_us
	say "$label: writing the $size working set"
	"$bin/tessera-vhost-bench" --socket "$sock" --fill --bs 128K --iodepth 8 --queues 4 \
		--size "$size" --runtime 120s >"$dir/fill.out" 2>&1 ||
		die "$label: fill failed: $(cat "$dir/fill.out")"
	for rw in randread randwrite; do
		for qd in 1 32; do
			for nq in 1 4; do
				load=$(cut -d' ' -f1 /proc/loadavg)
				say "$label: $rw qd=$qd queues=$nq (${secs}s, load $load)"
				t0=$(cpu_ticks "${osd_pids[@]}")
				out=$("$bin/tessera-vhost-bench" --socket "$sock" --rw $rw --bs 4K \
					--iodepth $qd --queues $nq --size "$size" --runtime "${secs}s" \
					--backend-pid "$backend_pid" --json 2>&1) ||
					die "$label $rw qd=$qd queues=$nq failed: $out"
				t1=$(cpu_ticks "${osd_pids[@]}")
				osd_us=-
				if [ ${#osd_pids[@]} -gt 0 ]; then
					osd_us=$(jq -r --argjson d $((t1 - t0)) --argjson hz "$hz" \
						'if .ops > 0 then ($d * 1000000 / $hz / .ops * 10 | round / 10) else 0 end' <<<"$out")
				fi
				rows+=("$(jq -r --arg l "$label" --arg load "$load" --arg osd "$osd_us" \
					'"| \($l) | \(.rw) | \(.iodepth) | \(.queues) | \(.iops | floor | tostring) | \(.lat_p50_us) | \(.lat_p99_us) | \(.backend_cpu_us_per_io * 10 | round / 10) | \($osd) | \(.driver_cpu_us_per_io * 10 | round / 10) | \(.unwritten) | \(.errors) | \($load) |"' <<<"$out")")
				say "  $(jq -r '"\(.iops | floor) IOPS, p50 \(.lat_p50_us) us, backend \(.backend_cpu_us_per_io) us/IO, unwritten \(.unwritten), errors \(.errors)"' <<<"$out")"
			done
		done
	done
}

stop_backend() {
	[ -n "$backend_pid" ] || return 0
	kill "$backend_pid" 2>/dev/null || true
	wait "$backend_pid" 2>/dev/null || true
	backend_pid=""
}

tessera_set() { # OSDS LABEL
	local n=$1 label=$2 c=$dir/cluster$1 i
	say "$label: starting a local cluster with $n OSD(s)"
	cluster_dirs+=("$c")
	"$here/deploy/local-cluster.sh" up --dir "$c" --osds "$n" --size "$((disk_mib + 1024))M" \
		--bin "$bin" >"$dir/cluster$n.log" 2>&1 || die "cluster start failed: $(tail -5 "$dir/cluster$n.log")"
	# shellcheck disable=SC1091
	. "$c/cluster.env"
	osd_pids=()
	for (( i = 1; i <= n; i++ )); do osd_pids+=("$(cat "$c/osd$i.pid")"); done
	"$bin/osdctl" volume create vbench "${disk_mib}M" >/dev/null || die "volume create failed"
	rm -f "$dir/vhost.sock"
	"$bin/tessera-vhost" --mon "$TESSERA_MON" --socket "$dir/vhost.sock" --volume vbench \
		--queues 4 ${poll_us:+--poll-us "$poll_us"} --log-file "$dir/vhost$n.log" &
	backend_pid=$!
	wait_sock "$dir/vhost.sock" "$backend_pid" || die "tessera-vhost did not start: $(tail -5 "$dir/vhost$n.log")"
	run_set "$label" "$dir/vhost.sock"
	stop_backend
	"$here/deploy/local-cluster.sh" down --dir "$c" >/dev/null 2>&1 || true
	osd_pids=()
}

qsd_set() {
	local label=qemu-storage-daemon
	command -v qemu-storage-daemon >/dev/null || { say "no qemu-storage-daemon: skipped"; return 0; }
	say "$label: exporting a ${disk_mib} MiB file"
	truncate -s "${disk_mib}M" "$dir/qsd.img"
	rm -f "$dir/qsd.sock"
	qemu-storage-daemon \
		--blockdev "driver=file,filename=$dir/qsd.img,node-name=f,cache.direct=on,aio=io_uring" \
		--export "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=$dir/qsd.sock,writable=on,num-queues=4" \
		2>"$dir/qsd.log" &
	backend_pid=$!
	wait_sock "$dir/qsd.sock" "$backend_pid" || die "qemu-storage-daemon did not start: $(cat "$dir/qsd.log")"
	run_set "$label" "$dir/qsd.sock"
	stop_backend
	rm -f "$dir/qsd.img"
}

load0=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date -u '+%F %H:%M UTC')
commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)
say "start $start, commit $commit, $(nproc) CPUs, load $load0, ${secs}s per point, working set $size in $dir"
for b in ${only//,/ }; do
	case "$b" in
	tsr3) tessera_set 3 "tessera-vhost, 3 OSDs" ;;
	tsr1) tessera_set 1 "tessera-vhost, 1 OSD" ;;
	qsd) qsd_set ;;
	esac
done

echo "Run of $start, commit $commit, $(uname -r), $(nproc) CPUs; load average at start $load0," \
	"at end $(cut -d' ' -f1-3 /proc/loadavg); ${secs} s per point, 4 KiB, working set $size (written first)."
echo
echo "| backend | rw | QD | queues | IOPS | p50 µs | p99 µs | backend CPU µs/IO | OSDs CPU µs/IO | driver CPU µs/IO | unwritten reads | errors | load |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
printf '%s\n' "${rows[@]}"
