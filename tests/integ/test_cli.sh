#!/usr/bin/env bash
# Every program answers --help (exit 0, usage on stdout), rejects an unknown
# option with a clear message and a non-zero exit, and docs/config.md is what
# the option tables generate.
. "$(dirname "$0")/lib.sh"
tsr_init cli

found=0
for prog in "$TSR_BIN"/*; do
	[ -x "$prog" ] || continue
	name=$(basename "$prog")
	found=$((found + 1))
	out=$("$prog" --help 2>&1) || tsr_fail "$name --help exited non-zero"
	grep -qi "usage" <<<"$out" || tsr_fail "$name --help printed no usage"
	if "$prog" --no-such-option-xyz >"$TSR_DIR/out" 2>&1; then
		tsr_fail "$name accepted an unknown option"
	fi
	grep -qiE "unknown|unrecognized|invalid" "$TSR_DIR/out" ||
		tsr_fail "$name: no clear message for an unknown option: $(head -c 300 "$TSR_DIR/out")"
	tsr_log "$name: --help and bad option OK"
done
[ "$found" -gt 0 ] || tsr_fail "no programs in $TSR_BIN"

"$TSR_SRC/scripts/gen-config-doc.sh" "$(dirname "$TSR_BIN")" "$TSR_DIR/config.md" 2>/dev/null
if ! diff -u "$TSR_SRC/docs/config.md" "$TSR_DIR/config.md" >"$TSR_DIR/config.diff"; then
	cat "$TSR_DIR/config.diff" >&2
	tsr_fail "docs/config.md is stale: run scripts/gen-config-doc.sh"
fi
tsr_pass
