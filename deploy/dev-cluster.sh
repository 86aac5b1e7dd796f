#!/usr/bin/env bash
# Kept for old scripts: deploy/local-cluster.sh does the work (see its --help).
#
#   deploy/dev-cluster.sh start  [--dir DIR] [--osds N] [--cores C] [--size SIZE] [--port P] [--bin DIR]
#   deploy/dev-cluster.sh status [--dir DIR]
#   deploy/dev-cluster.sh stop   [--dir DIR]
#
# start = local-cluster.sh up (which also creates the pool rbd and waits for
# HEALTH_OK), stop = down, status = status. DIR defaults to ./dev-cluster.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cmd=${1:-}
[ -n "$cmd" ] && shift
case "$cmd" in
start) cmd=up ;;
stop) cmd=down ;;
status) ;;
-h | --help | help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
*) echo "dev-cluster: unknown command '$cmd' (start|status|stop; see --help)" >&2; exit 2 ;;
esac
has_dir=0
for a in "$@"; do [ "$a" = --dir ] && has_dir=1; done
if [ "$has_dir" = 1 ]; then
	exec "$here/local-cluster.sh" "$cmd" "$@"
fi
exec "$here/local-cluster.sh" "$cmd" --dir ./dev-cluster "$@"
