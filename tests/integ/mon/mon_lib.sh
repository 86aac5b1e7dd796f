# shellcheck shell=bash
# Helpers shared by the monitor tests (sourced after ../lib.sh).

OSDCTL="$TSR_BIN/osdctl"
MON="$TSR_BIN/tessera-mon"

# json_num JSON KEY: the first numeric value of "KEY": in compact JSON.
json_num() {
	grep -o "\"$2\":[0-9-]*" <<<"$1" | head -n 1 | cut -d: -f2
}

# start_mon NAME ID PORT DATA [ARGS...]
start_mon() {
	local name=$1 id=$2 port=$3 data=$4
	shift 4
	tsr_start "$name" "$MON" --id "$id" --data "$data" --listen "127.0.0.1:$port" "$@"
	tsr_wait_port 127.0.0.1 "$port" 60 "$name"
}

# leader_of ADDRS: the leader id reported by osdctl status (0 if none).
leader_of() {
	local j
	j=$("$OSDCTL" -m "$1" --timeout 2s status --format json 2>/dev/null) || { echo 0; return; }
	json_num "$j" leader
}
