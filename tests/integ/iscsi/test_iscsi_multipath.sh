#!/usr/bin/env bash
# Two tessera-iscsi gateways (--tpgt 1 and 2) export the same (fresh) volume:
# both report the same unit serial and an NAA designator, libiscsi's
# MultipathIO suite passes through the two (data, COMPARE AND WRITE from both;
# Reset is left out: see docs/iscsi.md), and persistent
# reservations made through one gateway are enforced by the other
# (tessera-iscsi-pr-check: register, reserve, conflict, preempt with unit
# attention, clear).
. "$(dirname "$0")/iscsi_lib.sh"
tsr_init iscsi-multipath

PR_CHECK="${TSR_ISCSI_PR_CHECK:-$(dirname "$TSR_BIN")/tests/integ/iscsi/tessera-iscsi-pr-check}"
[ -x "$PR_CHECK" ] || tsr_fail "helper not found at $PR_CHECK"

iscsi_cluster_up
"$OSDCTL" -m "$MONADDR" volume create shared 64M >/dev/null || tsr_fail "volume create"
iscsi_start gw1 --mon "$MONADDR" --target "$IQN1" --lun 1:shared --tpgt 1 --alua-groups 1,2
P1=$PORT
iscsi_start gw2 --mon "$MONADDR" --target "$IQN1" --lun 1:shared --tpgt 2 --alua-groups 1,2
P2=$PORT
U1="iscsi://127.0.0.1:$P1/$IQN1/1"
U2="iscsi://127.0.0.1:$P2/$IQN1/1"

# The unit serial (and the NAA designator, both from the volume id) match.
sn1=$(iscsi-inq -e 1 -c 128 "$U1" | grep -i "serial") || tsr_fail "VPD 0x80 via gw1"
sn2=$(iscsi-inq -e 1 -c 128 "$U2" | grep -i "serial") || tsr_fail "VPD 0x80 via gw2"
[ -n "$sn1" ] && [ "$sn1" = "$sn2" ] || tsr_fail "serials differ: '$sn1' vs '$sn2'"
out=$(iscsi-inq -e 1 -c 131 "$U1") || tsr_fail "INQUIRY VPD 0x83"
grep -q "Designator Type:(3) NAA" <<<"$out" || tsr_fail "no NAA designator: $out"

cd "$TSR_DIR" || exit 1
# CompareAndWrite first: it compares LBA 256, one block past what it zeroes,
# so it needs a volume whose block 256 was never written (docs/iscsi.md).
for t in ALL.MultipathIO.CompareAndWrite \
	ALL.MultipathIO.Simple,ALL.MultipathIO.CompareAndWriteAsync; do
	iscsi-test-cu --dataloss -x -t "$t" "$U1" "$U2" >"$TSR_DIR/cu.out" 2>&1 || true
	fails=$(cu_failures "$TSR_DIR")
	[ -z "$fails" ] || tsr_fail "MultipathIO: $fails"
	tsr_log "$t: $(cu_summary "$TSR_DIR")"
done

"$PR_CHECK" "$U1" "$U2" || tsr_fail "reservations across gateways"
for g in gw1 gw2; do
	tsr_stop "$g" TERM 20 || tsr_fail "$g did not exit cleanly"
done
tsr_pass
