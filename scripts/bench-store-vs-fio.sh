#!/usr/bin/env bash
# libstore vs fio, on one file, in one run (docs/perf.md, "## libstore").
#
# On a single file this runs, with fio (io_uring, O_DIRECT), with
# tessera-bench --file (the same raw I/O through tessera-bench's own engine:
# shows the harness costs nothing) and with tessera-bench --store (libstore,
# formatted on that same file):
#   1. 4 KiB random write, QD1   (durable: fio --sync=dsync = RWF_DSYNC/FUA per
#                                 write, libstore --durability fua, its default)
#   2. 4 KiB random read, QD32
#   3. 128 KiB sequential write, QD4 (durable, as 1.)
# and prints p50 latency, IOPS, bandwidth, CPU us per I/O and the ratios
# against fio, with the targets: randwrite QD1 p50 <= 1.3x fio, randread QD32
# IOPS >= 80% of fio, 128K seq write bandwidth >= 80% of fio.
#
# Usage: scripts/bench-store-vs-fio.sh [-b TESSERA_BENCH] [-d DIR] [-s SIZE] [-t SECONDS]
#   -b  tessera-bench binary (default: build/bin/tessera-bench of this tree)
#   -d  directory for the test file (default: a new temp dir under $TMPDIR or /var/tmp)
#   -s  working set, fio size units (default 1G)
#   -t  seconds per test (default 8; 9 tests: about 1.5 min plus prefill)
#   -D  durability: fua (default; fio --sync=dsync) or none (fio without sync)
# Needs fio and jq.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$here/build/bin/tessera-bench
DIR=
SIZE=1G
RT=8
DUR=fua
while getopts "b:d:s:t:D:h" o; do
	case $o in
	b) BENCH=$OPTARG ;;
	d) DIR=$OPTARG ;;
	s) SIZE=$OPTARG ;;
	t) RT=$OPTARG ;;
	D) DUR=$OPTARG ;;
	*) sed -n '2,22p' "$0"; exit 2 ;;
	esac
done
for tool in fio jq; do
	command -v $tool >/dev/null || { echo "bench-store-vs-fio: needs $tool" >&2; exit 2; }
done
[[ -x $BENCH ]] || { echo "bench-store-vs-fio: no tessera-bench at $BENCH (use -b)" >&2; exit 2; }
case $DUR in
fua) FIO_SYNC=(--sync=dsync) ;;
none) FIO_SYNC=() ;;
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

# ---- fio -------------------------------------------------------------------
fio_common=(--name=t --filename="$F" --size="$SIZE" --ioengine=io_uring --direct=1
	--numjobs=1 --group_reporting --output-format=json)
run_fio() { # name, extra args...
	local name=$1
	shift
	say "fio $name"
	fio "${fio_common[@]}" "$@" >"$OUT/fio-$name.json"
}
# fio results as: p50_us iops bw_mbps cpu_us_per_io
fio_row() { # name, rw key (read|write)
	jq -r --arg d "$2" '.jobs[0] as $j | $j[$d] as $x |
		($x.clat_ns.percentile["50.000000"] / 1000) as $p50 |
		(($j.usr_cpu + $j.sys_cpu) / 100 * $j.job_runtime * 1000 / ($x.total_ios)) as $cpu |
		"\($p50) \($x.iops) \($x.bw_bytes / 1e6) \($cpu)"' "$OUT/fio-$1.json"
}

# ---- tessera-bench ---------------------------------------------------------
run_tb() { # kind (file|store), name, extra args...
	local kind=$1 name=$2
	shift 2
	say "tessera-bench --$kind $name"
	"$BENCH" --"$kind" "$F" --size "$size_bytes" --json --quiet "$@" >"$OUT/$kind-$name.json"
}
tb_row() { # kind, name
	jq -r '"\(.lat_us.p50) \(.iops) \(.bw_mbps) \(.cpu_us_per_io)"' "$OUT/$1-$2.json"
}

say "file $F, working set $SIZE, ${RT}s per test, durability $DUR"
# Lay the file out once (fio reads of unwritten extents would never touch the disk).
run_fio prefill --rw=write --bs=1M --iodepth=4
run_fio randwrite --rw=randwrite --bs=4k --iodepth=1 --runtime="$RT" --time_based "${FIO_SYNC[@]}"
run_fio randread --rw=randread --bs=4k --iodepth=32 --runtime="$RT" --time_based
run_fio seqwrite --rw=write --bs=128k --iodepth=4 --runtime="$RT" --time_based "${FIO_SYNC[@]}"

file_dur=none
[[ $DUR == fua ]] && file_dur=dsync
run_tb file randwrite --rw randwrite --bs 4k --iodepth 1 --runtime "$RT" --durability $file_dur
run_tb file randread --rw randread --bs 4k --iodepth 32 --runtime "$RT"
run_tb file seqwrite --rw write --bs 128k --iodepth 4 --runtime "$RT" --durability $file_dur

# Format libstore on the same file; fill the working set so reads hit real blocks.
say "tessera-bench --store: format + prefill"
"$BENCH" --store "$F" --format --size "$size_bytes" --durability "$DUR" --rw write --bs 1M \
	--iodepth 4 --ios $((size_bytes / 1048576)) --json --quiet >"$OUT/store-prefill.json"
run_tb store randwrite --rw randwrite --bs 4k --iodepth 1 --runtime "$RT" --durability "$DUR"
run_tb store randread --rw randread --bs 4k --iodepth 32 --runtime "$RT" --durability "$DUR"
run_tb store seqwrite --rw write --bs 128k --iodepth 4 --runtime "$RT" --durability "$DUR"

# ---- table -----------------------------------------------------------------
{
	echo "test fio $(fio_row randwrite write) file $(tb_row file randwrite) store $(tb_row store randwrite)"
	echo "test fio $(fio_row randread read) file $(tb_row file randread) store $(tb_row store randread)"
	echo "test fio $(fio_row seqwrite write) file $(tb_row file seqwrite) store $(tb_row store seqwrite)"
} >"$OUT/rows"
echo
echo "libstore vs fio: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $(uname -r), file on $(df -T "$DIR" | awk 'NR==2{print $2" ("$1")"}'), working set $SIZE, ${RT}s per test, durability $DUR"
awk -v names="4K-randwrite-QD1 4K-randread-QD32 128K-seqwrite-QD4" '
BEGIN {
	split(names, nm, " ")
	printf "%-19s %-22s %10s %10s %10s %9s\n", "test", "engine", "p50 us", "IOPS", "MB/s", "CPU us/IO"
}
{
	n++
	for (k = 0; k < 3; k++) {
		eng = $(2 + 5 * k); p50 = $(3 + 5 * k); iops = $(4 + 5 * k); bw = $(5 + 5 * k); cpu = $(6 + 5 * k)
		label = eng == "fio" ? "fio io_uring" : eng == "file" ? "tessera-bench --file" : "tessera-bench --store"
		printf "%-19s %-22s %10.1f %10.0f %10.1f %9.1f\n", (k ? "" : nm[n]), label, p50, iops, bw, cpu
		v[n, eng, "p50"] = p50; v[n, eng, "iops"] = iops; v[n, eng, "bw"] = bw; v[n, eng, "cpu"] = cpu
	}
}
END {
	r1 = v[1, "store", "p50"] / v[1, "fio", "p50"]
	r2 = v[2, "store", "iops"] / v[2, "fio", "iops"]
	r3 = v[3, "store", "bw"] / v[3, "fio", "bw"]
	print ""
	printf "store/fio: randwrite QD1 p50 %.2fx (target <= 1.30x) %s\n", r1, (r1 <= 1.3 ? "MET" : "MISSED")
	printf "store/fio: randread QD32 IOPS %.0f%% (target >= 80%%) %s\n", r2 * 100, (r2 >= 0.8 ? "MET" : "MISSED")
	printf "store/fio: 128K seq write bw %.0f%% (target >= 80%%) %s\n", r3 * 100, (r3 >= 0.8 ? "MET" : "MISSED")
	printf "harness check (tessera-bench --file / fio): p50 %.2fx, IOPS %.0f%%, bw %.0f%%\n",
		v[1, "file", "p50"] / v[1, "fio", "p50"], 100 * v[2, "file", "iops"] / v[2, "fio", "iops"],
		100 * v[3, "file", "bw"] / v[3, "fio", "bw"]
}' "$OUT/rows"
echo
echo "libstore counters (last store test): $(jq -r .target_info "$OUT/store-seqwrite.json")"
