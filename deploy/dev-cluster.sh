#!/usr/bin/env bash
# A local development cluster: one monitor and N OSDs on files, on loopback.
#
#   deploy/dev-cluster.sh start  [--dir DIR] [--osds N] [--cores C] [--size SIZE] [--port P] [--bin DIR]
#   deploy/dev-cluster.sh status [--dir DIR]
#   deploy/dev-cluster.sh stop   [--dir DIR]
#
# Defaults: DIR ./dev-cluster, 3 OSDs with 1 reactor each on 1G files, monitor on
# 127.0.0.1:6789, programs from ./build/bin. Every daemon's PID is kept in
# DIR/*.pid and its log in DIR/*.log; stop sends SIGTERM to exactly those PIDs
# (SIGKILL after 20 s). `start` waits until every OSD is up and prints the
# monitor address to use with osdctl (-m ADDR, or export TESSERA_MON=ADDR).
set -euo pipefail

cmd=${1:-}
[ -n "$cmd" ] && shift
dir=./dev-cluster
osds=3
cores=1
size=1G
port=6789
bin=./build/bin
while [ $# -gt 0 ]; do
	case "$1" in
	--dir) dir=$2; shift ;;
	--osds) osds=$2; shift ;;
	--cores) cores=$2; shift ;;
	--size) size=$2; shift ;;
	--port) port=$2; shift ;;
	--bin) bin=$2; shift ;;
	-h | --help) cmd=help ;;
	*) echo "dev-cluster: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
mon_addr="127.0.0.1:$port"

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_daemon() {
	local name=$1
	shift
	if running "$dir/$name.pid"; then
		echo "dev-cluster: $name already running (pid $(cat "$dir/$name.pid"))" >&2
		return 0
	fi
	"$@" >>"$dir/$name.log" 2>&1 &
	echo $! >"$dir/$name.pid"
	echo "dev-cluster: started $name (pid $!)" >&2
}

# wait_until SECONDS WHAT CMD...: poll with a deadline.
wait_until() {
	local deadline=$(( $(date +%s) + $1 )) what=$2
	shift 2
	until "$@" >/dev/null 2>&1; do
		if [ "$(date +%s)" -ge "$deadline" ]; then
			echo "dev-cluster: timed out waiting for $what; logs in $dir" >&2
			return 1
		fi
		sleep 0.2
	done
}

osds_up() {
	local n
	n=$("$bin/osdctl" -m "$mon_addr" --timeout 2s osd ls 2>/dev/null | grep -cw up) || return 1
	[ "$n" -ge "$osds" ]
}

case "$cmd" in
start)
	for p in tessera-mon tessera-osd osdctl; do
		[ -x "$bin/$p" ] || { echo "dev-cluster: $bin/$p not found (build first: scripts/build.sh)" >&2; exit 1; }
	done
	mkdir -p "$dir"
	start_daemon mon "$bin/tessera-mon" --id 1 --data "$dir/mon" --listen "$mon_addr"
	wait_until 15 "the monitor" "$bin/osdctl" -m "$mon_addr" --timeout 1s status
	for i in $(seq 1 "$osds"); do
		start_daemon "osd$i" "$bin/tessera-osd" --mon "$mon_addr" --device "$dir/osd$i.img" \
			--size "$size" --cores "$cores" --host "host$i"
	done
	echo "dev-cluster: waiting for $osds OSDs to boot" >&2
	wait_until 60 "$osds OSDs up" osds_up
	echo "dev-cluster: up; monitor at $mon_addr (osdctl -m $mon_addr status)" >&2
	;;
status)
	for f in "$dir"/*.pid; do
		[ -e "$f" ] || continue
		name=$(basename "$f" .pid)
		if running "$f"; then echo "$name: running (pid $(cat "$f"))"; else echo "$name: stopped"; fi
	done
	"$bin/osdctl" -m "$mon_addr" --timeout 2s status || true
	;;
stop)
	# OSDs first (they drain and tell the monitor), then the monitor.
	stop_group() {
		local f pid
		for f in "$@"; do
			[ -e "$f" ] || continue
			if running "$f"; then kill -TERM "$(cat "$f")"; fi
		done
		for f in "$@"; do
			[ -e "$f" ] || continue
			pid=$(cat "$f")
			for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
			if kill -0 "$pid" 2>/dev/null; then
				echo "dev-cluster: $(basename "$f" .pid) (pid $pid) ignored SIGTERM; killing" >&2
				kill -KILL "$pid" 2>/dev/null || true
			fi
			rm -f "$f"
		done
	}
	stop_group "$dir"/osd*.pid
	stop_group "$dir"/mon.pid
	echo "dev-cluster: stopped" >&2
	;;
help) usage ;;
*) usage >&2; exit 2 ;;
esac
