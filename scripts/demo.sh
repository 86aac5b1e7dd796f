#!/usr/bin/env bash
# The main job, from a clean clone on a fresh Debian 12 machine: installs the
# dependencies, builds (Release), starts a local cluster (1 monitor + 3 OSDs on
# files, deploy/dev-cluster.sh), creates a replicated pool (size 3, min_size 2),
# and runs a short benchmark with a data check:
#   - 4 KiB QD1 object writes and reads through the OSDs (replicated x3)
#   - a write load, then every object verified on every replica directly
#   - libstore alone: 4 KiB random writes then reads with --verify
#   - the messenger: 4 KiB ping-pong between two reactors vs. plain sockets
# The cluster is stopped (by PID) and its files removed at the end, even on
# failure. Volumes (libtessera) replace the object client when they land.
#
#   scripts/demo.sh [--no-deps] [--keep] [--seconds N]
set -euo pipefail
cd "$(dirname "$0")/.."

deps=1
keep=0
seconds=5
while [ $# -gt 0 ]; do
	case "$1" in
	--no-deps) deps=0 ;;
	--keep) keep=1 ;;
	--seconds)
		seconds=$2
		shift
		;;
	-h | --help)
		sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "demo.sh: unknown argument '$1' (see --help)" >&2
		exit 2
		;;
	esac
	shift
done

[ "$deps" = 1 ] && scripts/install-deps.sh
scripts/build.sh release
bin=$PWD/build/bin
cli=$PWD/build/tests/integ/osd/tessera-osd-testcli

dir=$(mktemp -d "${TMPDIR:-/tmp}/tessera-demo.XXXXXX")
port=$(( 20000 + RANDOM % 10000 ))  # below the ephemeral port range
mon="127.0.0.1:$port"
cleanup() {
	deploy/dev-cluster.sh stop --dir "$dir/cluster" --bin "$bin" || true
	if [ "$keep" = 1 ]; then echo "demo: kept $dir" >&2; else rm -rf "$dir"; fi
}
trap cleanup EXIT
echo "demo: working in $dir" >&2

echo "demo: === local cluster: 1 monitor + 3 OSDs on 512 MiB files ===" >&2
deploy/dev-cluster.sh start --dir "$dir/cluster" --osds 3 --size 512M --port "$port" --bin "$bin"
"$bin/osdctl" -m "$mon" pool create rbd --size 3 --min-size 2 --pg-count 32
deadline=$(( $(date +%s) + 60 ))
until "$bin/osdctl" -m "$mon" status 2>/dev/null | grep -q "32 active+clean"; do
	[ "$(date +%s)" -lt "$deadline" ] || { echo "demo: PGs not clean after 60 s" >&2; exit 1; }
	sleep 0.5
done
"$bin/osdctl" -m "$mon" status

echo "demo: === 4 KiB objects, QD1, 3 replicas: write then read latency ===" >&2
"$cli" bench --mon "$mon" --pool rbd --objects 2000
echo "demo: === data check: 2000 writes over 200 objects, then every replica read back ===" >&2
"$cli" load --mon "$mon" --pool rbd --objects 200 --oid 2000 --base 1 --state "$dir/load"
"$cli" verify-load --mon "$mon" --pool rbd --state "$dir/load"
"$bin/osdctl" -m "$mon" osd ls

echo "demo: === libstore alone: 4 KiB random write QD16 then random read QD32, ${seconds}s each, verified ===" >&2
"$bin/tessera-bench" --store "$dir/store.img" --size 1G --rw randwrite --bs 4K --iodepth 16 \
	--runtime "$seconds" --verify
"$bin/tessera-bench" --store "$dir/store.img" --rw randread --bs 4K --iodepth 32 \
	--runtime "$seconds" --verify

echo "demo: === messenger: 4 KiB ping-pong vs. plain sockets ===" >&2
"$bin/tessera-msgr-bench" --count 20000
echo "demo: done" >&2
