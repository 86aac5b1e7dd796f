#!/usr/bin/env bash
# libstore vs fio, on one file, in one run (docs/perf.md, "## libstore").
#
# One file holds a libstore store (formatted by tessera-bench --store at
# offset 0) followed by a raw region of the same size. Three tests
#   1. 4 KiB random write, QD1   (durable: fio --sync=dsync = RWF_DSYNC/FUA per
#                                 write; libstore --durability fua, its default)
#   2. 4 KiB random read, QD32
#   3. 128 KiB sequential write, QD4 (durable, as 1.)
# run with fio (io_uring, O_DIRECT) and tessera-bench --file (the same raw I/O
# through tessera-bench's own engine: shows what the harness costs) on the raw
# region, and with tessera-bench --store on the store. This box's disk speed
# drifts by up to 2x within a minute, so the engines alternate test by test,
# for several rounds, and the table shows the median of the rounds.
# Latency is submission to completion everywhere (fio: total latency, lat_ns,
# not clat_ns, which starts after io_uring_enter returned and so misses the
# part of an O_DIRECT write the kernel does inside the submit call).
# Prints p50 latency, IOPS, bandwidth, CPU us per I/O and the store/fio
# ratios against the targets: randwrite QD1 p50 <= 1.3x fio, randread QD32
# IOPS >= 80% of fio, 128K seq write bandwidth >= 80% of fio.
#
# Usage: scripts/bench-store-vs-fio.sh [-b TESSERA_BENCH] [-d DIR] [-s SIZE] [-t SECONDS]
#                                      [-r ROUNDS] [-D fua|none]
#   -b  tessera-bench binary (default: build/bin/tessera-bench of this tree)
#   -d  directory for the test file (default: a new temp dir under $TMPDIR or /var/tmp)
#   -s  working set, with a K/M/G suffix (default 1G)
#   -t  seconds per test run (default 2)
#   -r  rounds (default 5: 45 runs, about 2 min with the prefill)
#   -D  durability: fua (default; fio --sync=dsync) or none (fio without sync)
# Needs fio and jq.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$here/build/bin/tessera-bench
DIR=
SIZE=1G
RT=2
ROUNDS=5
DUR=fua
while getopts "b:d:s:t:r:D:h" o; do
	case $o in
	b) BENCH=$OPTARG ;;
	d) DIR=$OPTARG ;;
	s) SIZE=$OPTARG ;;
	t) RT=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	D) DUR=$OPTARG ;;
	*) sed -n '2,29p' "$0"; exit 2 ;;
	esac
done
for tool in fio jq; do
	command -v $tool >/dev/null || { echo "bench-store-vs-fio: needs $tool" >&2; exit 2; }
done
[[ -x $BENCH ]] || { echo "bench-store-vs-fio: no tessera-bench at $BENCH (use -b)" >&2; exit 2; }
case $DUR in
fua) FIO_SYNC=(--sync=dsync); FILE_DUR=dsync ;;
none) FIO_SYNC=(); FILE_DUR=none ;;
*) echo "bench-store-vs-fio: -D fua|none" >&2; exit 2 ;;
esac

OWN_DIR=
if [[ -z $DIR ]]; then
	DIR=$(mktemp -d "${TMPDIR:-/var/tmp}/tessera-perf.XXXXXX")
	OWN_DIR=$DIR
fi
F=$DIR/tessera-perf.img
OUT=$(mktemp -d "${TMPDIR:-/tmp}/tessera-perf-out.XXXXXX")
cleanup() {
	rm -f "$F"
	[[ -n $OWN_DIR ]] && rmdir "$OWN_DIR" 2>/dev/null
	rm -rf "$OUT"
}
trap cleanup EXIT

size_bytes=$(numfmt --from=iec "$SIZE")
say() { echo "bench-store-vs-fio: $*" >&2; }

# ---- the file: store at 0, raw region after it ------------------------------
say "formatting a store for a $SIZE working set on $F and filling it"
"$BENCH" --store "$F" --size "$size_bytes" --durability "$DUR" --rw write --bs 1M \
	--iodepth 4 --ios $((size_bytes / 1048576)) --json --quiet >"$OUT/store-prefill.json" \
	2>"$OUT/store-prefill.log" || { cat "$OUT/store-prefill.log" >&2; exit 1; }
RAW_OFF=$(stat -c %s "$F")
RAW_OFF=$(((RAW_OFF + 1048575) / 1048576 * 1048576))
say "raw region at offset $RAW_OFF: filling it with fio"
# Size the file first: fio lays out (rewrites from 0) a file that is too small.
fallocate -l $((RAW_OFF + size_bytes)) "$F"
fio_common=(--name=t --filename="$F" --offset="$RAW_OFF" --size="$size_bytes"
	--ioengine=io_uring --direct=1 --numjobs=1 --lat_percentiles=1 --output-format=json)
# Written once, so that reads hit real blocks (not unwritten extents).
fio "${fio_common[@]}" --rw=write --bs=1M --iodepth=4 >"$OUT/fio-prefill.json"

tests=(randwrite randread seqwrite)
declare -A fio_args=(
	[randwrite]="--rw=randwrite --bs=4k --iodepth=1 ${FIO_SYNC[*]}"
	[randread]="--rw=randread --bs=4k --iodepth=32"
	[seqwrite]="--rw=write --bs=128k --iodepth=4 ${FIO_SYNC[*]}"
)
declare -A tb_args=(
	[randwrite]="--rw randwrite --bs 4k --iodepth 1"
	[randread]="--rw randread --bs 4k --iodepth 32"
	[seqwrite]="--rw write --bs 128k --iodepth 4"
)
declare -A dir=([randwrite]=write [randread]=read [seqwrite]=write)

for ((r = 1; r <= ROUNDS; r++)); do
	for t in "${tests[@]}"; do
		say "round $r/$ROUNDS: $t: fio, tessera-bench --file, tessera-bench --store"
		# shellcheck disable=SC2086
		fio "${fio_common[@]}" ${fio_args[$t]} --runtime="$RT" --time_based \
			>"$OUT/fio-$t-$r.json"
		# shellcheck disable=SC2086
		"$BENCH" --file "$F" --offset "$RAW_OFF" --size "$size_bytes" ${tb_args[$t]} \
			--runtime "$RT" --durability "$FILE_DUR" --json --quiet >"$OUT/file-$t-$r.json"
		# shellcheck disable=SC2086
		"$BENCH" --store "$F" --size "$size_bytes" ${tb_args[$t]} --runtime "$RT" \
			--durability "$DUR" --json --quiet >"$OUT/store-$t-$r.json" \
			2>>"$OUT/store.log"
	done
done

# ---- table: medians over the rounds -------------------------------------------
# Each engine's rows as "p50_us iops bw_mbps cpu_us_per_io" per round.
norm_fio() { # test
	jq -r --arg d "${dir[$1]}" '.jobs[0] as $j | $j[$d] as $x |
		"\($x.lat_ns.percentile["50.000000"] / 1000) \($x.iops) \($x.bw_bytes / 1e6) \(
		($j.usr_cpu + $j.sys_cpu) / 100 * $j.job_runtime * 1000 / $x.total_ios)"' \
		"$OUT"/fio-"$1"-*.json
}
norm_tb() { # kind, test
	jq -r '"\(.lat_us.p50) \(.iops) \(.bw_mbps) \(.cpu_us_per_io)"' "$OUT/$1-$2"-*.json
}
{
	for t in "${tests[@]}"; do
		norm_fio "$t" | sed "s/^/$t fio /"
		norm_tb file "$t" | sed "s/^/$t file /"
		norm_tb store "$t" | sed "s/^/$t store /"
	done
} >"$OUT/rows"

echo
echo "libstore vs fio: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, kernel $(uname -r), file on $(df -T "$DIR" | awk 'NR==2{print $2" ("$1")"}'), working set $SIZE, $ROUNDS rounds of ${RT}s per engine and test (medians), durability $DUR"
awk '
function median(key, n,   i, j, t, a) {
	for (i = 1; i <= n; i++) a[i] = val[key, i]
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
{
	k = $1 SUBSEP $2
	cnt[k]++
	for (m = 1; m <= 4; m++) val[k SUBSEP m, cnt[k]] = $(m + 2)
	if (!(k in seen)) { seen[k] = 1; order[++no] = k }
}
END {
	printf "%-18s %-22s %9s %9s %9s %10s\n", "test", "engine", "p50 us", "IOPS", "MB/s", "CPU us/IO"
	for (o = 1; o <= no; o++) {
		split(order[o], p, SUBSEP)
		for (m = 1; m <= 4; m++) med[p[1], p[2], m] = median(order[o] SUBSEP m, cnt[order[o]])
		name = p[1] == "randwrite" ? "4K randwrite QD1" : p[1] == "randread" ? "4K randread QD32" : "128K seqwrite QD4"
		label = p[2] == "fio" ? "fio io_uring" : "tessera-bench --" p[2]
		printf "%-18s %-22s %9.1f %9.0f %9.1f %10.1f\n", (p[2] == "fio" ? name : ""), label,
			med[p[1], p[2], 1], med[p[1], p[2], 2], med[p[1], p[2], 3], med[p[1], p[2], 4]
	}
	r1 = med["randwrite", "store", 1] / med["randwrite", "fio", 1]
	r2 = med["randread", "store", 2] / med["randread", "fio", 2]
	r3 = med["seqwrite", "store", 3] / med["seqwrite", "fio", 3]
	print ""
	printf "store/fio: randwrite QD1 p50 %.2fx (target <= 1.30x): %s\n", r1, (r1 <= 1.3 ? "MET" : "MISSED")
	printf "store/fio: randread QD32 IOPS %.0f%% (target >= 80%%): %s\n", r2 * 100, (r2 >= 0.8 ? "MET" : "MISSED")
	printf "store/fio: 128K seq write bandwidth %.0f%% (target >= 80%%): %s\n", r3 * 100, (r3 >= 0.8 ? "MET" : "MISSED")
	printf "harness (tessera-bench --file / fio): randwrite p50 %.2fx, randread IOPS %.0f%%, seqwrite bw %.0f%%\n",
		med["randwrite", "file", 1] / med["randwrite", "fio", 1],
		100 * med["randread", "file", 2] / med["randread", "fio", 2],
		100 * med["seqwrite", "file", 3] / med["seqwrite", "fio", 3]
}' "$OUT/rows"
echo
echo "per round (p50 us / IOPS):"
for t in "${tests[@]}"; do
	for e in fio file store; do
		printf "  %-9s %-5s %s\n" "$t" "$e" "$(awk -v t="$t" -v e="$e" '$1 == t && $2 == e { printf "%.1f/%.0f  ", $3, $4 }' "$OUT/rows")"
	done
done
echo "libstore counters (last store run): $(jq -r .target_info "$OUT/store-seqwrite-$ROUNDS.json")"
