#!/usr/bin/env bash
# SIGTERM to a monitor, its three OSDs and a client all at once, several
# rounds: the monitor must exit 0 every time, with no sanitizer report.
#
# The race this guards: OSDs mark themselves down as they stop, so the
# monitor receives a burst of proposals just as it shuts down. libraft 0.15
# crashes in raft_close() when two or more log appends are still queued
# (it truncates the log once per cancelled append, past its end); the
# monitor now lets the log writer drain before raft_close() (mon_raft.c).
# Rounds restart the same cluster on the same data (mon, OSD files, pool,
# volume), within a time budget (at least 2 rounds, at most
# TSR_SHUTDOWN_ROUNDS, default 5, and no new round after ~20 s).
. "$(dirname "$0")/../lib.sh"
tsr_init mon-shutdown

OSDCTL="$TSR_BIN/osdctl"
MON="$TSR_BIN/tessera-mon"
OSD="$TSR_BIN/tessera-osd"
BENCH="$TSR_BIN/tessera-bench"
MAX_ROUNDS=${TSR_SHUTDOWN_ROUNDS:-5}

mport=$(tsr_free_port)
MONADDR="127.0.0.1:$mport"

osds_up() {
	local out n
	out=$("$OSDCTL" -m "$MONADDR" --timeout 2s osd ls 2>/dev/null) || return 1
	n=$(grep -cw up <<<"$out")
	[ "$n" -ge 3 ]
}

pgs_active() {
	local out
	out=$("$OSDCTL" -m "$MONADDR" --timeout 2s status 2>/dev/null) || return 1
	grep -q "8 active" <<<"$out"
}

sanitizer_clean() {
	! grep -qE "ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|Assertion .* failed" \
		"$1"
}

start_cluster() {
	local r=$1 i
	tsr_start "mon.r$r" "$MON" --id 1 --data "$TSR_DIR/mon" --listen "$MONADDR" \
		--osd-grace 3s
	tsr_wait_port 127.0.0.1 "$mport" 20 "mon.r$r"
	for i in 1 2 3; do
		tsr_start "osd$i.r$r" "$OSD" --mon "$MONADDR" --device "$TSR_DIR/osd$i.img" \
			--size 64M --cores 1 --host "host$i" --io-buffers 32 --max-io 256K
	done
	# This round's OSDs, not the map of the last round: each one booted.
	for i in 1 2 3; do
		tsr_wait_for 30 "osd$i booted (round $r)" -- grep -q "booted as" "$TSR_DIR/osd$i.r$r.log"
	done
	tsr_wait_for 30 "3 OSDs up (round $r)" -- osds_up
}

start=$(date +%s)
round=0
while [ "$round" -lt "$MAX_ROUNDS" ]; do
	if [ "$round" -ge 2 ] && [ $(($(date +%s) - start)) -ge 20 ]; then
		break
	fi
	round=$((round + 1))
	start_cluster "$round"
	if [ "$round" = 1 ]; then
		"$OSDCTL" -m "$MONADDR" pool create rbd --size 3 --min-size 2 --pg-count 8 \
			>/dev/null || tsr_fail "pool create"
		"$OSDCTL" -m "$MONADDR" volume create v1 32M >/dev/null || tsr_fail "volume create"
	fi
	tsr_wait_for 30 "PGs active (round $round)" -- pgs_active
	tsr_start "bench.r$round" "$BENCH" --volume v1 --mon "$MONADDR" --rw randwrite --bs 4K \
		--iodepth 8 --runtime 60 --quiet
	# Let the writes flow for a moment (no assertion depends on it).
	sleep 0.5

	names="osd1.r$round osd2.r$round osd3.r$round mon.r$round bench.r$round"
	pids=""
	for n in $names; do pids="$pids $(tsr_pid "$n")"; done
	# shellcheck disable=SC2086
	kill -TERM $pids 2>/dev/null
	# Signal 0 only waits: every process got its SIGTERM above.
	tsr_stop "mon.r$round" 0 30
	st=$?
	for n in osd1.r$round osd2.r$round osd3.r$round; do
		tsr_stop "$n" 0 30 || tsr_log "$n exited with status $?"
	done
	tsr_stop "bench.r$round" 0 3 || tsr_log "the client exited with status $?"
	[ "$st" = 0 ] || tsr_fail "round $round: tessera-mon exited with status $st"
	sanitizer_clean "$TSR_DIR/mon.r$round.log" ||
		tsr_fail "round $round: sanitizer report in the monitor's log"
	grep -q "mon stopped" "$TSR_DIR/mon.r$round.log" ||
		tsr_fail "round $round: the monitor did not log its clean stop"
	tsr_log "round $round: monitor exited 0"
done
tsr_log "$round rounds in $(($(date +%s) - start)) s"
tsr_pass
