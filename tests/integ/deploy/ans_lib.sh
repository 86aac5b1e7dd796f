# shellcheck shell=bash
# Shared by the Ansible deployment tests (test_ansible.sh, test_ansible_ha.sh):
# ansible-playbook run for real against this machine (local connection,
# tessera_service_manager=process, every path under the test's temp dir).
# Source it after ../lib.sh:
#
#   . "$(dirname "$0")/../lib.sh"
#   . "$(dirname "$0")/ans_lib.sh"
#   ans_init NAME            # tsr_init; skip (77) without ansible-playbook
#                            # (fail in CI); ROOT RUN LOG PLAYBOOKS OSDCTL; traps
#   ans_play NAME INVENTORY PLAYBOOK [ARGS...]   # output in $TSR_DIR/NAME.out
#   ans_inventory_vars CLUSTER   # the shared "all: vars:" lines of an inventory
#   ans_no_sanitizer_report  # fail on an ASan/UBSan report in a daemon log
#
# The daemons are started by tessera-service, which records their PIDs in
# $RUN/*.pid: the EXIT trap stops exactly those PIDs (TERM, then KILL after
# 10 s), whatever happened, before the harness cleanup.

ans_init() {
	tsr_init "$1"
	SRC=${TSR_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
	PLAYBOOKS="$SRC/deploy/ansible"
	OSDCTL="$TSR_BIN/osdctl"
	if ! command -v ansible-playbook >/dev/null 2>&1; then
		# CI installs ansible (scripts/install-deps.sh): there a skip would hide a gap.
		[ -n "${CI:-}" ] && tsr_fail "ansible-playbook is not installed (CI must run this test)"
		tsr_log "SKIP: ansible-playbook is not installed (scripts/install-deps.sh installs it)"
		rm -rf "$TSR_DIR"
		TSR_DIR=""
		exit 77
	fi
	ROOT=$TSR_DIR/root
	RUN=$ROOT/run
	LOG=$ROOT/log
	mkdir -p "$ROOT" "$TSR_DIR/ansible-tmp"
	trap 'rc=$?; ans__cleanup; (exit $rc); tsr__cleanup' EXIT

	export ANSIBLE_CONFIG="$PLAYBOOKS/ansible.cfg"
	export ANSIBLE_LOCAL_TEMP="$TSR_DIR/ansible-tmp"
	export ANSIBLE_REMOTE_TEMP="$TSR_DIR/ansible-tmp"
	export ANSIBLE_NOCOLOR=1
	export ANSIBLE_FORCE_COLOR=0
}

# Stop every daemon tessera-service recorded (exactly those PIDs).
ans__cleanup() {
	local f pid
	for f in "$RUN"/*.pid; do
		[ -e "$f" ] || continue
		read -r pid _ <"$f" || continue
		kill -TERM "$pid" 2>/dev/null
	done
	for f in "$RUN"/*.pid; do
		[ -e "$f" ] || continue
		read -r pid _ <"$f" || continue
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
	done
	return 0
}

# ans_play NAME INVENTORY PLAYBOOK [ARGS...]: run a playbook, keep its output
# in $TSR_DIR/NAME.out, fail the test (with the output's tail) if it fails.
ans_play() {
	local name=$1 inv=$2 pb=$3 start
	shift 3
	start=$(date +%s)
	tsr_log "ansible-playbook $pb ($name)"
	if ! ansible-playbook -i "$inv" "$PLAYBOOKS/$pb" "$@" >"$TSR_DIR/$name.out" 2>&1; then
		tail -n 80 "$TSR_DIR/$name.out" >&2
		tsr_fail "$pb ($name) failed"
	fi
	tsr_log "$pb ($name) done in $(( $(date +%s) - start )) s:" \
		"$(grep -E '^[[:alnum:]_.-]+ +: ok=' "$TSR_DIR/$name.out")"
}

# ans_inventory_vars CLUSTER: the "all: vars:" lines every test inventory
# shares (process mode, no become, no packages, the built binaries, every path
# under $ROOT, the health waits and the stop timeout).
ans_inventory_vars() {
	cat <<EOF
    tessera_cluster: $1
    tessera_service_manager: process
    tessera_become: false
    tessera_install_packages: false
    tessera_prebuilt_dir: "$TSR_BIN"
    tessera_prefix: "$ROOT/usr"
    tessera_conf_dir: "$ROOT/etc"
    tessera_data_dir: "$ROOT/data"
    tessera_log_dir: "$LOG"
    tessera_run_dir: "$RUN"
    tessera_systemd_dir: "$ROOT/systemd"
    tessera_health_timeout: 120
    tessera_health_delay: 1
    tessera_timeout_stop_sec: 20
EOF
}

# Sanitizer builds: a report in any daemon's log fails the test.
ans_no_sanitizer_report() {
	if grep -l -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$LOG"/*.log; then
		tsr_fail "a sanitizer report in a daemon log (above)"
	fi
}
