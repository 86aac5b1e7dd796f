#!/usr/bin/env bash
# osdctl volume import/export: a 256 MiB random file imported into a new
# volume (its size rounded up to 4 KiB) and exported back compares equal; a
# file with holes and an odd size; --existing into a bigger volume; progress
# output with --progress.
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../deploy/lc_lib.sh"
lc_init import_export
lc_up --size 1G

f=$TSR_DIR/random.img
head -c 256M /dev/urandom >"$f" || tsr_fail "cannot make the random file"

tsr_log "import 256 MiB of random data"
osdctl volume import "$f" rt --progress >"$TSR_DIR/imp.out" 2>"$TSR_DIR/imp.err" ||
	{ cat "$TSR_DIR/imp.err" >&2; tsr_fail "import"; }
cat "$TSR_DIR/imp.out" >&2
grep -q "100.0%" "$TSR_DIR/imp.err" || tsr_fail "no progress bar with --progress"
grep -q '"size":268435456' <<<"$(osdctl -f json volume info rt)" ||
	tsr_fail "volume size is not the file size"
tsr_log "export it back and compare"
osdctl volume export rt "$TSR_DIR/back.img" >&2 || tsr_fail "export"
cmp "$f" "$TSR_DIR/back.img" || tsr_fail "exported data differs from the imported file"

tsr_log "an odd-sized file with a hole"
g=$TSR_DIR/odd.img
head -c 1000000 /dev/urandom >"$g"
truncate -s 9000001 "$g"
printf 'tail' >>"$g"
osdctl volume import "$g" odd >/dev/null || tsr_fail "import odd"
info=$(osdctl -f json volume info odd)
grep -q '"size":9003008' <<<"$info" || tsr_fail "odd size not rounded up to 4 KiB: $info"
osdctl volume export odd "$TSR_DIR/odd.back" >/dev/null || tsr_fail "export odd"
size=$(stat -c %s "$g")
cmp -n "$size" "$g" "$TSR_DIR/odd.back" || tsr_fail "odd file differs"
[ "$(stat -c %s "$TSR_DIR/odd.back")" = 9003008 ] || tsr_fail "export size is not the volume size"
cmp -i "$size" "$TSR_DIR/odd.back" /dev/zero -n $(( 9003008 - size )) || tsr_fail "padding is not zero"

tsr_log "--existing: into a bigger volume with old data (zero chunks written as zeroes)"
osdctl volume create big 32M >/dev/null || tsr_fail "create big"
head -c 32M /dev/urandom >"$TSR_DIR/junk"
osdctl volume import "$TSR_DIR/junk" big --existing >/dev/null || tsr_fail "import junk"
osdctl volume import "$g" big --existing >/dev/null || tsr_fail "import --existing"
osdctl volume export big "$TSR_DIR/big.back" >/dev/null || tsr_fail "export big"
cmp -n "$size" "$g" "$TSR_DIR/big.back" || tsr_fail "--existing import differs"
cmp -i 1000000 -n 8000000 "$TSR_DIR/big.back" /dev/zero || tsr_fail "the hole was not written as zeroes"
cmp -i 9003008 -n $(( 32 * 1048576 - 9003008 )) "$TSR_DIR/big.back" "$TSR_DIR/junk" ||
	tsr_fail "data past the imported file changed"
lc_down
tsr_pass
