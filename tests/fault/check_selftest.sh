#!/usr/bin/env bash
# Self-test of the crash test's checker (tessera-bench --check-log) on a plain
# file: it must pass an intact image, and catch a stale block (an
# acknowledged write rolled back), a torn unacknowledged write and a flipped
# bit. Without this, a checker that accepts everything would pass the crash test.
#
# Usage: check_selftest.sh TESSERA_BENCH BENCH_CORRUPT
set -u
BENCH=${1:?usage: check_selftest.sh TESSERA_BENCH BENCH_CORRUPT}
CORRUPT=${2:?usage: check_selftest.sh TESSERA_BENCH BENCH_CORRUPT}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tessera-checktest.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
F=$TMP/img
A=$TMP/acks
common=(--file "$F" --size 8M --quiet)

fail() {
	echo "check_selftest: FAIL: $*" >&2
	[[ -f $TMP/out ]] && cat "$TMP/out" >&2
	exit 1
}
# expect_fail PATTERN: the check must exit 3 and print PATTERN
expect_fail() {
	"$BENCH" "${common[@]}" --check-log "$A" --atomic-size 1M >"$TMP/out" 2>&1
	local rc=$?
	((rc == 3)) || fail "$1: check exited $rc, want 3"
	grep -q "$2" "$TMP/out" || fail "$1: no '$2' in the check output"
	echo "check_selftest: $1 detected"
}

# 1. Intact image: passes.
"$BENCH" "${common[@]}" --rw randwrite --bs 16k --bs-max 64k --ios 1500 --verify \
	--ack-log "$A" >"$TMP/out" 2>&1 || fail "writer failed"
"$BENCH" "${common[@]}" --check-log "$A" --atomic-size 1M >"$TMP/out" 2>&1 ||
	fail "intact image rejected"
echo "check_selftest: intact image accepted"

# 2. Stale: more acknowledged writes, then the image rolled back.
cp "$F" "$TMP/img.old"
"$BENCH" "${common[@]}" --rw randwrite --bs 16k --bs-max 64k --ios 50 --verify \
	--ack-log "$A" --seed 2 >"$TMP/out" 2>&1 || fail "second writer failed"
cp "$TMP/img.old" "$F"
expect_fail "rolled-back acknowledged write" "stale data"

# 3. Torn: forget the newest write's ack (it becomes unacknowledged, which is
#    allowed) and zero its last block (which is not: a partial write).
rm -f "$F" "$A"
"$BENCH" "${common[@]}" --rw randwrite --bs 16k --bs-max 64k --ios 300 --verify \
	--ack-log "$A" --seed 3 >"$TMP/out" 2>&1 || fail "third writer failed"
size=$(stat -c %s "$A")
read -r off len < <(od -An -t u8 -j $((size - 16)) -N 16 "$A" | awk '{print $1, $2}')
len=$((len & 0xffffffff))
truncate -s $((size - 32)) "$A"
"$BENCH" "${common[@]}" --check-log "$A" --atomic-size 1M >"$TMP/out" 2>&1 ||
	fail "an unacknowledged complete write was rejected"
"$CORRUPT" "$F" $((off + len - 4096)) --zero >/dev/null || fail "bench_corrupt --zero"
# Only a torn write if the write does not cross a 1M boundary before its last block.
if (((off / 1048576) == ((off + len - 1) / 1048576))); then
	expect_fail "torn unacknowledged write" "torn write"
else
	expect_fail "torn unacknowledged write" "check failed\|torn write"
fi

# 4. A flipped bit.
"$CORRUPT" "$F" "$off" >/dev/null || fail "bench_corrupt"
expect_fail "flipped bit" "checksum mismatch"
echo "check_selftest: PASS"
