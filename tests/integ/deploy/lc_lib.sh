# shellcheck shell=bash
# Shared by the deploy/tools tests: a cluster started with deploy/local-cluster.sh
# in the test's temp dir, taken down (by its recorded PIDs) by the EXIT trap
# whatever happens, with every daemon log dumped on failure.
#
#   . "$(dirname "$0")/lc_lib.sh"
#   lc_init NAME              # tsr_init + PATH with TSR_BIN first
#   lc_up [ARGS...]           # local-cluster.sh up --dir $LC_DIR ARGS; sources cluster.env

LC_SCRIPT="${TSR_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}/deploy/local-cluster.sh"
LC_DIR=""

lc__cleanup() {
	local rc=$?
	if [ -n "$LC_DIR" ] && [ -f "$LC_DIR/cluster.conf" ]; then
		"$LC_SCRIPT" down --dir "$LC_DIR" >/dev/null 2>&1 || true
	fi
	(exit "$rc")
	tsr__cleanup
}

lc_init() {
	tsr_init "$1"
	trap lc__cleanup EXIT
	[ -n "${TSR_BIN:-}" ] && export PATH="$TSR_BIN:$PATH"
	LC_DIR=$TSR_DIR/cluster
}

lc_up() {
	"$LC_SCRIPT" up --dir "$LC_DIR" "$@" >"$TSR_DIR/up.out" 2>"$TSR_DIR/up.err" || {
		cat "$TSR_DIR/up.err" >&2
		tsr_fail "local-cluster.sh up $*"
	}
	local f
	for f in "$LC_DIR"/*.log; do
		[ -e "$f" ] && TSR_LOGS[$(basename "$f" .log)]=$f
	done
	# shellcheck disable=SC1091
	. "$LC_DIR/cluster.env"
}

lc_down() {
	"$LC_SCRIPT" down --dir "$LC_DIR" 2>>"$TSR_DIR/down.err" || tsr_fail "local-cluster.sh down"
}

lc_pid() {
	cat "$LC_DIR/$1.pid"
}
