#!/usr/bin/env bash
# Smoke test of tessera-bench (ctest bench_store_smoke, label bench): the file
# and store targets with --verify, several jobs, random sizes crossing objects;
# the JSON keys the docs promise; bad input gives exit 2 and a message.
#
# Usage: smoke.sh TESSERA_BENCH [store]   ("store": also run the libstore target)
set -u
BENCH=${1:?usage: smoke.sh TESSERA_BENCH [store]}
WITH_STORE=${2:-}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tessera-bench-smoke.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT

fail() {
	echo "bench smoke: FAIL: $*" >&2
	[[ -f $TMP/out ]] && cat "$TMP/out" >&2
	[[ -f $TMP/err ]] && cat "$TMP/err" >&2
	exit 1
}
run() { # expected exit code, args...
	local want=$1
	shift
	"$BENCH" "$@" >"$TMP/out" 2>"$TMP/err"
	local rc=$?
	((rc == want)) || fail "exit $rc, want $want: tessera-bench $*"
}
json_keys() {
	for k in '"iops"' '"bw_mbps"' '"lat_us"' '"mean"' '"p50"' '"p99"' '"p999"' '"cpu_us_per_io"'; do
		grep -q "$k" "$TMP/out" || fail "no $k in the JSON output"
	done
	grep -q '"exit_code": 0' "$TMP/out" || fail "JSON exit_code is not 0"
}

run 0 --file "$TMP/f" --size 16M --jobs 2 --rw randrw --bs 4k --bs-max 64k --iodepth 8 \
	--ios 1500 --verify --json --quiet
json_keys
grep -q '"verified_blocks": [1-9]' "$TMP/out" || fail "file: nothing verified"
run 0 --file "$TMP/f" --size 16M --rw read --bs 128k --ios 128 --quiet
grep -q "read :" "$TMP/out" || fail "no human summary"
echo "bench smoke: file target ok"

if [[ $WITH_STORE == store ]]; then
	run 0 --store "$TMP/s" --size 16M --jobs 2 --object-size 1M --rw randrw --bs 4k \
		--bs-max 256k --iodepth 8 --ios 1500 --verify --json --quiet
	json_keys
	grep -q '"verified_blocks": [1-9]' "$TMP/out" || fail "store: nothing verified"
	# Reopen the existing store (derives the layout from --size/--jobs/--object-size).
	run 0 --store "$TMP/s" --size 16M --jobs 2 --object-size 1M --rw randread --ios 500 \
		--iodepth 4 --verify --quiet
	# A plain file is not a store: a clear error, not a crash.
	run 2 --store "$TMP/f" --size 16M --rw read --ios 1
	grep -q "needs a .*-byte store" "$TMP/err" || fail "no message for a small non-store file"
	run 0 --file "$TMP/g" --size 100M --rw write --bs 1M --ios 4 --quiet
	run 2 --store "$TMP/g" --size 16M --rw read --ios 1
	grep -q "cannot open store target" "$TMP/err" || fail "no message for a non-store file"
	echo "bench smoke: store target ok"
fi

run 2 --file "$TMP/f" --bs 3k
grep -q "out of range" "$TMP/err" || fail "no message for --bs 3k"
run 2 --file "$TMP/f" --store "$TMP/s"
run 2 --file "$TMP/f" --runtime soon
run 2 --file "$TMP/f" --check-log "$TMP/missing"
run 2 --file "$TMP/nonexistent"
grep -q "give --size" "$TMP/err" || fail "no message for a missing file without --size"
run 0 --help
grep -q -- "--iodepth" "$TMP/out" || fail "--help lacks --iodepth"
echo "bench smoke: PASS"
