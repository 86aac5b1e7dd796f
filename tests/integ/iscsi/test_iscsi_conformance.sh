#!/usr/bin/env bash
# libiscsi's conformance suite (iscsi-test-cu, every test of family ALL, with
# --dataloss) against tessera-iscsi exporting a volume of a real cluster. No
# failure is allowed (ALLOWED lists any explained in docs/iscsi.md); the
# counts are printed for the docs.
. "$(dirname "$0")/iscsi_lib.sh"
tsr_init iscsi-conformance

# Failures explained in docs/iscsi.md ("Conformance"): none at present.
ALLOWED=""

iscsi_cluster_up
"$OSDCTL" -m "$MONADDR" volume create cu 64M >/dev/null || tsr_fail "volume create"
iscsi_start iscsi --mon "$MONADDR" --target "$IQN1" --lun 1:cu
U="iscsi://127.0.0.1:$PORT/$IQN1/1"
cd "$TSR_DIR" || exit 1
timeout 300 iscsi-test-cu --dataloss -x -t ALL "$U" >"$TSR_DIR/cu.out" 2>&1 || true
[ -s "$TSR_DIR/CUnitAutomated-Results.xml" ] || tsr_fail "iscsi-test-cu wrote no results"
tsr_log "iscsi-test-cu ALL: $(cu_summary "$TSR_DIR") (total run passed failed)"
tsr_log "skipped: $(grep -c '\[SKIPPED\]' "$TSR_DIR/cu.out") messages"
for f in $(cu_failures "$TSR_DIR"); do
	case " $ALLOWED " in
	*" $f "*) tsr_log "known failure: $f" ;;
	*) tsr_fail "iscsi-test-cu: $f failed" ;;
	esac
done
tsr_is_running iscsi || tsr_fail "tessera-iscsi died"
tsr_stop iscsi TERM 20 || tsr_fail "tessera-iscsi did not exit cleanly"
tsr_pass
