#!/usr/bin/env bash
# The main job, from a clean clone on a fresh Debian 12 machine: installs the
# dependencies, builds (Release), and runs what Tessera can do today with a
# short benchmark and a data check:
#   - libstore on a 1 GiB file: 4 KiB random writes then reads, --verify
#   - the messenger: 4 KiB ping-pong between two reactors vs. plain sockets
# As later parts land (monitor, OSDs, client library) this grows into a local
# cluster serving a volume.
#
#   scripts/demo.sh [--no-deps] [--dir DIR] [--seconds N]
set -euo pipefail
cd "$(dirname "$0")/.."

deps=1
dir=""
seconds=5
while [ $# -gt 0 ]; do
	case "$1" in
	--no-deps) deps=0 ;;
	--dir)
		dir=$2
		shift
		;;
	--seconds)
		seconds=$2
		shift
		;;
	-h | --help)
		sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
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

if [ -z "$dir" ]; then
	dir=$(mktemp -d "${TMPDIR:-/tmp}/tessera-demo.XXXXXX")
	trap 'rm -rf "$dir"' EXIT
fi
mkdir -p "$dir"
echo "demo: working in $dir" >&2

if [ -x "$bin/tessera-bench" ]; then
	store="$dir/store.img"
	echo "demo: libstore 4 KiB random write, QD16, ${seconds}s, with self-verifying data" >&2
	"$bin/tessera-bench" --store "$store" --size 1G --rw randwrite --bs 4K --iodepth 16 \
		--runtime "$seconds" --verify
	echo "demo: libstore 4 KiB random read, QD32, ${seconds}s, checking what was written" >&2
	"$bin/tessera-bench" --store "$store" --size 1G --rw randread --bs 4K --iodepth 32 \
		--runtime "$seconds" --verify
fi
if [ -x "$bin/tessera-msgr-bench" ]; then
	echo "demo: messenger 4 KiB ping-pong vs. plain sockets" >&2
	"$bin/tessera-msgr-bench" --count 20000
fi
echo "demo: done" >&2
