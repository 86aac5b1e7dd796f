# shellcheck shell=bash
# Shared by the tessera-iscsi integration tests: a monitor and one OSD on
# files (pool rbd, size 1), volumes made with osdctl, and tessera-iscsi.
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

OSDCTL="$TSR_BIN/osdctl"
ISCSI="$TSR_BIN/tessera-iscsi"
IQN1=iqn.2026-11.io.tessera:test1
IQN2=iqn.2026-11.io.tessera:secure

command -v iscsi-inq >/dev/null || { echo "libiscsi-bin is not installed: skipped"; exit 0; }

# iscsi_cluster_up: start mon + 1 OSD, pool rbd, wait for HEALTH_OK. Sets MONADDR.
iscsi_cluster_up() {
	local mport
	mport=$(tsr_free_port)
	MONADDR="127.0.0.1:$mport"
	tsr_start mon "$TSR_BIN/tessera-mon" --id 1 --data "$TSR_DIR/mon" --listen "$MONADDR"
	tsr_wait_port 127.0.0.1 "$mport" 20 mon
	tsr_start osd1 "$TSR_BIN/tessera-osd" --mon "$MONADDR" --device "$TSR_DIR/osd1.img" \
		--size 512M --cores 1 --host host1
	tsr_wait_for 30 "osd up" -- iscsi__osd_up
	"$OSDCTL" -m "$MONADDR" pool create rbd --size 1 --min-size 1 --pg-count 16 >/dev/null ||
		tsr_fail "pool create"
	tsr_wait_for 60 "HEALTH_OK" -- iscsi__health_ok
}

iscsi__osd_up() {
	local out
	out=$("$OSDCTL" -m "$MONADDR" --timeout 2s osd ls 2>/dev/null) && grep -qw up <<<"$out"
}

iscsi__health_ok() {
	[ "$("$OSDCTL" -m "$MONADDR" --timeout 2s health 2>/dev/null | head -n1)" = HEALTH_OK ]
}

# iscsi_start NAME ARGS...: start tessera-iscsi on a free port (sets PORT).
iscsi_start() {
	local name=$1
	shift
	PORT=$(tsr_free_port)
	tsr_start "$name" "$ISCSI" --portal "127.0.0.1:$PORT" "$@"
	tsr_wait_port 127.0.0.1 "$PORT" 30 "$name"
}

# cu_failures XMLDIR: the failing tests of an iscsi-test-cu -x run, one per line.
cu_failures() {
	python3 - "$1/CUnitAutomated-Results.xml" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
for suite in re.findall(r'<CUNIT_RUN_SUITE_SUCCESS>(.*?)</CUNIT_RUN_SUITE_SUCCESS>', s, re.S):
    name = re.search(r'<SUITE_NAME>\s*(.*?)\s*</SUITE_NAME>', suite).group(1)
    fails = set()
    for rec in re.findall(r'<CUNIT_RUN_TEST_RECORD>(.*?)</CUNIT_RUN_TEST_RECORD>', suite, re.S):
        if 'FAILURE' in rec:
            fails.add(re.search(r'<TEST_NAME>\s*(.*?)\s*</TEST_NAME>', rec).group(1))
    for t in sorted(fails):
        print(name + '.' + t)
PY
}

# cu_summary XMLDIR: "tests TOTAL RUN PASSED FAILED"
cu_summary() {
	python3 - "$1/CUnitAutomated-Results.xml" <<'PY'
import re, sys
s = open(sys.argv[1]).read()
for rec in re.findall(r'<CUNIT_RUN_SUMMARY_RECORD>(.*?)</CUNIT_RUN_SUMMARY_RECORD>', s, re.S):
    f = lambda k: re.search('<%s>\\s*(.*?)\\s*</%s>' % (k, k), rec).group(1)
    if 'Test Cases' in f('TYPE'):
        print('tests', f('TOTAL'), f('RUN'), f('SUCCEEDED'), f('FAILED'))
PY
}
