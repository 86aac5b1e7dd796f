#!/usr/bin/env bash
# The libtessera benchmark of docs/perf.md, in one run on one machine:
#  1. the messenger ping-pong baseline (4 KiB, QD1, same core and two cores);
#  2. tessera-bench --store on a file of the same disk (libstore alone);
#  3. a local cluster (1 monitor, 3 OSDs on files, pool rbd size 3) and
#     tessera-bench --volume: 4 KiB randwrite/randread at QD1 and QD32, with
#     the CPU time of each OSD process per I/O (from /proc/PID/stat).
# Prints a markdown table on stdout; raw JSON goes to the output directory.
#
#   scripts/bench-volume.sh [--bin DIR] [--dir DIR] [--seconds S] [--size W] [--keep]
#
# --bin: programs (default build/bin); --dir: where the files go (default a
# new temp dir under $TMPDIR, on the disk to measure); --seconds: runtime of
# each measured run (default 10); --size: working set of the store and of the
# volume (default 256M; reads run after a sequential prefill of it);
# --keep: leave the cluster's files.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bin=$here/build/bin
dir=""
secs=10
wset=256M
keep=0
while [ $# -gt 0 ]; do
	case "$1" in
	--bin) bin=$2; shift ;;
	--dir) dir=$2; shift ;;
	--seconds) secs=$2; shift ;;
	--keep) keep=1 ;;
	--size) wset=$2; shift ;;
	-h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench-volume: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
[[ $secs =~ ^[0-9]+$ ]] && [ "$secs" -gt 0 ] || { echo "bench-volume: invalid --seconds '$secs'" >&2; exit 2; }
for p in tessera-bench tessera-msgr-bench tessera-mon tessera-osd osdctl; do
	[ -x "$bin/$p" ] || { echo "bench-volume: $bin/$p not found (build first: scripts/build.sh)" >&2; exit 2; }
done
command -v jq >/dev/null || { echo "bench-volume: needs jq" >&2; exit 2; }
[ -n "$dir" ] || dir=$(mktemp -d "${TMPDIR:-/tmp}/tessera-bench-volume.XXXXXX")
mkdir -p "$dir"
cluster=$dir/cluster
export TESSERA_BIN=$bin

say() { echo "bench-volume: $*" >&2; }
cleanup() {
	"$here/deploy/local-cluster.sh" down --dir "$cluster" >/dev/null 2>&1 || true
	if [ "$keep" = 0 ]; then rm -rf "$cluster" "$dir/store"; fi
}
trap cleanup EXIT

# CPU ticks (user+system) of a process.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
hz=$(getconf CLK_TCK)

say "results in $dir; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
say "1/3 messenger ping-pong (4 KiB, QD1)"
"$bin/tessera-msgr-bench" --count 50000 --warmup 2000 --json >"$dir/msgr.json"

say "2/3 tessera-bench --store (libstore on a file)"
for rw in randwrite randread; do
	for qd in 1 32; do
		say "  store $rw QD$qd (${secs}s)"
		pf=no; [ $rw = randread ] && [ $qd = 1 ] && pf=yes
		"$bin/tessera-bench" --store "$dir/store" --size "$wset" --rw $rw -q $qd -t "${secs}s" \
			--prefill $pf --json --quiet >"$dir/store-$rw-qd$qd.json" 2>>"$dir/store.log"
	done
done
rm -f "$dir/store"

say "3/3 local cluster: 1 monitor, 3 OSDs, pool rbd size 3"
"$here/deploy/local-cluster.sh" up --dir "$cluster" --osds 3 --size 2G >&2
# shellcheck disable=SC1091
. "$cluster/cluster.env"
mapfile -t osd_pids < <(for f in "$cluster"/osd*.pid; do cat "$f"; done)
"$bin/osdctl" volume create benchvol "$wset" >&2
for rw in randwrite randread; do
	for qd in 1 32; do
		say "  volume $rw QD$qd (${secs}s)"
		declare -a before=()
		for p in "${osd_pids[@]}"; do before+=("$(ticks "$p")"); done
		if [ $rw = randread ] && [ $qd = 1 ]; then
			say "  volume prefill ($wset, so that reads find data)"
			"$bin/tessera-bench" --volume benchvol --rw write -q 32 --bs 256K --prefill no \
				-n $(( $(numfmt --from=iec "$wset") / 262144 )) --quiet >/dev/null 2>>"$dir/volume.log"
		fi
		"$bin/tessera-bench" --volume benchvol --rw $rw -q $qd -t "${secs}s" --prefill no \
			--json --quiet >"$dir/volume-$rw-qd$qd.json" 2>>"$dir/volume.log"
		ios=$(jq .ios "$dir/volume-$rw-qd$qd.json")
		osd_cpu=""
		for i in "${!osd_pids[@]}"; do
			d=$(( $(ticks "${osd_pids[$i]}") - ${before[$i]} ))
			osd_cpu+=$(awk -v d="$d" -v hz="$hz" -v n="$ios" \
				'BEGIN { printf "%.1f ", n ? d * 1e6 / hz / n : 0 }')
		done
		echo "${osd_cpu% }" >"$dir/volume-$rw-qd$qd.osdcpu"
		if [ $rw = randwrite ] && [ $qd = 1 ]; then
			# The OSDs' own latency of this run (their first client I/O):
			# counters reach the monitor with the next heartbeats.
			sleep 3
			"$bin/osdctl" osd perf >"$dir/osdperf-randwrite-qd1.txt" 2>&1 || true
		fi
	done
done

# ------------------------------------------------------------------ report
echo "Machine: $(nproc) cores, $(uname -r), $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo unknown)"
echo
echo "Messenger ping-pong, 4 KiB, QD1 (round trip):"
echo
echo "| placement | transport | p50 µs | p99 µs | CPU µs/rt |"
echo "| --- | --- | ---: | ---: | ---: |"
jq -r '.results[] | "| \(.placement) | \(.transport) | \(.p50_us) | \(.p99_us) | \(.cpu_us_per_round_trip) |"' \
	"$dir/msgr.json" 2>/dev/null || echo "(see $dir/msgr.json)"
echo
echo "| target | rw | QD | IOPS | p50 µs | p99 µs | p99.9 µs | client CPU µs/IO | OSD CPU µs/IO (each) |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
for t in store volume; do
	for rw in randwrite randread; do
		for qd in 1 32; do
			f=$dir/$t-$rw-qd$qd.json
			osd="-"
			[ -f "$dir/$t-$rw-qd$qd.osdcpu" ] && osd=$(cat "$dir/$t-$rw-qd$qd.osdcpu")
			jq -r --arg t "$t" --arg osd "$osd" \
				'"| \($t) | \(.rw) | \(.iodepth) | \(.iops|floor) | \(.lat_us.p50) | \(.lat_us.p99) | \(.lat_us.p999) | \(.cpu_us_per_io) | \($osd) |"' "$f"
		done
	done
done
echo
echo "OSD-side latency after the QD1 randwrite run (osdctl osd perf; write = primary,"
echo "receive to reply, replication included; replica = a replica applying a RepOp):"
echo
echo '```'
cat "$dir/osdperf-randwrite-qd1.txt" 2>/dev/null || true
echo '```'
say "done"
