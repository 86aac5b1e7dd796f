#!/usr/bin/env bash
# Smoke test of tessera-bench --volume (ctest bench_volume_smoke, label bench):
# a local cluster (deploy/local-cluster.sh), a volume the bench creates with
# --size, verified random writes, several jobs with random sizes crossing
# objects, the JSON keys the docs promise, and bad input giving exit 2.
set -u
src=${TSR_SRC:-$(cd "$(dirname "$0")/../../.." && pwd)}
. "$src/tests/integ/lib.sh"
. "$src/tests/integ/deploy/lc_lib.sh"
lc_init bench_volume_smoke

lc_up --size 512M
out=$TSR_DIR/out
run() { # expected exit code, args...
	local want=$1 rc
	shift
	tessera-bench "$@" >"$out" 2>"$out.err"
	rc=$?
	[ "$rc" = "$want" ] || { cat "$out" "$out.err" >&2; tsr_fail "exit $rc, want $want: tessera-bench $*"; }
}

tsr_log "a new 64 MiB volume (64 KiB objects), verified random writes at QD8"
run 0 --volume smoke --size 64M --object-size 64K --rw randwrite --iodepth 8 --runtime 2 --verify --quiet
grep -q "verify:" "$out" || tsr_fail "no verify line"
grep -q "64 MiB" < <(osdctl volume info smoke) || tsr_fail "the bench did not create a 64 MiB volume"

tsr_log "two jobs, randrw, 4K..256K (crossing objects), verified, JSON"
run 0 --volume smoke --jobs 2 --rw randrw --bs 4K --bs-max 256K --iodepth 4 --runtime 2 --verify --json --quiet
for k in '"iops"' '"lat_us"' '"p50"' '"p99"' '"cpu_us_per_io"' '"verified_blocks"'; do
	grep -q "$k" "$out" || tsr_fail "no $k in the JSON output"
done
grep -q '"exit_code": 0' "$out" || tsr_fail "JSON exit_code is not 0"
grep -q '"target": "volume"' "$out" || tsr_fail "JSON target is not volume"

tsr_log "osdctl bench passes its options through"
osdctl bench smoke --rw randread --iodepth 2 --runtime 1 --quiet >"$out" 2>&1 || tsr_fail "osdctl bench"
grep -q "read :" "$out" || tsr_fail "osdctl bench printed no read summary"

tsr_log "bad input"
run 2 --volume missing --runtime 1
grep -q "osdctl volume create" "$out.err" || tsr_fail "no hint for a missing volume"
run 2 --volume smoke --size 1G --runtime 1
(unset TESSERA_MON; run 2 --volume smoke --runtime 1) || exit 1
run 2 --volume smoke --mon 127.0.0.1:notaport --runtime 1
lc_down
tsr_pass
