#!/usr/bin/env bash
# timeout: 120
# Three monitors, no OSDs (size-0 volumes: nothing to delete). A client with a
# volume open; the leader is killed with SIGKILL; the client's next call goes
# through once a new leader is elected, its handle follows the rename, and
# its watch is re-registered with the new leader: another handle's remove is
# refused with EBUSY until the volume is closed.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../mon/mon_lib.sh"
tsr_init client-ctl-failover

CTL="${TSR_CLIENT_TESTS:?}/ctl_api"
declare -a P
for i in 1 2 3; do P[$i]=$(tsr_free_port); done
PEERS="1=127.0.0.1:${P[1]},2=127.0.0.1:${P[2]},3=127.0.0.1:${P[3]}"
ALL="127.0.0.1:${P[1]},127.0.0.1:${P[2]},127.0.0.1:${P[3]}"
for i in 1 2 3; do
	start_mon "mon$i" "$i" "${P[$i]}" "$TSR_DIR/mon$i" --peers "$PEERS" \
		--election-timeout 500ms --raft-heartbeat 50ms
done
has_quorum3() {
	local j
	j=$("$OSDCTL" -m "$ALL" --timeout 2s status --format json) || return 1
	grep -q '"quorum":\[[0-9],[0-9],[0-9]\]' <<<"$j"
}
tsr_wait_for 60 "a leader with three monitors in quorum" -- has_quorum3
"$OSDCTL" -m "$ALL" pool create rbd --size 1 --min-size 1 --pg-count 8 || tsr_fail "pool create"
leader=$(leader_of "$ALL")
[ "$leader" -ge 1 ] || tsr_fail "no leader"
tsr_log "leader: mon.$leader"

mkfifo "$TSR_DIR/to" "$TSR_DIR/from"
timeout 150 "$CTL" failover "$ALL" <"$TSR_DIR/to" >"$TSR_DIR/from" 2>"$TSR_DIR/failover.err" &
tsr_track failover $!
exec 7>"$TSR_DIR/to" 8<"$TSR_DIR/from"
read -r -t 60 line <&8 || tsr_fail "ctl_api failover did not get ready"
[ "$line" = ready ] || tsr_fail "ctl_api failover said '$line'"
tsr_kill "mon$leader"
tsr_log "killed mon.$leader"
echo go >&7
read -r -t 90 line <&8
tsr_stop failover 0 30
rc=$?
exec 7>&- 8<&-
cat "$TSR_DIR/failover.err" >&2
[ "$rc" = 0 ] || tsr_fail "ctl_api failover exited $rc"
[ "$line" = PASS ] || tsr_fail "ctl_api failover said '$line'"
tsr_pass
