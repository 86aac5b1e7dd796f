#!/usr/bin/env bash
# The tessera-iscsi numbers of docs/perf.md: 4 KiB random read and write at
# QD1 and QD32 through tessera-iscsi on a local cluster of OSDS OSDs (files
# in DIR), next to tgt exporting a plain file in the same directory (same
# disk), measured in the same run with the same load generator.
#
#   tests/bench/iscsi/perf.sh BIN_DIR OSDS [SECONDS] [DIR]
#
# Needs root for tgtd. Everything started here is stopped on exit.
set -euo pipefail
BIN=$(cd "$1" && pwd)
OSDS=$2
SECS=${3:-5}
DIR=${4:-$(mktemp -d "${TMPDIR:-/tmp}/tessera-iscsi-perf.XXXXXX")}
SRC=$(cd "$(dirname "$0")/../../.." && pwd)
BENCH="$BIN/tessera-iscsi-bench"
RANGE=256M
IQN=iqn.2026-11.io.tessera:perf
TGT_IQN=iqn.2026-11.io.tessera:tgt
iscsi_pid=""
tgt_pid=""
CPORT=$((20000 + RANDOM % 5000))

cleanup() {
	set +e
	[ -n "$iscsi_pid" ] && kill "$iscsi_pid" 2>/dev/null && wait "$iscsi_pid" 2>/dev/null
	if [ -n "$tgt_pid" ]; then
		tgtadm -C "$CPORT" --lld iscsi --op delete --mode target --tid 1 --force 2>/dev/null
		tgtadm -C "$CPORT" --lld iscsi --op delete --mode system 2>/dev/null
		kill "$tgt_pid" 2>/dev/null
		sleep 1
		kill -9 "$tgt_pid" 2>/dev/null
		wait "$tgt_pid" 2>/dev/null
	fi
	"$SRC/deploy/local-cluster.sh" down --dir "$DIR/cluster" >/dev/null 2>&1
}
trap cleanup EXIT

wait_port() {
	for _ in $(seq 1 200); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "port $1 not open" >&2
	exit 1
}

run_set() { # LABEL URL PID
	"$BENCH" --rw write --bs 1M --qd 4 --time 600 --warmup 0 --size $RANGE --label fill \
		"$2" >/dev/null 2>&1 &
	# one pass of sequential 1 MiB writes fills the range (reads then hit data)
	local fill=$!
	sleep 0.2
	"$BENCH" --rw write --bs 1M --qd 4 --time 3 --warmup 0 --size $RANGE "$2" >/dev/null || true
	kill "$fill" 2>/dev/null || true
	wait "$fill" 2>/dev/null || true
	for rw in randread randwrite; do
		for qd in 1 32; do
			"$BENCH" --rw $rw --bs 4096 --qd $qd --time "$SECS" --warmup 1 --size $RANGE \
				--pid "$3" --label "$1" "$2"
		done
	done
}

echo "# $(date -u +%FT%TZ) $(uname -r), $(nproc) CPUs, $OSDS OSD(s), ${SECS}s per run, range $RANGE"
"$SRC/deploy/local-cluster.sh" up --dir "$DIR/cluster" --osds "$OSDS" --size 1G \
	--bin "$BIN" >/dev/null 2>&1
# shellcheck disable=SC1091
. "$DIR/cluster/cluster.env"
"$BIN/osdctl" volume create perf 1G >/dev/null
port=$((CPORT + 1))
"$BIN/tessera-iscsi" --mon "$TESSERA_MON" --portal "127.0.0.1:$port" --target "$IQN" \
	--lun 1:perf --log-level warn 2>"$DIR/iscsi.log" &
iscsi_pid=$!
wait_port "$port"
run_set "tessera-${OSDS}osd" "iscsi://127.0.0.1:$port/$IQN/1" "$iscsi_pid"
kill "$iscsi_pid"
wait "$iscsi_pid" || true
iscsi_pid=""

if command -v tgtd >/dev/null && [ "$(id -u)" = 0 ]; then
	tport=$((CPORT + 2))
	truncate -s 1G "$DIR/tgt.img"
	tgtd -f -C "$CPORT" --iscsi "portal=127.0.0.1:$tport" >"$DIR/tgtd.log" 2>&1 &
	tgt_pid=$!
	wait_port "$tport"
	tgtadm -C "$CPORT" --lld iscsi --op new --mode target --tid 1 -T "$TGT_IQN"
	tgtadm -C "$CPORT" --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 \
		-b "$DIR/tgt.img" --bsoflags direct:sync --blocksize 4096
	tgtadm -C "$CPORT" --lld iscsi --op bind --mode target --tid 1 -I ALL
	run_set "tgt-file" "iscsi://127.0.0.1:$tport/$TGT_IQN/1" "$tgt_pid"
fi
