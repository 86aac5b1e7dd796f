#!/usr/bin/env bash
# timeout: 180
# libtessera's control API on a real cluster: one monitor, three OSDs on
# files, pool rbd (size 3, min_size 2). ctl_api runs every control call with
# its error cases: configuration errors, pools, volume create/list/info/
# rename/resize/remove, open handles and their watches, other processes that
# resize a volume, hold it open (remove answers EBUSY) or are killed while
# holding it (the monitor drops the watch with the connection). Then a
# connect to an address where nothing listens fails with ETIMEDOUT after
# connect_timeout (2 s), bounded here by `timeout` so that a hang fails.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../osd/osd_lib.sh"
tsr_init client-ctl-api

CTL="${TSR_CLIENT_TESTS:?}/ctl_api"
[ -x "$CTL" ] || tsr_fail "test program not found at $CTL"

NPG=16
OSD_ARGS=(--size 64M --cores 1 --io-buffers 32 --max-io 256K)
osd_start_mon
osd_cluster_ready

timeout 120 "$CTL" run "$MONADDR" >"$TSR_DIR/run.out" 2>"$TSR_DIR/run.err"
rc=$?
cat "$TSR_DIR/run.err" >&2
[ "$rc" = 0 ] || tsr_fail "ctl_api run exited $rc"
grep -qx PASS "$TSR_DIR/run.out" || tsr_fail "ctl_api run did not pass"
# The monitor logged nothing alarming about our clients' bytes.
grep -q "bad frame" "$TSR_DIR/mon.log" && tsr_fail "monitor saw bad frames"

# Unreachable cluster: a port nothing listens on.
dead=$(tsr_free_port)
timeout 20 "$CTL" unreachable "127.0.0.1:$dead" >"$TSR_DIR/unr.out" 2>"$TSR_DIR/unr.err"
rc=$?
cat "$TSR_DIR/unr.err" >&2
[ "$rc" = 124 ] && tsr_fail "tsr_cluster_connect hung on an unreachable cluster"
[ "$rc" = 0 ] || tsr_fail "ctl_api unreachable exited $rc"
tsr_pass
