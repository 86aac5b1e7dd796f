#!/usr/bin/env bash
# Three monitors: a leader is elected; SIGKILL of the leader -> the other two
# elect a new one and accept map changes within a few seconds; the killed
# monitor restarts and catches up; no acknowledged change is lost.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/mon_lib.sh"
tsr_init mon-ha

declare -a P
# tsr_free_port checks (and reserves) the Raft port (+1000) too.
for i in 1 2 3; do P[$i]=$(tsr_free_port); done
PEERS="1=127.0.0.1:${P[1]},2=127.0.0.1:${P[2]},3=127.0.0.1:${P[3]}"
ALL="127.0.0.1:${P[1]},127.0.0.1:${P[2]},127.0.0.1:${P[3]}"
for i in 1 2 3; do
	start_mon "mon$i" "$i" "${P[$i]}" "$TSR_DIR/mon$i" --peers "$PEERS" \
		--election-timeout 500ms --raft-heartbeat 50ms --snapshot-threshold 16 \
		--snapshot-trailing 8
done

has_quorum3() {
	local j
	j=$("$OSDCTL" -m "$ALL" --timeout 2s status --format json) || return 1
	grep -q '"quorum":\[[0-9],[0-9],[0-9]\]' <<<"$j"
}
tsr_wait_for 60 "a leader with all three monitors in quorum" -- has_quorum3
leader=$(leader_of "$ALL")
tsr_log "leader: mon.$leader"
"$OSDCTL" -m "$ALL" mon ls

# Acknowledged changes (enough of them to cross the snapshot threshold).
for n in $(seq 1 20); do
	"$OSDCTL" -m "$ALL" pool create "p$n" --pg-count 8 --size 1 >/dev/null ||
		tsr_fail "pool create p$n"
done
epoch=$(json_num "$("$OSDCTL" -m "$ALL" status --format json)" epoch)
tsr_log "epoch $epoch before the kill"

# Kill the leader.
t0=$(date +%s%N)
tsr_kill "mon$leader"
others=""
for i in 1 2 3; do
	[ "$i" = "$leader" ] && continue
	others="${others:+$others,}127.0.0.1:${P[$i]}"
done
"$OSDCTL" -m "$others" --timeout 15s pool create after-failover --pg-count 8 --size 1 ||
	tsr_fail "no map change accepted after the leader died"
t1=$(date +%s%N)
new_leader=$(leader_of "$others")
tsr_log "MEASURED: mon.$new_leader took over and acknowledged a change $(( (t1 - t0) / 1000000 )) ms after SIGKILL of mon.$leader"
[ "$new_leader" != "$leader" ] && [ "$new_leader" != 0 ] || tsr_fail "bad new leader $new_leader"
[ $(( (t1 - t0) / 1000000 )) -le 10000 ] || tsr_fail "failover took more than 10 s"

pools=$("$OSDCTL" -m "$others" pool ls)
for n in $(seq 1 20); do
	grep -qw "p$n" <<<"$pools" || tsr_fail "acknowledged pool p$n lost after failover"
done

# Restart the killed monitor: it catches up (GetMap is served by any monitor).
start_mon "mon$leader" "$leader" "${P[$leader]}" "$TSR_DIR/mon$leader" --peers "$PEERS" \
	--election-timeout 500ms --raft-heartbeat 50ms --snapshot-threshold 16 \
	--snapshot-trailing 8
caught_up() {
	grep -q after-failover <<<"$("$OSDCTL" -m "127.0.0.1:${P[$leader]}" --timeout 1s debug get-map)"
}
tsr_wait_for 60 "mon.$leader caught up" -- caught_up
"$OSDCTL" -m "$ALL" pool create after-restart --pg-count 4 --size 1 || tsr_fail "pool create"
tsr_wait_for 60 "mon.$leader follows new changes" -- bash -c \
	"\"$OSDCTL\" -m 127.0.0.1:${P[$leader]} --timeout 1s debug get-map | grep -q after-restart"
tsr_wait_for 60 "all three in quorum again" -- has_quorum3
tsr_log "$("$OSDCTL" -m "127.0.0.1:${P[$leader]}" debug get-map)"
tsr_pass
