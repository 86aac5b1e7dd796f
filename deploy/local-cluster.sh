#!/usr/bin/env bash
# A local Tessera cluster on loopback: monitors and OSDs on files under DIR.
#
#   deploy/local-cluster.sh up     [--dir DIR] [--mons M] [--osds N] [--size SIZE]
#                                  [--cores C] [--port P] [--pg-count G]
#   deploy/local-cluster.sh down   [--dir DIR]
#   deploy/local-cluster.sh status [--dir DIR]
#   deploy/local-cluster.sh env    [--dir DIR]     # print the cluster.env line
#
# up: starts M monitors (default 1; 3 or 5 form a Raft quorum) and N OSDs
#   (default 3, each on a SIZE file, default 1G, with C reactors, default 1),
#   creates the pool `rbd` (size min(3,N), min_size size-size/2, G PGs,
#   default 32) if it is missing, waits until `osdctl health` says HEALTH_OK,
#   prints the monitor address(es) and writes DIR/cluster.env:
#       export TESSERA_MON=127.0.0.1:P[,...]
#   so that `. DIR/cluster.env` lets osdctl, tessera-bench and libtessera
#   programs find the cluster without flags. Run again, `up` restarts the
#   cluster on the same data with the same ports, and on a partly running
#   cluster starts only the daemons that are not running.
# down: SIGTERM to every daemon by its recorded PID (OSDs first), SIGKILL
#   after 20 s; the data stays (rm -rf DIR to delete it).
# status: each daemon's state and `osdctl status`.
#
# DIR defaults to ./local-cluster (or $TESSERA_CLUSTER_DIR). Ports: a free
# base port P is picked at the first `up` (or --port P) and recorded in
# DIR/cluster.conf: monitor i listens on P+i-1 (Raft on that +1000), OSD j's
# reactors on P+100+(j-1)*C... Programs come from PATH, else from the build/bin
# directory of this repository (or --bin DIR / $TESSERA_BIN).
set -euo pipefail

prog=local-cluster
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() { sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "$prog: $*" >&2; exit 1; }
say() { echo "$prog: $*" >&2; }

cmd=${1:-}
case "$cmd" in
-h | --help | help) usage; exit 0 ;;
up | down | status | env) shift ;;
"") usage >&2; exit 2 ;;
*) echo "$prog: unknown command '$cmd' (see --help)" >&2; exit 2 ;;
esac

dir=${TESSERA_CLUSTER_DIR:-./local-cluster}
opt_mons="" opt_osds="" opt_size="" opt_cores="" opt_port="" opt_pgs=""
bin=${TESSERA_BIN:-}
need_arg() { [ $# -ge 2 ] && [ -n "$2" ] || { echo "$prog: $1 needs a value" >&2; exit 2; }; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
while [ $# -gt 0 ]; do
	case "$1" in
	--dir) need_arg "$@"; dir=$2; shift ;;
	--mons) need_arg "$@"; opt_mons=$2; shift ;;
	--osds) need_arg "$@"; opt_osds=$2; shift ;;
	--size) need_arg "$@"; opt_size=$2; shift ;;
	--cores) need_arg "$@"; opt_cores=$2; shift ;;
	--port) need_arg "$@"; opt_port=$2; shift ;;
	--pg-count) need_arg "$@"; opt_pgs=$2; shift ;;
	--bin) need_arg "$@"; bin=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "$prog: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
for v in "$opt_mons" "$opt_osds" "$opt_cores" "$opt_port" "$opt_pgs"; do
	[ -z "$v" ] || is_uint "$v" || { echo "$prog: invalid number '$v'" >&2; exit 2; }
done
[ -z "$opt_size" ] || [[ $opt_size =~ ^[0-9]+[KMGT]?$ ]] ||
	{ echo "$prog: invalid size '$opt_size' (e.g. 512M, 2G)" >&2; exit 2; }
case "$opt_mons" in "" | 1 | 3 | 5) ;; *) echo "$prog: invalid --mons $opt_mons (1, 3 or 5)" >&2; exit 2 ;; esac
[ -z "$opt_osds" ] || { [ "$opt_osds" -ge 1 ] && [ "$opt_osds" -le 32 ]; } ||
	{ echo "$prog: invalid --osds $opt_osds (1..32)" >&2; exit 2; }
[ -z "$opt_cores" ] || { [ "$opt_cores" -ge 1 ] && [ "$opt_cores" -le 16 ]; } ||
	{ echo "$prog: invalid --cores $opt_cores (1..16)" >&2; exit 2; }
[ -z "$opt_port" ] || { [ "$opt_port" -ge 1024 ] && [ "$opt_port" -le 60000 ]; } ||
	{ echo "$prog: invalid --port $opt_port (1024..60000)" >&2; exit 2; }

if [ "$cmd" = up ]; then
	mkdir -p "$dir" 2>/dev/null || die "cannot create $dir"
fi
[ -d "$dir" ] || die "no cluster in $dir"
dir=$(cd "$dir" && pwd)
conf=$dir/cluster.conf

# Programs: PATH, else --bin/$TESSERA_BIN, else this repository's build/bin.
find_prog() {
	local p=$1
	if [ -n "$bin" ] && [ -x "$bin/$p" ]; then echo "$bin/$p"; return 0; fi
	if command -v "$p" >/dev/null 2>&1; then command -v "$p"; return 0; fi
	if [ -x "$here/../build/bin/$p" ]; then echo "$(cd "$here/../build/bin" && pwd)/$p"; return 0; fi
	return 1
}

# Recorded layout (written at the first `up`): mons osds size cores port pgs.
mons=1 osds=3 size=1G cores=1 port="" pgs=32
if [ -f "$conf" ]; then
	# shellcheck disable=SC1090
	. "$conf"
fi
mon_list() {
	local i out=""
	for (( i = 0; i < mons; i++ )); do out+="${out:+,}127.0.0.1:$(( port + i ))"; done
	echo "$out"
}

running() { # NAME: the recorded PID is alive and is our daemon (its command line names DIR)
	local f="$dir/$1.pid" pid
	[ -f "$f" ] || return 1
	pid=$(cat "$f")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	grep -qF -- "$dir/" < <(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)
}

daemons() { # every daemon name of the recorded layout, monitors first
	local i
	for (( i = 1; i <= mons; i++ )); do echo "mon$i"; done
	for (( i = 1; i <= osds; i++ )); do echo "osd$i"; done
}

port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
	grep -q . < <(ss -Htln "sport = :$1" 2>/dev/null)
}

# All ports of the layout with base $1 are free (and below the ephemeral range).
ports_free() {
	local b=$1 i
	for (( i = 0; i < mons; i++ )); do
		port_busy $(( b + i )) && return 1
		port_busy $(( b + 1000 + i )) && return 1
	done
	for (( i = 0; i < osds * cores; i++ )); do
		port_busy $(( b + 100 + i )) && return 1
	done
	return 0
}

osdctl_q() { "$osdctl" -m "$(mon_list)" --timeout "${2:-2s}" $1 2>/dev/null; }

# wait_until SECONDS WHAT CMD...: poll against a deadline, with progress every 5 s.
wait_until() {
	local secs=$1 what=$2 start now last=0
	shift 2
	start=$(date +%s)
	until "$@" >/dev/null 2>&1; do
		dead_daemons || return 1
		now=$(date +%s)
		if [ $(( now - start )) -ge "$secs" ]; then
			say "timed out after ${secs}s waiting for $what; logs in $dir/*.log"
			return 1
		fi
		if [ $(( now - last )) -ge 5 ]; then
			[ "$last" = 0 ] || say "  still waiting for $what ($(( now - start ))s of ${secs}s)${progress_msg:+: $progress_msg}"
			last=$now
		fi
		sleep 0.3
	done
}

# Fails (showing its log) when a daemon this `up` started has exited.
dead_daemons() {
	local name
	# Our own children: kill -0 is enough (and right after the fork, before
	# the exec, the command line does not name DIR yet).
	for name in "${started_names[@]}"; do
		local pid
		pid=$(cat "$dir/$name.pid" 2>/dev/null)
		# (an exited child stays a zombie until this script ends: state Z)
		if ! kill -0 "$pid" 2>/dev/null ||
			[ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" = Z ]; then
			say "$name exited; the end of $dir/$name.log:"
			tail -n 20 "$dir/$name.log" >&2 || true
			return 1
		fi
	done
	return 0
}
started_names=()
declare -A log_off=()

# Every OSD this `up` started has booted (its log says so since its start).
osds_booted() {
	local name
	for name in "${started_names[@]}"; do
		[[ $name == osd* ]] || continue
		tail -c +$(( ${log_off[$name]} + 1 )) "$dir/$name.log" 2>/dev/null |
			grep -q "booted as osd" || { progress_msg="$name has not booted"; return 1; }
	done
}

health_ok() {
	local out
	out=$("$osdctl" -m "$(mon_list)" --timeout 2s health 2>/dev/null) || { progress_msg="no answer"; return 1; }
	progress_msg=$(echo "$out" | tr '\n' ' ' | cut -c1-120)
	[ "$(echo "$out" | head -n1)" = HEALTH_OK ] || return 1
	# And every PG reported active+clean by its primary.
	out=$("$osdctl" -m "$(mon_list)" --timeout 2s status 2>/dev/null) || return 1
	echo "$out" | awk '
		/pools:/ { for (i = 1; i < NF; i++) if ($(i + 1) == "pgs") total = $i }
		/active\+clean$/ { clean = $(NF - 1) }
		/reported by their primary/ { gsub(/\(/, "", $1); rep = $1 }
		END { exit !(total > 0 && clean == total && rep == total) }' || {
		progress_msg="PGs not all active+clean yet"
		return 1
	}
}

mon_answers() { "$osdctl" -m "$(mon_list)" --timeout 1s mon ls >/dev/null 2>&1; }

osds_up() {
	local n
	n=$("$osdctl" -m "$(mon_list)" --timeout 2s osd ls 2>/dev/null | grep -cw up) || { progress_msg="0 up"; return 1; }
	progress_msg="$n of $osds up"
	[ "$n" -ge "$osds" ] && osds_booted
}

start_daemon() { # NAME CMD...
	local name=$1
	shift
	log_off[$name]=$(stat -c %s "$dir/$name.log" 2>/dev/null || echo 0)
	# setsid: the daemon outlives this script and ignores the terminal's signals.
	setsid "$@" </dev/null >>"$dir/$name.log" 2>&1 &
	echo $! >"$dir/$name.pid.tmp"
	mv -f "$dir/$name.pid.tmp" "$dir/$name.pid"
	started_names+=("$name")
	say "started $name (pid $!)"
}

write_env() {
	printf 'export TESSERA_MON=%s\n' "$(mon_list)" >"$dir/cluster.env.tmp"
	mv -f "$dir/cluster.env.tmp" "$dir/cluster.env"
}

do_up() {
	local fresh=0 i peers="" p osd_port started=0
	mon=$(find_prog tessera-mon) || die "tessera-mon not found on PATH nor in build/bin (build first: scripts/build.sh)"
	osd=$(find_prog tessera-osd) || die "tessera-osd not found on PATH nor in build/bin"
	osdctl=$(find_prog osdctl) || die "osdctl not found on PATH nor in build/bin"
	if [ ! -f "$conf" ]; then
		fresh=1
		mons=${opt_mons:-1} osds=${opt_osds:-3} size=${opt_size:-1G} cores=${opt_cores:-1}
		pgs=${opt_pgs:-32}
		if [ -n "$opt_port" ]; then
			port=$opt_port
			ports_free "$port" || die "ports from $port are in use (or above the ephemeral range)"
		else
			# Below the kernel's ephemeral range, which clients' ports come from.
			local eph_lo
			eph_lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
			[ "$eph_lo" -gt 14000 ] 2>/dev/null || eph_lo=32768
			port=""
			for (( i = 0; i < 200; i++ )); do
				p=$(( 10000 + (RANDOM % ((eph_lo - 12000) / 100)) * 100 ))
				if ports_free "$p"; then port=$p; break; fi
			done
			[ -n "$port" ] || die "no free port range found (use --port P)"
		fi
		[ $(( osds * cores )) -le 800 ] || die "too many OSD reactors"
		printf 'mons=%s\nosds=%s\nsize=%s\ncores=%s\nport=%s\npgs=%s\n' \
			"$mons" "$osds" "$size" "$cores" "$port" "$pgs" >"$conf.tmp"
		mv -f "$conf.tmp" "$conf"
	else
		[ -z "$opt_mons" ] || [ "$opt_mons" = "$mons" ] ||
			die "this cluster has $mons monitor(s); --mons cannot change it"
		[ -z "$opt_port" ] || [ "$opt_port" = "$port" ] ||
			die "this cluster uses port $port; --port cannot change it"
		if [ -n "$opt_osds" ] && [ "$opt_osds" -gt "$osds" ]; then
			osds=$opt_osds
			sed -i "s/^osds=.*/osds=$osds/" "$conf"
			say "growing to $osds OSDs"
		fi
	fi
	say "cluster in $dir: $mons monitor(s), $osds OSD(s) of $size with $cores reactor(s), ports from $port"

	for (( i = 1; i <= mons; i++ )); do
		peers+="${peers:+,}$i=127.0.0.1:$(( port + i - 1 ))"
	done
	for (( i = 1; i <= mons; i++ )); do
		if running "mon$i"; then continue; fi
		p=$(( port + i - 1 ))
		port_busy "$p" && die "port $p (mon$i) is taken by another program"
		if [ "$mons" -gt 1 ]; then
			start_daemon "mon$i" "$mon" --id "$i" --data "$dir/mon$i" \
				--listen "127.0.0.1:$p" --peers "$peers"
		else
			start_daemon "mon$i" "$mon" --id 1 --data "$dir/mon$i" --listen "127.0.0.1:$p"
		fi
		started=1
	done
	say "waiting for the monitor quorum"
	wait_until 30 "the monitors to answer" mon_answers

	for (( i = 1; i <= osds; i++ )); do
		if running "osd$i"; then continue; fi
		osd_port=$(( port + 100 + (i - 1) * cores ))
		start_daemon "osd$i" "$osd" --mon "$(mon_list)" --device "$dir/osd$i.img" \
			--size "$size" --cores "$cores" --host "host$i" --port-base "$osd_port"
		started=1
	done
	[ "$started" = 1 ] || say "every daemon was already running"
	say "waiting for $osds OSD(s) to be up"
	wait_until 90 "$osds OSDs up" osds_up

	if ! grep -qw rbd < <(osdctl_q "pool ls"); then
		local psize=$(( osds < 3 ? osds : 3 ))
		local pmin=$(( psize - psize / 2 ))
		say "creating pool rbd (size $psize, min_size $pmin, $pgs PGs)"
		"$osdctl" -m "$(mon_list)" pool create rbd --size "$psize" --min-size "$pmin" \
			--pg-count "$pgs" >/dev/null || die "pool create rbd failed"
	fi
	say "waiting for HEALTH_OK"
	progress_msg=""
	wait_until 120 "HEALTH_OK" health_ok
	write_env
	say "up: monitor(s) at $(mon_list)"
	say "use it: . $dir/cluster.env; osdctl status; osdctl volume ls"
	say "stop it: $0 down --dir $dir"
	mon_list
}

stop_names() { # NAME...: TERM all, then wait (KILL after 20 s) and drop the pid files
	local name pid k
	for name in "$@"; do
		running "$name" && kill -TERM "$(cat "$dir/$name.pid")" 2>/dev/null
	done
	for name in "$@"; do
		[ -f "$dir/$name.pid" ] || continue
		if running "$name"; then
			pid=$(cat "$dir/$name.pid")
			for (( k = 0; k < 100; k++ )); do
				kill -0 "$pid" 2>/dev/null || break
				[ $(( k % 25 )) = 24 ] && say "  waiting for $name (pid $pid) to exit"
				sleep 0.2
			done
			if kill -0 "$pid" 2>/dev/null; then
				say "$name (pid $pid) ignored SIGTERM for 20 s; killing"
				kill -KILL "$pid" 2>/dev/null || true
			fi
			say "stopped $name"
		fi
		rm -f "$dir/$name.pid"
	done
}

do_down() {
	[ -f "$conf" ] || die "no cluster in $dir (no cluster.conf)"
	local o=() m=() i
	# Every osd*/mon* pid file, also of daemons beyond the layout (defensive).
	for f in "$dir"/osd*.pid; do [ -e "$f" ] && o+=("$(basename "$f" .pid)"); done
	for f in "$dir"/mon*.pid; do [ -e "$f" ] && m+=("$(basename "$f" .pid)"); done
	[ ${#o[@]} -gt 0 ] && stop_names "${o[@]}"
	[ ${#m[@]} -gt 0 ] && stop_names "${m[@]}"
	say "down (data kept in $dir)"
}

do_status() {
	[ -f "$conf" ] || die "no cluster in $dir (no cluster.conf)"
	local name n=0
	while read -r name; do
		if running "$name"; then
			echo "$name: running (pid $(cat "$dir/$name.pid"))"
			n=$(( n + 1 ))
		else
			echo "$name: stopped"
		fi
	done < <(daemons)
	echo "monitors: $(mon_list)"
	[ "$n" -gt 0 ] || return 3
	osdctl=$(find_prog osdctl) || die "osdctl not found"
	"$osdctl" -m "$(mon_list)" --timeout 3s status || return 3
}

case "$cmd" in
up) do_up ;;
down) do_down ;;
status) do_status ;;
env)
	[ -f "$conf" ] || die "no cluster in $dir (no cluster.conf)"
	echo "export TESSERA_MON=$(mon_list)"
	;;
esac
