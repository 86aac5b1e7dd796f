#!/usr/bin/env bash
# osdctl volume commands: the normal path (create, ls, info, resize, rename,
# rm; plain and JSON) and the errors with osdctl's exit codes: 1 refused by
# the cluster (missing volume, name taken, shrink without --allow-shrink,
# remove while open), 2 usage (bad size, missing arguments, unknown
# subcommand), 3 no monitor reachable.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../deploy/lc_lib.sh"
lc_init volume_errors
lc_up --size 256M

expect() { # CODE DESC osdctl-args...
	local want=$1 what=$2 rc
	shift 2
	osdctl "$@" >"$TSR_DIR/out" 2>"$TSR_DIR/err"
	rc=$?
	[ "$rc" = "$want" ] || { cat "$TSR_DIR/out" "$TSR_DIR/err" >&2; tsr_fail "$what: osdctl $* exited $rc, want $want"; }
}

tsr_log "normal path"
expect 0 create volume create v1 1G
grep -q "created volume v1" "$TSR_DIR/out" || tsr_fail "create output"
expect 0 "create 512M with 1M objects" volume create v2 512M --object-size 1M
expect 0 ls volume ls
grep -q "^v1 " "$TSR_DIR/out" && grep -q "^v2 " "$TSR_DIR/out" || tsr_fail "ls misses a volume"
expect 0 "ls json" -f json volume ls
grep -q '"name":"v2".*"size":536870912,"object_size":1048576' "$TSR_DIR/out" || tsr_fail "ls json: $(cat "$TSR_DIR/out")"
expect 0 info volume info v1
grep -q "1 GiB" "$TSR_DIR/out" || tsr_fail "info size"
expect 0 grow volume resize v1 2G
expect 0 "info json" -f json volume info v1
grep -q '"size":2147483648' "$TSR_DIR/out" || tsr_fail "resize did not grow"
expect 0 shrink volume resize v1 1G --allow-shrink
expect 0 rename volume rename v2 v3
expect 0 "info renamed" volume info v3

tsr_log "refused by the cluster: exit 1"
expect 1 "missing volume" volume info nosuch
grep -q "no such volume" "$TSR_DIR/err" || tsr_fail "missing volume message: $(cat "$TSR_DIR/err")"
expect 1 "rm missing" volume rm nosuch
expect 1 "resize missing" volume resize nosuch 1G
expect 1 "existing name" volume create v1 1G
grep -q "exists" "$TSR_DIR/err" || tsr_fail "existing name message"
expect 1 "rename onto existing" volume rename v1 v3
expect 1 "shrink without --allow-shrink" volume resize v1 512M
grep -q "allow-shrink" "$TSR_DIR/err" || tsr_fail "shrink message"
expect 1 "missing pool" volume create v9 1G --pool nosuchpool
expect 1 "export missing" volume export nosuch "$TSR_DIR/x.img"
[ -e "$TSR_DIR/x.img" ] && tsr_fail "a failed export left a file"
expect 1 "import missing file" volume import "$TSR_DIR/nofile" v9
expect 1 "import into missing --existing" volume import /dev/null v9 --existing

tsr_log "remove while open: refused"
# Wait for the bench's first progress line (it has the volume open and is
# writing) rather than probing with "rm": a probe that ran before the open
# would remove the volume.
# (--runtime is only a bound: it is stopped with SIGINT once checked; the EXIT
# trap ends it if the test fails first.)
tessera-bench --volume v3 --rw randwrite --runtime 300 >/dev/null 2>"$TSR_DIR/bench.err" &
tsr_track bench $!
TSR_LOGS[bench]=$TSR_DIR/bench.err
tsr_wait_for 60 "v3 opened by the bench" -- grep -q "IOPS" "$TSR_DIR/bench.err"
expect 1 "rm open volume" volume rm v3
tsr_stop bench INT 60
expect 0 "rm after close" volume rm v3

tsr_log "usage: exit 2"
expect 2 "bad size" volume create v9 12Q
grep -q "invalid size" "$TSR_DIR/err" || tsr_fail "bad size message"
expect 2 "unaligned size" volume create v9 1000
expect 2 "negative size" volume resize v1 -5
expect 2 "bad object size" volume create v9 1G --object-size 3M
expect 2 "missing size" volume create v9
expect 2 "extra argument" volume info v1 v2
expect 2 "unknown subcommand" volume frob
expect 2 "unknown option" volume ls --frob

tsr_log "unreachable cluster: exit 3, bounded"
port=$(tsr_free_port)
start=$(date +%s)
expect 3 "unreachable" -m "127.0.0.1:$port" --timeout 2s volume ls
[ $(( $(date +%s) - start )) -le 10 ] || tsr_fail "unreachable took more than 10 s"
lc_down
tsr_pass
