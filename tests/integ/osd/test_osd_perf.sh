#!/usr/bin/env bash
# Per-reactor statistics: after a known load (N 4 KiB writes and N reads, all
# succeeding, on a pool of size 3), `osdctl osd perf` shows, summed over the
# OSDs, exactly N client writes of N*4 KiB, N client reads and 2N replica ops;
# every histogram's counts add up to its op count, the per-reactor counters
# add up to each OSD's total, percentiles are ordered, and the human table
# and the one-OSD form work; an unknown OSD is refused.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/osd_lib.sh"
tsr_init osd-perf
osd_need_cli
command -v jq >/dev/null || tsr_fail "jq is needed (scripts/install-deps.sh)"

NPG=8
OSD_ARGS=(--size 128M --cores 2 --io-buffers 32 --max-io 256K --scrub-interval 0)
osd_start_mon --osd-grace 3s --osd-heartbeat-interval 200ms
osd_start_cluster 3
osd_pool_create 3 2
tsr_wait_for 60 "HEALTH_OK" -- health_ok

N=300
"$CLI" bench --mon "$MONADDR" --pool rbd --objects $N >&2 || tsr_fail "bench"

perf() {
	"$OSDCTL" -m "$MONADDR" --timeout 5s --format json osd perf "$@"
}
# Sum of one class's field over every OSD's total.
sum_of() {
	jq "[.osds[].total.$1.$2] | add" "$TSR_DIR/perf.json"
}
reported() {
	perf >"$TSR_DIR/perf.json" 2>/dev/null || return 1
	[ "$(jq '[.osds[] | select(.reported)] | length' "$TSR_DIR/perf.json")" = 3 ] &&
		[ "$(sum_of read ops)" = "$N" ] && [ "$(sum_of replica ops)" = $((2 * N)) ]
}
tsr_wait_for 60 "heartbeats carrying the whole load" -- reported
jq -c '.osds[] | {id, total: {read: .total.read.ops, write: .total.write.ops,
	replica: .total.replica.ops, other: .total.other.ops}}' "$TSR_DIR/perf.json" >&2

tsr_assert_eq "$(sum_of write ops)" "$N" "client writes counted"
tsr_assert_eq "$(sum_of write bytes)" "$((N * 4096))" "client write bytes"
tsr_assert_eq "$(sum_of read bytes)" "$((N * 4096))" "client read bytes"
tsr_assert_eq "$(sum_of replica bytes)" "$((2 * N * 4096))" "replica bytes"
tsr_assert_eq "$(jq '[.osds[].total[]? | objects | .errors] | add' "$TSR_DIR/perf.json")" 0 \
	"errors"

# Every histogram (reactors and totals) adds up to its op count.
bad=$(jq '[.osds[] | (.reactors[], .total) | to_entries[] | select(.value | type == "object")
	| .value | select(((.lat_hist | map(.[1]) | add) // 0) != .ops)] | length' \
	"$TSR_DIR/perf.json")
tsr_assert_eq "$bad" 0 "histograms whose counts differ from their op count"
# The reactors of each OSD add up to its total.
bad=$(jq '[.osds[] | . as $o | ("read","write","replica","other") as $c
	| select(([$o.reactors[][$c].ops] | add) != $o.total[$c].ops)] | length' \
	"$TSR_DIR/perf.json")
tsr_assert_eq "$bad" 0 "OSDs whose reactors do not add up to the total"
# Percentiles are ordered and non-zero where ops ran.
bad=$(jq '[.osds[].total | to_entries[] | select(.value | type == "object") | .value
	| select(.ops > 0) | select(.lat_p50_us > .lat_p99_us or .lat_p99_us > .lat_p999_us
	or .lat_p999_us == 0 or .lat_mean_us == 0)] | length' "$TSR_DIR/perf.json")
tsr_assert_eq "$bad" 0 "classes with unordered or zero percentiles"
# Queue depth fields are present for every reactor.
tsr_assert_eq "$(jq '[.osds[].reactors[] | select(.inflight == null or .inflight_max == null)]
	| length' "$TSR_DIR/perf.json")" 0 "reactors without queue depth"
tsr_assert_eq "$(jq '[.osds[].reactors[]] | length' "$TSR_DIR/perf.json")" 6 "reactors reported"

# Human table and the one-OSD form.
"$OSDCTL" -m "$MONADDR" osd perf >"$TSR_DIR/perf.txt" || tsr_fail "osd perf (plain)"
cat "$TSR_DIR/perf.txt" >&2
grep -q "^OSD .*P50_US .*P99_US .*P999_US" "$TSR_DIR/perf.txt" || tsr_fail "no table header"
grep -Eq "^osd\.[0-9]+ +all +.* write " "$TSR_DIR/perf.txt" || tsr_fail "no write total line"
one=$(perf 1 | jq '.osds | length') || tsr_fail "osd perf 1"
tsr_assert_eq "$one" 1 "osd perf 1 shows one OSD"
if "$OSDCTL" -m "$MONADDR" --timeout 5s osd perf 99 2>"$TSR_DIR/perf.err"; then
	tsr_fail "osd perf of an unknown OSD succeeded"
fi
grep -q "does not exist" "$TSR_DIR/perf.err" || tsr_fail "no clear error for osd 99"

osd_stop_all
tsr_pass
