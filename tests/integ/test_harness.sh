#!/usr/bin/env bash
# Self-test of the harness: free ports, start/wait/stop, and that a failing
# test still kills its daemons (checked from a child test run).
. "$(dirname "$0")/lib.sh"
tsr_init harness

if [ "${1:-}" = "--child-fails" ]; then
	# Child mode: start a daemon, print its PID, then fail.
	tsr_start sleeper sleep 300
	echo "$(tsr_pid sleeper)" > "$2"
	tsr_fail "deliberate failure"
fi

p1=$(tsr_free_port)
p2=$(tsr_free_port)
[ "$p1" != "$p2" ] || tsr_fail "free ports not distinct"

# A tiny TCP listener as the "daemon".
tsr_start listener python3 -c "
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', $p1)); s.listen(8)
while True:
    c, _ = s.accept(); c.sendall(b'hello\n'); c.close()
"
tsr_wait_port 127.0.0.1 "$p1" 10 listener
reply=$(exec 3<>/dev/tcp/127.0.0.1/$p1 && head -n1 <&3)
tsr_assert_eq "$reply" "hello" "listener reply"
tsr_assert "listener running" -- tsr_is_running listener
tsr_stop listener TERM 5 || true
tsr_is_running listener && tsr_fail "listener still running after stop"

# A daemon that dies is reported at once, not after the timeout.
tsr_start dies false
if (tsr_wait_port 127.0.0.1 "$p2" 30 dies) 2>"$TSR_DIR/dies.err"; then
	tsr_fail "waiting on a dead daemon succeeded"
fi
grep -q "dies exited while waiting" "$TSR_DIR/dies.err" || tsr_fail "dead daemon not reported"
unset "TSR_PIDS[dies]"

# A failing child test must not leave its daemon behind.
pidfile="$TSR_DIR/child.pid"
if bash "$0" --child-fails "$pidfile" 2>"$TSR_DIR/child.err"; then
	tsr_fail "child test should have failed"
fi
grep -q "log of sleeper" "$TSR_DIR/child.err" || tsr_fail "child did not dump daemon logs"
child_pid=$(cat "$pidfile")
if kill -0 "$child_pid" 2>/dev/null; then
	kill -KILL "$child_pid"
	tsr_fail "child's daemon $child_pid survived its failed test"
fi
tsr_pass
