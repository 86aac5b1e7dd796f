#!/usr/bin/env bash
# tessera-iscsi on a real cluster (a monitor and one OSD): discovery with an
# ACL-filtered SendTargets, INQUIRY and READ CAPACITY of a volume, reads and
# writes through libiscsi (iscsi-test-cu Read10/Write10/CompareAndWrite with
# header and data digests), CHAP (right and wrong secrets, mutual), an ACL
# refusal, a malformed PDU that closes only its own connection, a connection
# dropped with 32 writes in flight, the CAPACITY
# DATA HAS CHANGED unit attention of a live resize, a SIGHUP reload that
# changes the CHAP secret, NOP-In keepalive, and a clean SIGTERM.
. "$(dirname "$0")/iscsi_lib.sh"
tsr_init iscsi

UA_CHECK="${TSR_ISCSI_UA_CHECK:-$(dirname "$TSR_BIN")/tests/integ/iscsi/tessera-iscsi-ua-check}"
[ -x "$UA_CHECK" ] || tsr_fail "helper not found at $UA_CHECK"

iscsi_cluster_up
"$OSDCTL" -m "$MONADDR" volume create vol1 64M >/dev/null || tsr_fail "volume create vol1"
"$OSDCTL" -m "$MONADDR" volume create vol2 16M >/dev/null || tsr_fail "volume create vol2"

GOOD=iqn.2026-11.io.tessera:good-host
cat >"$TSR_DIR/iscsi.conf" <<CONF
# secrets live in the config file, not on the command line
chap = alice:alice-secret-1@$IQN2
mutual-chap = target2:target-secret-2@$IQN2
acl = $GOOD@$IQN2
CONF
iscsi_start iscsi --mon "$MONADDR" --target "$IQN1" --target "$IQN2" --lun 1:vol1 \
	--lun "0:vol2@$IQN2" --config "$TSR_DIR/iscsi.conf" --digest crc32c
U1="iscsi://127.0.0.1:$PORT/$IQN1/1"

# Discovery: the ACL hides the secure target from other initiators.
out=$(iscsi-ls "iscsi://127.0.0.1:$PORT") || tsr_fail "iscsi-ls"
grep -q "$IQN1" <<<"$out" || tsr_fail "discovery does not list $IQN1: $out"
grep -q "$IQN2" <<<"$out" && tsr_fail "discovery lists $IQN2 to an initiator outside its ACL"
out=$(iscsi-ls -i "$GOOD" "iscsi://127.0.0.1:$PORT") || tsr_fail "iscsi-ls as $GOOD"
grep -q "$IQN2" <<<"$out" || tsr_fail "discovery hides $IQN2 from $GOOD: $out"

# Output captured first: under pipefail, grep -q ending a pipe early can fail it.
out=$(iscsi-inq "$U1") || tsr_fail "INQUIRY"
grep -q "Vendor:TESSERA" <<<"$out" || tsr_fail "INQUIRY: $out"
out=$(iscsi-readcapacity16 "$U1") || tsr_fail "READ CAPACITY(16) of vol1"
grep -q "Total size:67108864" <<<"$out" || tsr_fail "READ CAPACITY(16) of vol1: $out"

cd "$TSR_DIR" || exit 1
iscsi-test-cu --dataloss -x -t ALL.Read10,ALL.Write10,ALL.CompareAndWrite,ALL.Unmap "$U1" \
	>"$TSR_DIR/cu.out" 2>&1 || true
fails=$(cu_failures "$TSR_DIR")
[ -z "$fails" ] || tsr_fail "iscsi-test-cu failures: $fails"
tsr_log "iscsi-test-cu (digests on): $(cu_summary "$TSR_DIR")"

# CHAP and ACL.
U2="127.0.0.1:$PORT/$IQN2/0"
iscsi-inq -i "$GOOD" "iscsi://alice%alice-secret-1@$U2" >/dev/null || tsr_fail "CHAP login"
if iscsi-inq -i "$GOOD" "iscsi://alice%wrong-secret-1@$U2" >/dev/null 2>&1; then
	tsr_fail "CHAP login with a wrong secret was accepted"
fi
if iscsi-inq -i "$GOOD" "iscsi://$U2" >/dev/null 2>&1; then
	tsr_fail "login without CHAP was accepted"
fi
if iscsi-inq -i iqn.2026-11.io.tessera:other "iscsi://alice%alice-secret-1@$U2" >/dev/null 2>&1
then
	tsr_fail "an initiator outside the ACL logged in"
fi
# The log is written by a logger thread: wait for the line, the initiator may
# have exited before it reached the file.
tsr_wait_for 30 "ACL refusal logged" -- grep -q "refused (status 0x0202)" "$TSR_DIR/iscsi.log"
LIBISCSI_CHAP_TARGET_USERNAME=target2 LIBISCSI_CHAP_TARGET_PASSWORD=target-secret-2 \
	iscsi-inq -i "$GOOD" "iscsi://alice%alice-secret-1@$U2" >/dev/null ||
	tsr_fail "mutual CHAP login"
if LIBISCSI_CHAP_TARGET_USERNAME=target2 LIBISCSI_CHAP_TARGET_PASSWORD=not-the-secret \
	iscsi-inq -i "$GOOD" "iscsi://alice%alice-secret-1@$U2" >/dev/null 2>&1; then
	tsr_fail "mutual CHAP accepted a target that does not know the secret"
fi

# A malformed PDU (reserved opcode, bad lengths) closes only its connection.
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
printf '\xbf\xff\xff\xff\xff\xff\xff\xff%040d' 0 >&3
timeout 5 cat <&3 >/dev/null || true
exec 3>&-
tsr_wait_for 10 "malformed PDU logged" -- grep -q "malformed PDU" "$TSR_DIR/iscsi.log"
tsr_is_running iscsi || tsr_fail "tessera-iscsi died on a malformed PDU"
iscsi-inq "$U1" >/dev/null || tsr_fail "INQUIRY after the malformed PDU"

# A connection dropped with 32 writes in flight: the target frees it once
# libtessera has finished them, and serves the next session.
"$TSR_BIN/tessera-iscsi-bench" --rw randwrite --qd 32 --time 30 --warmup 0 "$U1" \
	>"$TSR_DIR/bench.out" 2>&1 &
bench_pid=$!
tsr_wait_for 20 "bench session" -- grep -q "session of 'iqn.2026-11.io.tessera:bench'" \
	"$TSR_DIR/iscsi.log"
# The bench's connection, by its address in the session line; wait for that
# connection's close (not a count of closes: the close may already be logged
# by the time we look, on a slow machine).
peer=$(grep -oE "[0-9.]+:[0-9]+: normal session of 'iqn.2026-11.io.tessera:bench'" \
	"$TSR_DIR/iscsi.log" | tail -n1 | cut -d' ' -f1)
[ -n "$peer" ] || tsr_fail "no bench session line"
kill -KILL "$bench_pid" 2>/dev/null || true
wait "$bench_pid" 2>/dev/null || true
tsr_wait_for 20 "dropped connection closed" -- grep -qF "$peer closing connection" "$TSR_DIR/iscsi.log"
tsr_is_running iscsi || tsr_fail "tessera-iscsi died when a busy connection dropped"
iscsi-inq "$U1" >/dev/null || tsr_fail "INQUIRY after a dropped busy connection"

# Resize under a live session: unit attention, then the new capacity.
"$UA_CHECK" "$U1" 67108864 134217728 "$OSDCTL" -m "$MONADDR" volume resize vol1 128M ||
	tsr_fail "resize unit attention"

# SIGHUP: a new CHAP secret applies to new logins.
sed -i 's/alice-secret-1/alice-secret-NEW/' "$TSR_DIR/iscsi.conf"
kill -HUP "$(tsr_pid iscsi)"
tsr_wait_for 10 "reload logged" -- grep -q "reloaded:" "$TSR_DIR/iscsi.log"
iscsi-inq -i "$GOOD" "iscsi://alice%alice-secret-NEW@$U2" >/dev/null || tsr_fail "new secret"
if iscsi-inq -i "$GOOD" "iscsi://alice%alice-secret-1@$U2" >/dev/null 2>&1; then
	tsr_fail "the old CHAP secret still works after the reload"
fi
iscsi-inq "$U1" >/dev/null || tsr_fail "unchanged target after the reload"

# NOP-In keepalive: pings after an idle second; an unanswered ping closes.
iscsi_start nop --target "$IQN1" --ram-lun 1:16M --nop-interval 1s --nop-timeout 1500ms
python3 "$(dirname "$0")/nop_check.py" "$PORT" "$IQN1" answer 3.5 ||
	tsr_fail "answered NOP-In pings: connection not kept"
python3 "$(dirname "$0")/nop_check.py" "$PORT" "$IQN1" ignore 8 ||
	tsr_fail "unanswered NOP-In ping: connection not closed"
tsr_wait_for 30 "keepalive close logged" -- grep -q "NOP-In ping unanswered" "$TSR_DIR/nop.log"
tsr_stop nop TERM 20 || tsr_fail "keepalive target did not exit cleanly"

tsr_stop iscsi TERM 20 || tsr_fail "tessera-iscsi did not exit cleanly (status $?)"
grep -q "stopped cleanly" "$TSR_DIR/iscsi.log" || tsr_fail "no clean stop logged"
tsr_pass
