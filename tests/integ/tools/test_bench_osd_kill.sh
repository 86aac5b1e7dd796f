#!/usr/bin/env bash
# tessera-bench --volume --verify (20 s of verified random writes and reads at
# QD8 over 2 jobs) while one OSD is killed with SIGKILL and brought back with
# `local-cluster.sh up`: the run ends with exit 0, no I/O error and no
# verification error, and the read-back pass checks the whole volume.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../deploy/lc_lib.sh"
lc_init bench_osd_kill
lc_up --size 512M
osdctl volume create bk 128M >/dev/null || tsr_fail "create"

tsr_log "bench: 20 s randrw with --verify"
tessera-bench --volume bk --rw randrw --bs 4K --bs-max 64K --iodepth 8 --jobs 2 --runtime 20 \
	--verify --json >"$TSR_DIR/bench.json" 2>"$TSR_DIR/bench.err" &
tsr_track bench $!
TSR_LOGS[bench]=$TSR_DIR/bench.err
# Let it run a while (pacing, not an assertion), then crash one OSD.
tsr_wait_for 60 "the bench is running" -- grep -q "run " "$TSR_DIR/bench.err"
sleep 3
victim=$(lc_pid osd2)
tsr_log "kill -9 osd2 (pid $victim)"
kill -KILL "$victim"
tsr_wait_for 60 "osd2 marked down" -- bash -c "osdctl osd ls | awk '\$2 == \"host2\" && \$3 == \"down\"' | grep -q ."
tsr_log "restart it with local-cluster.sh up"
lc_up
tsr_log "up again; waiting for the bench to finish"
tsr_stop bench 0 120
rc=$?
cat "$TSR_DIR/bench.json" >&2
[ "$rc" = 0 ] || tsr_fail "tessera-bench exited $rc (1: I/O error, 3: verification failed)"
grep -q '"exit_code": 0' "$TSR_DIR/bench.json" || tsr_fail "JSON exit_code is not 0"
vb=$(grep -o '"verified_blocks": [0-9]*' "$TSR_DIR/bench.json" | head -n1 | grep -o '[0-9]*$')
[ "${vb:-0}" -gt 0 ] || tsr_fail "no block was verified"
grep -q "resends" "$TSR_DIR/bench.json" && tsr_log "$(grep -o '[0-9]* resends[^"]*' "$TSR_DIR/bench.json")"
lc_down
tsr_pass
