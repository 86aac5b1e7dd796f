#!/usr/bin/env bash
# bench_iscsi_smoke: tessera-iscsi-bench against tessera-iscsi on a RAM LUN,
# one second of verified random writes then reads. Proves the tool works;
# the numbers go to docs/perf.md, never into assertions.
. "$(dirname "$0")/../../integ/lib.sh"
tsr_init iscsi-bench-smoke
command -v iscsi-inq >/dev/null || { echo "libiscsi-bin is not installed: skipped"; exit 0; }
BENCH="$TSR_BIN/tessera-iscsi-bench"
port=$(tsr_free_port)
tsr_start iscsi "$TSR_BIN/tessera-iscsi" --portal "127.0.0.1:$port" \
	--target iqn.2026-11.io.tessera:bench --ram-lun 1:64M
tsr_wait_port 127.0.0.1 "$port" 20 iscsi
U="iscsi://127.0.0.1:$port/iqn.2026-11.io.tessera:bench/1"
pid=$(tsr_pid iscsi)
"$BENCH" --rw randwrite --qd 8 --time 1 --warmup 0.2 --verify --pid "$pid" --label ram "$U" ||
	tsr_fail "randwrite --verify"
"$BENCH" --rw randread --qd 8 --time 1 --warmup 0.2 --pid "$pid" --label ram --json "$U" |
	grep -q '"errors":0' || tsr_fail "randread"
tsr_pass
