# shellcheck shell=bash
# Integration-test harness: source it from a test script.
#
#   . "$(dirname "$0")/../lib.sh"      # (path relative to the test)
#   tsr_init "my-test"                 # temp dir, traps, log dump on failure
#   port=$(tsr_free_port)
#   tsr_start mon1 "$TSR_BIN/tessera-mon" --listen 127.0.0.1:$port ...
#   tsr_wait_port 127.0.0.1 $port 10   # readiness by polling against a deadline
#   tsr_wait_for 10 "osd 0 is up" -- osdctl ... | grep -q up
#   tsr_stop mon1                      # SIGTERM, wait, SIGKILL after a deadline
#   tsr_pass
#
# Every daemon started with tsr_start is recorded by PID and killed (TERM,
# then KILL) by the EXIT trap, whatever happened; on failure every daemon's log
# is printed. Nothing here kills a process it did not start.
#
# Environment:
#   TSR_BIN       directory of the built binaries (default: $BUILD_DIR/bin or the
#                 directories CTest passes; tests get it from CMake)
#   TSR_KEEP=1    keep the temp dir after the test
#   TSR_PORT_BASE first port to probe (default: random in 20000-50000)

set -o pipefail

TSR_NAME=""
TSR_DIR=""
TSR_PASSED=0
declare -A TSR_PIDS=()
declare -A TSR_LOGS=()

tsr_log() {
	printf '[%s %s] %s\n' "$(date +%H:%M:%S.%3N)" "${TSR_NAME:-test}" "$*" >&2
}

tsr_fail() {
	tsr_log "FAIL: $*"
	exit 1
}

tsr_init() {
	TSR_NAME="$1"
	TSR_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tessera-${TSR_NAME}.XXXXXX") || exit 1
	trap tsr__cleanup EXIT
	trap 'tsr_fail "interrupted"' INT TERM
	tsr_log "temp dir $TSR_DIR"
}

tsr__cleanup() {
	local rc=$?
	local name pid
	for name in "${!TSR_PIDS[@]}"; do
		pid=${TSR_PIDS[$name]}
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null
		fi
	done
	for name in "${!TSR_PIDS[@]}"; do
		pid=${TSR_PIDS[$name]}
		tsr__reap "$pid" 5 || { kill -KILL "$pid" 2>/dev/null; tsr__reap "$pid" 5; }
	done
	if [ "$TSR_PASSED" != 1 ] || [ "$rc" != 0 ]; then
		for name in "${!TSR_LOGS[@]}"; do
			echo "----- log of $name (${TSR_LOGS[$name]}) -----" >&2
			tail -n 200 "${TSR_LOGS[$name]}" >&2 2>/dev/null
		done
		[ "$rc" = 0 ] && rc=1
	fi
	if [ -n "$TSR_DIR" ] && [ "${TSR_KEEP:-0}" != 1 ] && [ "$rc" = 0 ]; then
		rm -rf "$TSR_DIR"
	elif [ -n "$TSR_DIR" ]; then
		echo "temp dir kept: $TSR_DIR" >&2
	fi
	exit "$rc"
}

# Wait up to $2 seconds for PID $1 (a child of ours) to exit.
tsr__reap() {
	local pid=$1 deadline=$(( $(date +%s%N) + $2 * 1000000000 ))
	while kill -0 "$pid" 2>/dev/null; do
		[ "$(date +%s%N)" -ge "$deadline" ] && return 1
		sleep 0.05
	done
	wait "$pid" 2>/dev/null
	return 0
}

# A TCP port on 127.0.0.1 that nothing listens on now. Ports handed out in this
# test are remembered in a file (so calls inside $(...) subshells count too),
# and so is port+1000, which daemons with a second port (the monitor's Raft
# port) use by default: two calls never return clashing ports.
tsr_free_port() {
	# Stay below the kernel's ephemeral range: daemons started with port 0
	# (the OSDs) get ports from there, and a collision would be a race.
	local eph_lo
	eph_lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	[ "$eph_lo" -gt 14000 ] 2>/dev/null || eph_lo=32768
	local span=$(( eph_lo - 10000 - 3000 ))
	local base=${TSR_PORT_BASE:-$(( 10000 + (RANDOM * 32768 + RANDOM) % span ))}
	local used="$TSR_DIR/ports.used"
	local p
	touch "$used"
	for (( p = base; p < base + 2000 && p + 1000 < eph_lo; p++ )); do
		grep -qx -e "$p" -e "$((p + 1000))" -e "$((p - 1000))" "$used" && continue
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
		(exec 3<>"/dev/tcp/127.0.0.1/$((p + 1000))") 2>/dev/null && continue
		ss -Htln "sport = :$p" 2>/dev/null | grep -q . && continue
		printf '%s\n' "$p" >>"$used"
		echo "$p"
		return 0
	done
	tsr_fail "no free port near $base"
}

# tsr_start NAME CMD [ARGS...]: start a daemon in the background, log to
# $TSR_DIR/NAME.log, record its PID.
tsr_start() {
	local name=$1
	shift
	local log="$TSR_DIR/$name.log"
	TSR_LOGS[$name]=$log
	"$@" >>"$log" 2>&1 &
	TSR_PIDS[$name]=$!
	tsr_log "started $name (pid ${TSR_PIDS[$name]}): $*"
}

tsr_pid() {
	echo "${TSR_PIDS[$1]}"
}

# tsr_track NAME PID: record a background job the script started itself
# (`cmd & tsr_track NAME $!`, for output redirections tsr_start cannot do), so
# that the EXIT trap ends it too if the test fails before it is reaped. Reap it
# with `tsr_stop NAME 0 TIMEOUT` (signal 0 only waits; returns its status).
tsr_track() {
	TSR_PIDS[$1]=$2
	tsr_log "tracking $1 (pid $2)"
}

tsr_is_running() {
	local pid=${TSR_PIDS[$1]:-}
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# tsr_stop NAME [SIGNAL] [TIMEOUT]: signal (default TERM) and wait for exit;
# returns the daemon's exit status. SIGKILL after TIMEOUT (default 10 s).
tsr_stop() {
	local name=$1 sig=${2:-TERM} timeout=${3:-10}
	local pid=${TSR_PIDS[$name]:-}
	local status
	[ -z "$pid" ] && return 0
	kill -"$sig" "$pid" 2>/dev/null
	if ! tsr__reap_status "$pid" "$timeout"; then
		tsr_log "$name (pid $pid) did not exit within ${timeout}s after SIG$sig; killing"
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		status=137
	else
		status=$TSR_LAST_STATUS
	fi
	unset "TSR_PIDS[$name]"
	tsr_log "stopped $name (pid $pid, status $status)"
	return "$status"
}

tsr__reap_status() {
	local pid=$1 deadline=$(( $(date +%s%N) + $2 * 1000000000 ))
	while kill -0 "$pid" 2>/dev/null; do
		[ "$(date +%s%N)" -ge "$deadline" ] && return 1
		sleep 0.05
	done
	wait "$pid" 2>/dev/null
	TSR_LAST_STATUS=$?
	return 0
}

# tsr_kill NAME: SIGKILL (a crash), reaped.
tsr_kill() {
	tsr_stop "$1" KILL 5 || true
}

# tsr_wait_port HOST PORT TIMEOUT_S [NAME]: poll until something accepts on
# HOST:PORT; with NAME, fail at once if that daemon has exited.
tsr_wait_port() {
	local host=$1 port=$2 timeout=${3:-10} name=${4:-}
	TSR_WAIT_DAEMON=$name tsr_wait_for "$timeout" "$host:$port accepting" -- \
		tsr__probe_port "$host" "$port"
}

tsr__probe_port() {
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# tsr_wait_for TIMEOUT_S DESCRIPTION -- CMD [ARGS...]: poll CMD until it succeeds
# or the deadline passes (then fail the test with DESCRIPTION). If
# TSR_WAIT_DAEMON names a daemon, fail as soon as it is no longer running.
tsr_wait_for() {
	local timeout=$1 what=$2
	shift 2
	[ "$1" = "--" ] && shift
	local start=$(date +%s%N)
	local deadline=$(( start + timeout * 1000000000 ))
	local delay=0.02
	local daemon=${TSR_WAIT_DAEMON:-}
	while :; do
		if "$@" >/dev/null 2>&1; then
			TSR_WAITED_MS=$(( ($(date +%s%N) - start) / 1000000 ))
			return 0
		fi
		if [ -n "$daemon" ] && ! tsr_is_running "$daemon"; then
			tsr_fail "$daemon exited while waiting for: $what"
		fi
		[ "$(date +%s%N)" -ge "$deadline" ] && tsr_fail "timed out after ${timeout}s waiting for: $what"
		sleep "$delay"
		delay=$(awk -v d="$delay" 'BEGIN { d *= 2; if (d > 0.5) d = 0.5; print d }')
	done
}

# Assertions.
tsr_assert_eq() {
	[ "$1" = "$2" ] || tsr_fail "${3:-assertion}: expected '$2', got '$1'"
}

tsr_assert() {
	local what=$1
	shift
	[ "$1" = "--" ] && shift
	"$@" || tsr_fail "$what"
}

tsr_pass() {
	TSR_PASSED=1
	tsr_log "PASS"
	exit 0
}
