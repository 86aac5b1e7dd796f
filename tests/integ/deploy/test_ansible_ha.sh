#!/usr/bin/env bash
# The Ansible deployment of a three-monitor cluster: three inventory hosts
# (h1, h2, h3, all this machine through a local connection, process mode,
# every path in the temp dir), each a monitor (its own port) and one OSD (its
# own failure domain). site.yml bootstraps the Raft quorum of 3 (every monitor
# gets the same --peers) and reaches HEALTH_OK; rolling-restart.yml then
# restarts the monitors and the OSDs one host at a time (serial: 1), waiting
# for HEALTH_OK (which needs every monitor in quorum) between hosts: every
# daemon gets a new PID, the quorum is 3 again and the volume written before
# reads back identical.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/ans_lib.sh"
ans_init ansible-ha
for f in mon.1 mon.2 mon.3 osd.o1 osd.o2 osd.o3; do TSR_LOGS[$f]=$LOG/$f.log; done


declare -a mport oport
for i in 1 2 3; do
	mport[i]=$(tsr_free_port)
	oport[i]=$(tsr_free_port)
done
MONS="127.0.0.1:${mport[1]},127.0.0.1:${mport[2]},127.0.0.1:${mport[3]}"
{
	printf 'all:\n  vars:\n'
	ans_inventory_vars ha
	cat <<EOF
    tessera_mon_options: {osd-grace: 3s, election-timeout: 500ms}
    tessera_pools:
      - {name: rbd, size: 3, min_size: 2, pg_count: 16}
    tessera_volumes:
      - {name: v1, size: 8M, pool: rbd}
    ansible_connection: local
    ansible_python_interpreter: "$(command -v python3)"
    tessera_public_addr: 127.0.0.1
  children:
    mons:
      hosts:
        h1: {tessera_mon_port: ${mport[1]}}
        h2: {tessera_mon_port: ${mport[2]}}
        h3: {tessera_mon_port: ${mport[3]}}
    osds:
      hosts:
        h1: {tessera_osds: [{name: o1, size: 128M, port_base: ${oport[1]}, options: {failure-domain: h1}}]}
        h2: {tessera_osds: [{name: o2, size: 128M, port_base: ${oport[2]}, options: {failure-domain: h2}}]}
        h3: {tessera_osds: [{name: o3, size: 128M, port_base: ${oport[3]}, options: {failure-domain: h3}}]}
EOF
} >"$TSR_DIR/inventory.yml"

healthy_quorum_3() {
	local s
	s=$("$OSDCTL" -m "$MONS" --timeout 3s status --format json 2>/dev/null) || return 1
	grep -q '"status":"HEALTH_OK"' <<<"$s" && grep -q '"quorum":\[1,2,3\]' <<<"$s" &&
		grep -q '"up":3' <<<"$s"
}

ans_play deploy "$TSR_DIR/inventory.yml" site.yml
tsr_assert "HEALTH_OK, quorum 1,2,3, 3 OSDs up after site.yml" -- healthy_quorum_3
grep -q "^peers = 1=127.0.0.1:${mport[1]}/" "$ROOT/etc/ha/mon.2.conf" ||
	tsr_fail "mon.2 was not given the peers"
head -c 8M /dev/urandom >"$TSR_DIR/pattern"
"$OSDCTL" -m "$MONS" volume import --existing "$TSR_DIR/pattern" v1 || tsr_fail "writing v1"

declare -A old_pid=()
for f in "$RUN"/*.pid; do read -r p _ <"$f"; old_pid[$(basename "$f")]=$p; done
[ "${#old_pid[@]}" = 6 ] || tsr_fail "expected 6 daemons, found ${#old_pid[@]} PID files"
ans_play restart "$TSR_DIR/inventory.yml" rolling-restart.yml
for f in "${!old_pid[@]}"; do
	read -r p _ <"$RUN/$f" || tsr_fail "$f is gone after the rolling restart"
	[ "$p" != "${old_pid[$f]}" ] || tsr_fail "${f%.pid} was not restarted"
done
# Serial: the second monitor was stopped only after the first was back in quorum.
grep -q "PLAY \[Restart the monitors, one at a time\]" "$TSR_DIR/restart.out" ||
	tsr_fail "no monitor restart play"
[ "$(grep -c "TASK \[mon : Wait for the monitors' quorum\]" "$TSR_DIR/restart.out")" = 3 ] ||
	tsr_fail "the monitors were not restarted one host at a time"
tsr_assert "HEALTH_OK, quorum 1,2,3 after rolling-restart.yml" -- healthy_quorum_3
"$OSDCTL" -m "$MONS" volume export v1 "$TSR_DIR/export" || tsr_fail "reading v1"
cmp "$TSR_DIR/pattern" "$TSR_DIR/export" || tsr_fail "v1 differs after the rolling restart"
ans_no_sanitizer_report
tsr_pass
