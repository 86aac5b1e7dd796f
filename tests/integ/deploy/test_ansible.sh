#!/usr/bin/env bash
# The Ansible deployment (deploy/ansible), run for real against this machine:
# ansible-playbook with a local connection, tessera_service_manager=process
# (no systemd), tessera_prebuilt_dir=$TSR_BIN (no rebuild), every path in the
# test's temp dir (nothing written to /etc).
#   1. --syntax-check of every playbook (and the example inventories parse),
#      and ansible-lint when installed.
#   2. site.yml: 1 monitor + 3 OSDs on files, pool rbd (size 3, min_size 2),
#      volume vol1; health reaches HEALTH_OK; 16 MiB of random data are
#      written to the volume (osdctl volume import) and read back identical
#      (volume export; plus tessera-bench --volume --verify once it exists),
#      and objects are written to the pool and read back from every replica.
#   3. site.yml again: the recap shows changed=0 and failed=0.
#   4. add-osd.yml with a fourth OSD in the inventory: it is up, HEALTH_OK.
#   5. remove-osd.yml of one of the first three: out, backfill, stop, osd rm;
#      the map has 3 OSDs, HEALTH_OK, and the volume and objects verify.
#   6. add-osd.yml with a file holding foreign data: refused, file untouched.
#   7. rolling-restart.yml: every daemon has a new PID, HEALTH_OK, data intact.
#   8. site.yml once more: changed=0, the removed OSD stays stopped.
# The daemons are started by tessera-service (PIDs in the run dir); the EXIT
# trap stops exactly those PIDs, whatever happened.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/ans_lib.sh"
ans_init ansible
CLI="${TSR_OSD_TESTCLI:-$(dirname "$TSR_BIN")/tests/integ/osd/tessera-osd-testcli}"

for f in mon.1 osd.osd0 osd.osd1 osd.osd2 osd.osd3 iscsi.gw0 vhost.vol1; do TSR_LOGS[$f]=$LOG/$f.log; done

# 1. Static checks.
for pb in site.yml add-osd.yml remove-osd.yml rolling-restart.yml; do
	ansible-playbook -i "$PLAYBOOKS/inventories/three-hosts.yml" --syntax-check "$PLAYBOOKS/$pb" \
		>"$TSR_DIR/syntax.out" 2>&1 || { cat "$TSR_DIR/syntax.out" >&2; tsr_fail "syntax check of $pb"; }
done
for inv in single-host.yml three-hosts.yml; do
	ansible-inventory -i "$PLAYBOOKS/inventories/$inv" --list >/dev/null 2>"$TSR_DIR/inv.err" ||
		{ cat "$TSR_DIR/inv.err" >&2; tsr_fail "inventory $inv does not parse"; }
done
tsr_log "syntax check passed: site.yml add-osd.yml remove-osd.yml rolling-restart.yml"
if command -v ansible-lint >/dev/null 2>&1; then
	(cd "$PLAYBOOKS" && ansible-lint --offline -q --nocolor site.yml add-osd.yml remove-osd.yml \
		rolling-restart.yml) >"$TSR_DIR/lint.out" 2>&1 ||
		{ cat "$TSR_DIR/lint.out" >&2; tsr_fail "ansible-lint"; }
	tsr_log "ansible-lint passed"
else
	tsr_log "ansible-lint is not installed: only the syntax check ran"
fi

# 2. The inventory: everything under $ROOT, fixed free ports.
mport=$(tsr_free_port)
MONADDR="127.0.0.1:$mport"
ports=()
for i in 0 1 2 3; do ports[i]=$(tsr_free_port); done
export TESSERA_MON=$MONADDR

# write_inventory N [SUFFIX EXTRA]: an inventory with OSDs osd0..osd(N-1), and
# EXTRA (one more OSD entry) if given, in $TSR_DIR/inventory-N[SUFFIX].yml.
write_inventory() {
	local n=$1 suffix=${2:-} extra=${3:-} i
	{
		printf 'all:\n  vars:\n'
		ans_inventory_vars citest
		cat <<-EOF
		    tessera_mon_port: $mport
		    tessera_mon_options: {osd-grace: 3s}
		    tessera_pools:
		      - {name: rbd, size: 3, min_size: 2, pg_count: 16}
		    tessera_volumes:
		      - {name: vol1, size: 64M, pool: rbd}
		  children:
		    mons: {hosts: {localhost: }}
		    osds: {hosts: {localhost: }}
		    gateways: {hosts: {$gw_hosts}}
		  hosts:
		    localhost:
		      ansible_connection: local
		      ansible_python_interpreter: "$(command -v python3)"
		      tessera_public_addr: 127.0.0.1
		      tessera_osds:
		EOF
		for ((i = 0; i < n; i++)); do
			echo "        - {name: osd$i, size: 128M, port_base: ${ports[i]}, options: {failure-domain: fd$i}}"
		done
		[ -z "$extra" ] || echo "        $extra"
		printf '%s' "$gw_vars"
	} >"$TSR_DIR/inventory-$n$suffix.yml"
}
# Gateways, when this tree built them: an iSCSI target exporting vol1 as LUN 1
# and a vhost-user-blk socket for vol1.
gw_hosts=""
gw_vars=""
ISCSI_PORT=""
VHOST_SOCK="$TSR_DIR/vhost/vol1.sock"
if [ -x "$TSR_BIN/tessera-iscsi" ]; then
	ISCSI_PORT=$(tsr_free_port)
	gw_hosts="localhost: "
	gw_vars+="      tessera_iscsi_targets:
        - name: gw0
          portal: 127.0.0.1:$ISCSI_PORT
          target: iqn.2026-11.org.tessera:citest
          luns: [{lun: 1, volume: vol1}]
"
fi
if [ -x "$TSR_BIN/tessera-vhost" ]; then
	gw_hosts="localhost: "
	gw_vars+="      tessera_vhost_devices:
        - {name: vol1, socket: $VHOST_SOCK, volume: vol1, queues: 2}
"
fi
write_inventory 3
write_inventory 4
head -c 1M /dev/urandom >"$TSR_DIR/foreign.img"
write_inventory 4 -foreign "- {name: osdx, path: $TSR_DIR/foreign.img, port_base: $(tsr_free_port)}"

health_ok() {
	local out
	out=$("$OSDCTL" -m "$MONADDR" --timeout 2s health 2>/dev/null) || return 1
	[ "$(head -n 1 <<<"$out")" = HEALTH_OK ]
}
osds_up() {
	local out n
	out=$("$OSDCTL" -m "$MONADDR" --timeout 2s osd ls 2>/dev/null) || return 1
	n=$(grep -cw up <<<"$out")
	[ "$n" = "$1" ]
}

ans_play deploy "$TSR_DIR/inventory-3.yml" site.yml
tsr_assert "3 OSDs up after site.yml" -- osds_up 3
tsr_assert "HEALTH_OK after site.yml" -- health_ok
grep -q "^mon = $MONADDR\$" "$ROOT/etc/citest.conf" ||
	tsr_fail "the client configuration does not name the monitor"
env -u TESSERA_MON TESSERA_CONF="$ROOT/etc/citest.conf" "$OSDCTL" health >/dev/null ||
	tsr_fail "osdctl cannot use the rendered client configuration"
ndaemons=4
if [ -n "$ISCSI_PORT" ]; then
	ndaemons=$((ndaemons + 1))
	tsr_wait_port 127.0.0.1 "$ISCSI_PORT" 60
	tsr_log "tessera-iscsi serves vol1 on 127.0.0.1:$ISCSI_PORT"
fi
if [ -n "$gw_vars" ] && [ -x "$TSR_BIN/tessera-vhost" ]; then
	ndaemons=$((ndaemons + 1))
	tsr_wait_for 60 "the vhost-user socket" -- test -S "$VHOST_SOCK"
	tsr_log "tessera-vhost serves vol1 on $VHOST_SOCK"
fi
npid=$(find "$RUN" -name '*.pid' | wc -l)
[ "$npid" = "$ndaemons" ] || tsr_fail "expected $ndaemons PID files in the run dir, found $npid"

# Data: the volume through libtessera (osdctl volume import/export), with
# tessera-bench --volume --verify when it exists, and raw objects on every
# replica (the test client reads each member).
have_volumes=0
"$OSDCTL" volume ls --help >/dev/null 2>&1 && have_volumes=1
have_bench=0
grep -q -- '--volume' <<<"$("$TSR_BIN/tessera-bench" --help 2>&1)" && have_bench=1
if [ "$have_volumes" = 1 ]; then
	grep -qw vol1 <<<"$("$OSDCTL" -m "$MONADDR" volume ls)" || tsr_fail "site.yml did not create vol1"
	head -c 16M /dev/urandom >"$TSR_DIR/pattern"
	"$OSDCTL" -m "$MONADDR" volume import --existing "$TSR_DIR/pattern" vol1 ||
		tsr_fail "writing vol1 (volume import)"
	"$OSDCTL" -m "$MONADDR" volume export vol1 "$TSR_DIR/export1" || tsr_fail "reading vol1"
	cmp -n 16777216 "$TSR_DIR/pattern" "$TSR_DIR/export1" || tsr_fail "vol1 reads back different data"
	rm -f "$TSR_DIR/export1"
	tsr_log "vol1: 16 MiB written and read back identical"
else
	tsr_log "osdctl has no volume commands: object-level check only"
fi
if [ "$have_bench" = 1 ]; then
	"$TSR_BIN/tessera-bench" --volume benchvol --rw randwrite --bs 4K --iodepth 8 --ios 2000 \
		--size 16M --verify --quiet >"$TSR_DIR/bench-write.out" 2>&1 ||
		{ cat "$TSR_DIR/bench-write.out" >&2; tsr_fail "tessera-bench --volume benchvol --verify"; }
	tsr_log "benchvol: tessera-bench 2000 random 4 KiB writes, read back and verified"
fi
[ -x "$CLI" ] || tsr_fail "test client not found at $CLI"
"$CLI" rewrite --mon "$MONADDR" --pool rbd --objects 40 --base 3000 || tsr_fail "object writes"
"$CLI" verify --mon "$MONADDR" --pool rbd --objects 40 --base 3000 || tsr_fail "object read-back"

# 3. A second run changes nothing (and leaves the running daemons alone).
pids_before=$(cat "$RUN"/*.pid | sort)
ans_play again "$TSR_DIR/inventory-3.yml" site.yml
recap=$(grep -E '^localhost +:' "$TSR_DIR/again.out")
grep -Eq 'changed=0 .*failed=0' <<<"$recap" || tsr_fail "second run of site.yml: $recap"
[ "$(cat "$RUN"/*.pid | sort)" = "$pids_before" ] || tsr_fail "the second run restarted daemons"
tsr_log "second run: $recap"

# 4. Add a fourth OSD.
ans_play add "$TSR_DIR/inventory-4.yml" add-osd.yml -l localhost
tsr_assert "4 OSDs up after add-osd.yml" -- osds_up 4
tsr_assert "HEALTH_OK after add-osd.yml" -- health_ok

# 5. Remove osd1 (one of the first three) safely.
ans_play remove "$TSR_DIR/inventory-4.yml" remove-osd.yml -e osd_host=localhost -e osd_name=osd1
grep -q "removing osd\.[0-9]" "$TSR_DIR/remove.out" || tsr_fail "remove-osd.yml did not name the OSD"
[ "$(grep -o '"id":' <<<"$("$OSDCTL" -m "$MONADDR" osd ls --format json)" | wc -l)" = 3 ] ||
	tsr_fail "the map does not have 3 OSDs after osd rm"
tsr_assert "3 OSDs up after remove-osd.yml" -- osds_up 3
tsr_assert "HEALTH_OK after remove-osd.yml" -- health_ok
[ ! -e "$RUN/osd.osd1.pid" ] || tsr_fail "osd1 still has a PID file"
[ -e "$ROOT/data/osd.osd1.removed" ] || tsr_fail "no removal marker for osd1"
"$CLI" verify --mon "$MONADDR" --pool rbd --objects 40 --base 3000 ||
	tsr_fail "objects differ after remove-osd.yml"
if [ "$have_volumes" = 1 ]; then
	"$OSDCTL" -m "$MONADDR" volume export vol1 "$TSR_DIR/export2" || tsr_fail "reading vol1 after the removal"
	cmp -n 16777216 "$TSR_DIR/pattern" "$TSR_DIR/export2" ||
		tsr_fail "vol1 lost data in remove-osd.yml"
	rm -f "$TSR_DIR/export2"
	tsr_log "vol1 reads back identical after the removal"
fi

# The device check: a file holding other data is refused, and left untouched.
sum_before=$(md5sum <"$TSR_DIR/foreign.img")
if ansible-playbook -i "$TSR_DIR/inventory-4-foreign.yml" "$PLAYBOOKS/add-osd.yml" \
	>"$TSR_DIR/foreign.out" 2>&1; then
	tsr_fail "add-osd.yml accepted a device holding data"
fi
grep -q "holds other data" "$TSR_DIR/foreign.out" || tsr_fail "no clear refusal of the foreign device"
[ "$(md5sum <"$TSR_DIR/foreign.img")" = "$sum_before" ] || tsr_fail "the foreign device was modified"
[ ! -e "$RUN/osd.osdx.pid" ] || tsr_fail "an OSD was started on the foreign device"
STATE="$PLAYBOOKS/roles/osd/files/osd-device-state"
tsr_assert_eq "$(sh "$STATE" "$ROOT/data/osd.osd0.img")" tessera "state of a formatted OSD file"
tsr_assert_eq "$(sh "$STATE" "$TSR_DIR/foreign.img")" data "state of a foreign file"
tsr_assert_eq "$(sh "$STATE" "$TSR_DIR/none.img")" absent "state of a missing file"
head -c 8192 /dev/zero >"$TSR_DIR/zero.img"
tsr_assert_eq "$(sh "$STATE" "$TSR_DIR/zero.img")" blank "state of a zeroed file"
tsr_log "a device holding data is refused and left untouched"

# Rolling restart: every daemon restarted (new PIDs), HEALTH_OK, data intact.
declare -A old_pid=()
for f in "$RUN"/*.pid; do read -r p _ <"$f"; old_pid[$(basename "$f")]=$p; done
ans_play restart "$TSR_DIR/inventory-4.yml" rolling-restart.yml
for f in "${!old_pid[@]}"; do
	read -r p _ <"$RUN/$f" || tsr_fail "$f is gone after the rolling restart"
	[ "$p" != "${old_pid[$f]}" ] || tsr_fail "${f%.pid} was not restarted"
done
tsr_assert "3 OSDs up after rolling-restart.yml" -- osds_up 3
tsr_assert "HEALTH_OK after rolling-restart.yml" -- health_ok
"$CLI" verify --mon "$MONADDR" --pool rbd --objects 40 --base 3000 ||
	tsr_fail "objects differ after rolling-restart.yml"
if [ "$have_volumes" = 1 ]; then
	"$OSDCTL" -m "$MONADDR" volume export vol1 "$TSR_DIR/export3" || tsr_fail "reading vol1 after the restart"
	cmp -n 16777216 "$TSR_DIR/pattern" "$TSR_DIR/export3" || tsr_fail "vol1 lost data in the rolling restart"
	rm -f "$TSR_DIR/export3"
fi
tsr_log "rolling restart: ${#old_pid[@]} daemons restarted one host at a time, data intact"

# A run of site.yml after the removal leaves osd1 stopped and changes nothing.
ans_play after "$TSR_DIR/inventory-4.yml" site.yml
recap=$(grep -E '^localhost +:' "$TSR_DIR/after.out")
grep -Eq 'changed=0 .*failed=0' <<<"$recap" || tsr_fail "site.yml after the removal: $recap"
[ ! -e "$RUN/osd.osd1.pid" ] || tsr_fail "site.yml started the removed osd1 again"
ans_no_sanitizer_report
tsr_pass
