#!/usr/bin/env bash
# Corruption test of libstore's data checksums: write self-describing blocks
# through tessera-bench --store, close the store, flip a byte inside one data
# block on disk (found by its self-describing header), then read it through
# libstore: the read must fail with libstore's checksum error (tessera-bench
# exit 1, "Input/output error" from the target), never return the bad data
# (which would be exit 3, a verify mismatch) or succeed.
#
# Usage: corrupt_store.sh TESSERA_BENCH BENCH_CORRUPT
set -u
BENCH=${1:?usage: corrupt_store.sh TESSERA_BENCH BENCH_CORRUPT}
CORRUPT=${2:?usage: corrupt_store.sh TESSERA_BENCH BENCH_CORRUPT}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tessera-corrupt.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
STORE=$TMP/store
common=(--store "$STORE" --size 8M --object-size 1M --quiet)

fail() {
	echo "corrupt_store: FAIL: $*" >&2
	for f in "$TMP"/*.log; do echo "--- $f" >&2; cat "$f" >&2; done
	exit 1
}

for bs in 128k 4k; do
	rm -f "$STORE"
	# Write the whole working set once (small writes go through the journal,
	# large ones redirect-on-write into the data area).
	n=$(( 8 * 1024 / ${bs%k} ))
	"$BENCH" "${common[@]}" --rw write --bs "$bs" --ios "$n" --verify >"$TMP/write.log" 2>&1 ||
		fail "bs $bs: writing failed"
	# A clean read-back passes.
	"$BENCH" "${common[@]}" --rw read --bs 128k --ios 64 --verify >"$TMP/read0.log" 2>&1 ||
		fail "bs $bs: clean read-back failed"
	# Damage linear offset 3 MiB + 8 KiB (object 3, block 2).
	"$CORRUPT" "$STORE" $((3 * 1048576 + 8192)) >"$TMP/corrupt.log" 2>&1 ||
		fail "bs $bs: bench_corrupt found no copy of the block"
	"$BENCH" "${common[@]}" --rw read --bs 128k --ios 64 >"$TMP/read.log" 2>&1
	rc=$?
	((rc == 1)) || fail "bs $bs: read of a corrupt block: exit $rc, want 1 (I/O error)"
	grep -q "offset 3145728.*Input/output error\|offset 3145728.*checksum" "$TMP/read.log" ||
		fail "bs $bs: no checksum/I/O error message for offset 3145728"
	grep -q "csum_errors [1-9]" "$TMP/read.log" ||
		fail "bs $bs: libstore did not count a checksum error"
	# The other objects still read fine.
	"$BENCH" "${common[@]}" --rw read --bs 128k --ios 24 >"$TMP/read2.log" 2>&1 ||
		fail "bs $bs: objects 0-2 no longer read"
	echo "corrupt_store: bs $bs: checksum error reported: $(grep -o 'read at offset[^;]*' "$TMP/read.log" | head -1)"
done
echo "corrupt_store: PASS"
