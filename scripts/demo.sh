#!/usr/bin/env bash
# The main job, from a clean clone on a fresh Debian 12 machine:
#   1. installs the dependencies (scripts/install-deps.sh) and builds (Release);
#   2. brings up a local cluster with deploy/local-cluster.sh: 1 monitor and
#      3 OSDs on 2 GiB files, pool rbd with 3 replicas (min_size 2);
#   3. creates a volume and checks data through it: a 64 MiB random file
#      imported and exported back (cmp), then tessera-bench --verify
#      (random writes of 4-64 KiB, every read checked, then the whole volume
#      read back and checked);
#   4. runs a short benchmark through libtessera: 4 KiB random writes and
#      reads at QD1 and QD32, SECONDS each, and prints a summary table;
#   5. prints how to use the cluster and how to stop it.
# The cluster is LEFT RUNNING at the end (so you can use it); stop it with
# `deploy/local-cluster.sh down --dir DIR` (the data stays in DIR), or run
# the demo with --down. Running the demo again reuses the running cluster.
#
#   scripts/demo.sh [--no-deps] [--dir DIR] [--seconds N] [--down]
#   (DIR default: build/demo-cluster; N default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

deps=1
down=0
seconds=5
dir=$repo/build/demo-cluster
while [ $# -gt 0 ]; do
	case "$1" in
	--no-deps) deps=0 ;;
	--down) down=1 ;;
	--keep) ;; # old flag: the cluster is always kept now
	--dir) [ $# -ge 2 ] || { echo "demo.sh: --dir needs a value" >&2; exit 2; }; dir=$2; shift ;;
	--seconds)
		[[ ${2:-} =~ ^[0-9]+$ ]] && [ "$2" -ge 1 ] || { echo "demo.sh: invalid --seconds '${2:-}'" >&2; exit 2; }
		seconds=$2
		shift
		;;
	-h | --help)
		sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "demo.sh: unknown argument '$1' (see --help)" >&2
		exit 2
		;;
	esac
	shift
done

step() { printf '\ndemo: === %s ===\n' "$*" >&2; }

[ "$deps" = 1 ] && scripts/install-deps.sh
scripts/build.sh release
export PATH=$repo/build/bin:$PATH
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tessera-demo.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

step "local cluster: 1 monitor + 3 OSDs on 2 GiB files in $dir"
deploy/local-cluster.sh up --dir "$dir" --size 2G >/dev/null
# shellcheck disable=SC1091
. "$dir/cluster.env"
osdctl status

step "a volume, and data through it: import a 64 MiB random file, export it, compare"
osdctl volume rm demo >/dev/null 2>&1 || true
osdctl volume rm demo-bench >/dev/null 2>&1 || true
osdctl volume create demo 1G
head -c 64M /dev/urandom >"$tmp/random.img"
osdctl volume import "$tmp/random.img" demo --existing
osdctl volume export demo "$tmp/back.img"
# The export holds the whole 1 GiB volume: its first 64 MiB must be the file.
cmp -n $((64 << 20)) "$tmp/random.img" "$tmp/back.img"
echo "demo: the 64 MiB read back through the cluster equal what was written" >&2
rm -f "$tmp/random.img" "$tmp/back.img"

step "verified I/O: ${seconds}s of random 4-64 KiB writes at QD16, every block read back and checked"
tessera-bench --volume demo --size 256M --rw randwrite --bs 4K --bs-max 64K --iodepth 16 \
	--runtime "$seconds" --verify --quiet
osdctl volume info demo

step "benchmark: 4 KiB random I/O through libtessera (3 replicas), ${seconds}s per run"
# A 256 MiB volume, written once in full first so that reads hit real data.
tessera-bench --volume demo-bench --size 256M --rw write --bs 1M --iodepth 8 --runtime 60 \
	--ios 256 --quiet >/dev/null
results=()
for spec in "randwrite 1" "randwrite 32" "randread 1" "randread 32"; do
	set -- $spec
	echo "demo: $1 QD$2" >&2
	tessera-bench --volume demo-bench --rw "$1" --bs 4K --iodepth "$2" --runtime "$seconds" \
		--quiet --json >"$tmp/run.json"
	iops=$(grep -o '"iops": [0-9.]*' "$tmp/run.json" | head -n1 | awk '{ print $2 }')
	lat=$(grep -o '"lat_us": {[^}]*}' "$tmp/run.json" | head -n1)
	p50=$(echo "$lat" | grep -o '"p50": [0-9.]*' | awk '{ print $2 }')
	p99=$(echo "$lat" | grep -o '"p99": [0-9.]*' | awk '{ print $2 }')
	cpu=$(grep -o '"cpu_us_per_io": [0-9.]*' "$tmp/run.json" | awk '{ print $2 }')
	results+=("$(printf '%-10s %-4s %10.0f %10.1f %10.1f %12.1f' "$1" "QD$2" "$iops" "$p50" "$p99" "$cpu")")
done

step "summary: tessera-bench --volume, 4 KiB, 3 replicas on one machine"
printf '%-10s %-4s %10s %10s %10s %12s\n' "workload" "QD" "IOPS" "p50 us" "p99 us" "cpu us/IO"
printf '%s\n' "${results[@]}"

if [ "$down" = 1 ]; then
	deploy/local-cluster.sh down --dir "$dir"
	echo "demo: done; the cluster is stopped (data kept in $dir)" >&2
	exit 0
fi
cat >&2 <<EOF

demo: done. The cluster is still running (monitor $TESSERA_MON). Use it:
    . $dir/cluster.env           # sets TESSERA_MON for osdctl, tessera-bench, libtessera
    export PATH=$repo/build/bin:\$PATH
    osdctl status
    osdctl volume ls
    osdctl volume create vm1 10G
    osdctl volume import disk.raw vm2      # a file into a new volume; export NAME FILE back
    osdctl bench vm1 --rw randwrite --bs 4K --iodepth 32 --runtime 10
    build/examples/hello_tessera           # the example program (examples/hello_tessera.c)
Stop it (the data stays; 'up' restarts it):
    deploy/local-cluster.sh down --dir $dir
EOF
