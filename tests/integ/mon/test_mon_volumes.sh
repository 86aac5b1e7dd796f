#!/usr/bin/env bash
# One monitor, no OSDs: the volume RPCs on raw frames (mon_vol_raw): block-
# aligned sizes, shrink refused without allow_shrink, resize by volume id,
# volume watches (unknown id refused, remove EBUSY while watched from any
# connection, watch dropped with its connection).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/mon_lib.sh"
tsr_init mon-volumes

RAW="${TSR_MON_VOL_RAW:?}"
port=$(tsr_free_port)
M=127.0.0.1:$port
start_mon mon1 1 "$port" "$TSR_DIR/mon1"
tsr_wait_for 60 "mon.1 leads" -- bash -c "\"$OSDCTL\" -m $M --timeout 1s status >/dev/null"
"$OSDCTL" -m "$M" pool create rbd --size 1 --min-size 1 --pg-count 8 || tsr_fail "pool create"
timeout 60 "$RAW" 127.0.0.1 "$port" rbd || tsr_fail "mon_vol_raw failed"
tsr_assert "monitor died" -- tsr_is_running mon1
tsr_pass
