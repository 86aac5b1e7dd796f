#!/usr/bin/env bash
# Crash-consistency test of libstore, with real processes.
#
# A writer (tessera-bench --verify --ack-log) does random writes of random
# sizes (4 KiB..256 KiB, crossing object boundaries) with self-describing
# data into a store of many objects and appends every acknowledged write to a
# log. It is killed with SIGKILL at a random moment (sometimes while it is
# still opening the store, i.e. during journal replay). After each kill the
# store is reopened and tessera-bench --check-log reads the whole working set:
# every acknowledged write must read back intact (its generation or a newer
# one), and any newer, unacknowledged write must be complete within its
# object, never torn, never garbage.
#
# The writer alternates libstore's durability modes round by round (fua, batch):
# the same guarantees, different commit paths.
#
# Usage: crash_store.sh TESSERA_BENCH [ROUNDS]
# Env:   TESSERA_CRASH_ROUNDS (default 20), TESSERA_CRASH_SEED (default: random),
#        TESSERA_CRASH_TARGET (store | file: the test's own self-check on a plain file).
set -u

BENCH=${1:?usage: crash_store.sh TESSERA_BENCH [ROUNDS]}
ROUNDS=${2:-${TESSERA_CRASH_ROUNDS:-20}}
SEED=${TESSERA_CRASH_SEED:-$(( (RANDOM << 15) | RANDOM ))}
TARGET=${TESSERA_CRASH_TARGET:-store}
SIZE=32M
OBJ=1M

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tessera-crash.XXXXXX") || exit 1
STORE=$TMP/store
ACK=$TMP/acks
WPID=
cleanup() {
	if [[ -n $WPID ]]; then
		kill -KILL "$WPID" 2>/dev/null
		wait "$WPID" 2>/dev/null
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
	echo "crash_store: FAIL (round $round, seed $SEED): $*" >&2
	for f in "$TMP"/writer.log "$TMP"/check.log; do
		[[ -f $f ]] && { echo "--- $f (last 30 lines)" >&2; tail -n 30 "$f" >&2; }
	done
	exit 1
}

common=(--"$TARGET" "$STORE" --size "$SIZE" --quiet)
[[ $TARGET == store ]] && common+=(--object-size "$OBJ")

echo "crash_store: $ROUNDS rounds, seed $SEED, target $TARGET, temp dir $TMP"
RANDOM=$SEED
round=0
# Create (and format) the store once, outside the kill loop.
"$BENCH" "${common[@]}" --rw write --bs 4k --ios 1 --verify >"$TMP/format.log" 2>&1 ||
	fail "cannot create the store: $(cat "$TMP/format.log")"

total_acks=0
for ((round = 1; round <= ROUNDS; round++)); do
	before=$(stat -c %s "$ACK" 2>/dev/null || echo 0)
	dur=()
	[[ $TARGET == store ]] && { ((round % 2)) && dur=(--durability fua) || dur=(--durability batch); }
	"$BENCH" "${common[@]}" "${dur[@]}" --rw randwrite --bs 4k --bs-max 256k --iodepth 16 \
		--runtime 60 --verify --ack-log "$ACK" --seed $((SEED + round)) \
		>"$TMP/writer.log" 2>&1 &
	WPID=$!
	if ((round % 5 == 0)); then
		# Early kill: while the store opens (journal replay) or just after.
		sleep "0.0$((RANDOM % 10))"
	else
		# Wait for the first acknowledged write (bounded), then a random delay.
		for ((i = 0; i < 1000; i++)); do
			now=$(stat -c %s "$ACK" 2>/dev/null || echo 0)
			((now > before)) && break
			kill -0 "$WPID" 2>/dev/null || break
			sleep 0.01
		done
		kill -0 "$WPID" 2>/dev/null || { wait "$WPID"; fail "writer exited early (rc $?)"; }
		sleep "0.$((RANDOM % 400 + 10))"
	fi
	kill -KILL "$WPID" 2>/dev/null
	wait "$WPID" 2>/dev/null
	rc=$?
	WPID=
	# 137: killed. Anything else: the writer stopped by itself (error).
	((rc == 137)) || fail "writer exited with rc $rc before the kill"
	after=$(stat -c %s "$ACK" 2>/dev/null || echo 0)
	acks=$(((after - before) / 32))
	total_acks=$((total_acks + acks))
	if ! "$BENCH" "${common[@]}" --check-log "$ACK" >"$TMP/check.log" 2>&1; then
		fail "check after the kill failed"
	fi
	echo "crash_store: round $round ok ($acks writes acknowledged before the kill${dur[1]:+, ${dur[1]}})"
done
echo "crash_store: PASS: $ROUNDS rounds, $total_acks acknowledged writes checked (seed $SEED)"
