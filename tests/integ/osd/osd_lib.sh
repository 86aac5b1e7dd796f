# shellcheck shell=bash
# The cluster the OSD integration tests (and the libtessera client tests)
# share: one tessera-mon and N tessera-osd processes on files in the test's
# temp dir, on loopback, driven by osdctl and the test client
# (tessera-osd-testcli). Source it after ../lib.sh, then call tsr_init:
#
#   . "$(dirname "$0")/../lib.sh"
#   . "$(dirname "$0")/osd_lib.sh"     # (../osd/osd_lib.sh from other dirs)
#   tsr_init osd-x
#   osd_need_cli                       # the test client must be built
#   NPG=16                             # the pool's PG count (default 16)
#   OSD_ARGS=(--size 128M --cores 2 --op-timeout 10s)   # every OSD gets these
#   osd_start_mon --osd-grace 3s       # sets MONADDR
#   osd_start_cluster 3                # osd1..osd3 started, all 3 up
#   osd_pool_create 3 2                # pool rbd: size 3, min_size 2, NPG PGs
#   tsr_wait_for 60 "PGs clean" -- all_clean
#
# The OSDs are named osd1..osdN by the script: log $TSR_DIR/osdN.log, device
# $TSR_DIR/osdN.img, host hostN, listening on ephemeral ports (a restarted OSD
# publishes new addresses). Their map ids come from their logs ("booted as
# osd.ID"), never from the order they were started in.
#
# Every wait polls against a deadline that is generous (a slow, loaded 2-core
# machine running ASan builds) and returns as soon as the condition holds.
# Predicates (osds_up, all_clean, ...) only read state: none has a side
# effect, so polling them early or often changes nothing.

OSDCTL="$TSR_BIN/osdctl"
MON="$TSR_BIN/tessera-mon"
OSD="$TSR_BIN/tessera-osd"
CLI="${TSR_OSD_TESTCLI:-$(dirname "$TSR_BIN")/tests/integ/osd/tessera-osd-testcli}"
NPG=16
OSD_ARGS=()
MONADDR=""
mport=""
# --wait of the test client's checks: how many times (100 ms apart) a member
# that differs is read again while recovery may still be running. Returns as
# soon as the members agree, so a long bound costs nothing when they do.
OSD_WAIT=600

osd_need_cli() {
	[ -x "$CLI" ] || tsr_fail "test client not found at $CLI"
}

# osd_start_mon [ARGS...]: start tessera-mon as "mon" (data $TSR_DIR/mon) on a
# free port with ARGS and wait until it listens; sets mport and MONADDR. A
# port picked free can be taken by another process before the monitor binds
# it: then the monitor exits with "address already in use" and this starts it
# again, on a new port and with a new data dir (at most 5 times).
osd_start_mon() {
	local attempt
	for attempt in 1 2 3 4 5; do
		mport=$(tsr_free_port)
		MONADDR="127.0.0.1:$mport"
		rm -rf "$TSR_DIR/mon"
		tsr_start mon "$MON" --id 1 --data "$TSR_DIR/mon" --listen "$MONADDR" "$@"
		tsr_wait_for 60 "the monitor listening on $MONADDR (or exiting)" -- \
			osd__mon_started "$mport"
		if tsr_is_running mon; then
			tsr_wait_port 127.0.0.1 "$mport" 60 mon
			return 0
		fi
		# Taken: the client port ("address already in use") or the Raft
		# port, port+1000 ("raft start failed").
		grep -qE "address already in use|raft start failed" "$TSR_DIR/mon.log" ||
			tsr_fail "the monitor exited at start"
		tsr_stop mon
		tsr_log "port $mport (or its Raft port) was taken before the monitor bound it: new port"
		mv "$TSR_DIR/mon.log" "$TSR_DIR/mon.attempt$attempt.log"
		TSR_LOGS[mon.attempt$attempt]=$TSR_DIR/mon.attempt$attempt.log
	done
	tsr_fail "no port for the monitor after 5 attempts"
}

osd__mon_started() {
	grep -q "listening on 127.0.0.1:$1\$" "$TSR_DIR/mon.log" 2>/dev/null || ! tsr_is_running mon
}

# start_osd N [ARGS...]: start OSD osdN with OSD_ARGS, then ARGS.
start_osd() {
	local i=$1
	shift
	tsr_start "osd$i" "$OSD" --mon "$MONADDR" --device "$TSR_DIR/osd$i.img" --host "host$i" \
		"${OSD_ARGS[@]}" "$@"
}

# osd_start_cluster N: start osd1..osdN and wait until exactly N are up.
osd_start_cluster() {
	local i
	for ((i = 1; i <= $1; i++)); do start_osd "$i"; done
	tsr_wait_for 60 "$1 OSDs up" -- osds_up_exact "$1"
}

# osd_pool_create SIZE MIN_SIZE: pool rbd with $NPG PGs.
osd_pool_create() {
	"$OSDCTL" -m "$MONADDR" pool create rbd --size "$1" --min-size "$2" --pg-count "$NPG" \
		>/dev/null || tsr_fail "pool create"
}

# osd_write_all COUNT BASE DESC: the test client writes objects 0..COUNT-1 of
# pool rbd with patterns from BASE (checked later with verify --base BASE);
# the test fails with DESC if a write fails.
osd_write_all() {
	"$CLI" rewrite --mon "$MONADDR" --pool rbd --objects "$1" --base "$2" || tsr_fail "$3"
}

# osd_cluster_ready: osd1..osd3 up, pool rbd (size 3, min_size 2, $NPG PGs),
# every PG active+clean in osdctl status.
osd_cluster_ready() {
	osd_start_cluster 3
	osd_pool_create 3 2
	tsr_wait_for 60 "PGs active+clean" -- pgs_clean
}

# osd_cluster_with_data MIN_SIZE: osd1..osd3 up, pool rbd (size 3, MIN_SIZE,
# $NPG PGs), objects 0..NOBJ-1 written with base 1000, every PG reported
# active+clean and HEALTH_OK.
osd_cluster_with_data() {
	osd_start_cluster 3
	osd_pool_create 3 "$1"
	osd_write_all "$NOBJ" 1000 "first writes"
	tsr_wait_for 60 "PGs active+clean before the test" -- all_clean
}

# osd_stop N UP_AFTER: SIGTERM to osdN, which must exit 0; then wait until the
# map shows exactly UP_AFTER OSDs up.
osd_stop() {
	tsr_stop "osd$1" TERM 60 || tsr_fail "osd$1 did not exit cleanly"
	tsr_wait_for 60 "osd$1 marked down ($2 up)" -- osds_up_exact "$2"
}

# osd_kill N UP_AFTER: kill -9 of osdN, then wait until exactly UP_AFTER are up.
osd_kill() {
	tsr_kill "osd$1"
	tsr_wait_for 60 "osd$1 marked down after kill -9 ($2 up)" -- osds_up_exact "$2"
}

# osd_restart N [ARGS...]: start osdN again (same device, ARGS added) and wait
# until it logged one more boot than before.
osd_restart() {
	local i=$1 n
	shift
	n=$(boot_count "$i")
	start_osd "$i" "$@"
	tsr_wait_for 60 "osd$i booted again (boot $((n + 1)))" -- boots "$i" $((n + 1))
}

# osd_stop_all: SIGTERM to every OSD started and not stopped yet; each must
# exit 0 (one that died meanwhile fails the test with its status).
osd_stop_all() {
	local i
	for i in 1 2 3 4 5 6; do
		[ -n "${TSR_PIDS[osd$i]:-}" ] || continue # never started, or stopped already
		tsr_stop "osd$i" TERM 60 || tsr_fail "osd$i did not exit cleanly (last stop)"
	done
}

# Predicates (no side effects).

# osds_up N: at least N OSDs up in the map.
osds_up() {
	local out n
	out=$("$OSDCTL" -m "$MONADDR" --timeout 2s osd ls 2>/dev/null) || return 1
	n=$(grep -cw up <<<"$out")
	[ "$n" -ge "$1" ]
}

# osds_up_exact N: exactly N OSDs up in the map.
osds_up_exact() {
	local out n
	out=$("$OSDCTL" -m "$MONADDR" --timeout 2s osd ls 2>/dev/null) || return 1
	n=$(grep -cw up <<<"$out")
	[ "$n" = "$1" ]
}

# boot_count N: how many times osdN logged its boot.
boot_count() {
	grep -c "booted as" "$TSR_DIR/osd$1.log" 2>/dev/null
}

# boots N COUNT: osdN booted at least COUNT times.
boots() {
	[ "$(boot_count "$1")" -ge "$2" ]
}

# osd_id N: the map id of osdN (from its first boot).
osd_id() {
	grep -oE "booted as osd\.[0-9]+" "$TSR_DIR/osd$1.log" | head -n 1 | sed 's/.*osd\.//'
}

# osd_num ID: the script's number N (osdN) of the OSD with map id ID.
osd_num() {
	local i
	for i in 1 2 3 4 5 6; do
		if grep -q "booted as osd\.$1 " "$TSR_DIR/osd$i.log" 2>/dev/null; then
			echo "$i"
			return 0
		fi
	done
	return 1
}

# logged N REGEX: osdN's log has a line matching REGEX (grep -E).
logged() {
	grep -qE "$2" "$TSR_DIR/osd$1.log"
}

# health_ok: the first line of osdctl health is HEALTH_OK.
health_ok() {
	[ "$("$OSDCTL" -m "$MONADDR" --timeout 2s health 2>/dev/null | head -n 1)" = HEALTH_OK ]
}

# health_inactive FILE: HEALTH_ERR naming PG_AVAILABILITY; the report is left
# in FILE.
health_inactive() {
	"$OSDCTL" -m "$MONADDR" --timeout 2s health 2>/dev/null >"$1"
	head -n 1 "$1" | grep -qx HEALTH_ERR && grep -q PG_AVAILABILITY "$1"
}

# pgs_clean: osdctl status counts $NPG PGs active+clean (computed or reported).
pgs_clean() {
	local out
	out=$("$OSDCTL" -m "$MONADDR" --timeout 2s status 2>/dev/null) || return 1
	grep -q "$NPG active+clean" <<<"$out"
}

# all_clean: every one of the $NPG PGs reported active+clean by its primary
# (not only computed from the map: right after a map change the monitor has no
# report for the new acting set yet), and HEALTH_OK.
all_clean() {
	local json n
	json=$("$OSDCTL" -m "$MONADDR" --timeout 2s pg ls --format json 2>/dev/null) || return 1
	n=$(grep -o '"state":"active+clean","state_source":"reported"' <<<"$json" | wc -l)
	[ "$n" = "$NPG" ] || return 1
	health_ok
}

# pg_seed_in STATE [PRIMARY]: the seed of the first PG reported
# active+STATE (e.g. recovering, backfilling), whose primary is osd.PRIMARY if
# given; nothing if there is none.
pg_seed_in() {
	local state=$1 prim=${2:-[0-9]+} json
	json=$("$OSDCTL" -m "$MONADDR" --timeout 2s pg ls --format json 2>/dev/null) || return 0
	grep -oE "\"seed\":[0-9]+,\"acting\":\[[0-9,]*\],\"primary\":$prim,\"state\":\"active\\+$state[a-z+]*\",\"state_source\":\"reported\"" \
		<<<"$json" | head -n 1 | sed -E 's/^"seed":([0-9]+),.*/\1/'
}

# have_pg_in STATE [PRIMARY]: some PG is reported active+STATE.
have_pg_in() {
	[ -n "$(pg_seed_in "$@")" ]
}

# pg_is_in SEED STATE: PG SEED is shown active+STATE.
pg_is_in() {
	local json
	json=$("$OSDCTL" -m "$MONADDR" --timeout 2s pg ls --format json 2>/dev/null) || return 1
	grep -qE "\"seed\":$1,\"acting\":\[[0-9,]*\],\"primary\":[0-9]+,\"state\":\"active\\+$2" \
		<<<"$json"
}

# pg_objects SEED LIMIT: the object ids below LIMIT that map to PG SEED, in
# ascending order (at most LIMIT of them).
pg_objects() {
	local seed=$1 limit=$2 o n=0
	o=$("$CLI" oid-in-pg --mon "$MONADDR" --pool rbd --pg "$seed" --oid 0 | head -n 1)
	while [ -n "$o" ] && [ "$o" -lt "$limit" ] && [ "$n" -lt "$limit" ]; do
		echo "$o"
		n=$((n + 1))
		o=$("$CLI" oid-in-pg --mon "$MONADDR" --pool rbd --pg "$seed" --oid $((o + 1)) |
			head -n 1)
	done
}

# osd_io_rounds SEED STATE WHAT: up to 5 rounds of client I/O on PG SEED
# while it is reported active+STATE: object $new (in the PG, not written
# while osd3 was down) written and read back, object $old (written with base
# 5000 while osd3 was down) read back; a pg ls after each round counts the
# round in $during if the PG is still in STATE, and ends the rounds if not:
# the order of the observations, not timing, is the proof. Sets new, old, b
# (the last pattern of $new) and during; WHAT names the phase in messages.
osd_io_rounds() {
	local seed=$1 state=$2 what=$3 round
	during=0
	# From 600000: the test client's "load" writes objects 100000 and up,
	# which would overwrite "new" and fail the test's final check-one.
	new=$("$CLI" oid-in-pg --mon "$MONADDR" --pool rbd --pg "$seed" --oid 600000 | head -n 1)
	old=$("$CLI" oid-in-pg --mon "$MONADDR" --pool rbd --pg "$seed" --oid 0 | head -n 1)
	[ -n "$new" ] && [ -n "$old" ] || tsr_fail "no object of PG $seed"
	for round in 1 2 3 4 5; do
		b=$((20000 + round))
		"$CLI" write-one --mon "$MONADDR" --pool rbd --oid "$new" --base "$b" --expect 0 ||
			tsr_fail "write of $new during $what"
		"$CLI" read-one --mon "$MONADDR" --pool rbd --oid "$new" --base "$b" --expect 0 ||
			tsr_fail "read of $new during $what"
		"$CLI" read-one --mon "$MONADDR" --pool rbd --oid "$old" --base $((5000 + old)) \
			--expect 0 || tsr_fail "read of $old (written while osd3 was down) during $what"
		if pg_is_in "$seed" "$state"; then
			during=$((during + 1))
		else
			break
		fi
	done
	[ "$during" -ge 1 ] ||
		tsr_fail "no I/O round completed while PG $seed was still reported $state"
	tsr_log "$during verified I/O rounds completed while PG $seed was reported $state"
}

# A write load in the background: load_start ARGS... runs the test client's
# "load" as the tracked daemon "load" (killed by the EXIT trap if the test
# fails first), its progress in $TSR_DIR/load; acks N: it has N acknowledged
# writes; load_wait: it finished (bounded) and succeeded.
load_start() {
	tsr_start load "$CLI" load --mon "$MONADDR" --pool rbd --state "$TSR_DIR/load" "$@"
}

acks() {
	local n
	n=$(grep "^P" "$TSR_DIR/load" 2>/dev/null | tail -n 1 | cut -d' ' -f2)
	[ -n "$n" ] && [ "$n" -ge "$1" ]
}

load_wait() {
	tsr_stop load 0 300
}
