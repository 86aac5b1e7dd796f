#!/usr/bin/env bash
# `cmake --install` of this build into a temp prefix installs tessera.h,
# libtessera.so and libtessera.a and tessera.pc; examples/hello_tessera.c
# compiles against the installed copy with pkg-config and runs against a
# local cluster (deploy/local-cluster.sh).
set -u
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lc_lib.sh"
lc_init install

build=$(cd "$TSR_BIN/.." && pwd)
src=${TSR_SRC:-$(cd "$(dirname "$0")/../../.." && pwd)}
prefix=$TSR_DIR/prefix
tsr_log "cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$TSR_DIR/install.log" 2>&1 ||
	{ cat "$TSR_DIR/install.log" >&2; tsr_fail "cmake --install"; }

hdr=$prefix/include/tessera/tessera.h
[ -f "$hdr" ] || tsr_fail "no $hdr"
so=$(find "$prefix" -name 'libtessera.so*' -type f | head -n1)
a=$(find "$prefix" -name libtessera.a | head -n1)
pc=$(find "$prefix" -name tessera.pc | head -n1)
[ -n "$so" ] || tsr_fail "no libtessera.so installed"
[ -n "$a" ] || tsr_fail "no libtessera.a installed"
[ -n "$pc" ] || tsr_fail "no tessera.pc installed"
libdir=$(dirname "$so")
[ -e "$libdir/libtessera.so" ] || tsr_fail "no libtessera.so link for -ltessera"
# Only the public API is exported (A: version nodes such as TESSERA_0).
others=$(nm -D --defined-only "$so" | awk '$2 != "A" { print $3 }' | grep -v '^tsr_' | grep -v '^_' | head -5)
[ -z "$others" ] || tsr_fail "libtessera.so exports non-tsr_ symbols: $others"

tsr_log "compile examples/hello_tessera.c against the installed copy (pkg-config)"
export PKG_CONFIG_PATH=$(dirname "$pc")
flags=$(pkg-config --define-prefix --cflags --libs tessera) || tsr_fail "pkg-config tessera"
case "$flags" in *"$prefix"*) ;; *) tsr_fail "pkg-config flags do not point into the prefix: $flags" ;; esac
cp "$src/examples/hello_tessera.c" "$TSR_DIR/"
# An ASan build's library needs the ASan runtime in the program too.
extra=()
asan=0
# (grep reads all of its input here: `cmd | grep -q` under pipefail fails when
# grep exits first and cmd gets SIGPIPE.)
if grep -q libasan < <(ldd "$so" 2>/dev/null); then extra=(-fsanitize=address,undefined); asan=1; fi
# shellcheck disable=SC2086
(cd "$TSR_DIR" && cc -std=c11 -Wall -Wextra -Werror "${extra[@]}" hello_tessera.c $flags -o hello) ||
	tsr_fail "cc hello_tessera.c \$(pkg-config --cflags --libs tessera)"
grep -q "$libdir/libtessera.so" < <(LD_LIBRARY_PATH=$libdir ldd "$TSR_DIR/hello") ||
	tsr_fail "hello does not use the installed libtessera.so"
# The static archive links too (it bundles the runtime/wire/map helpers;
# the private dependencies come from pkg-config --static).
grep -q ' T rt_reactor_run_once$' < <(nm "$a" 2>/dev/null) ||
	tsr_fail "libtessera.a is not self-contained (no rt_reactor_run_once)"
sflags=$(pkg-config --define-prefix --static --cflags --libs tessera | sed 's/-ltessera\b/-l:libtessera.a/')
# shellcheck disable=SC2086
(cd "$TSR_DIR" && cc -std=c11 "${extra[@]}" hello_tessera.c $sflags -o hello_static) ||
	tsr_fail "static link against libtessera.a"
static_ok=1

tsr_log "run both against a local cluster"
lc_up --size 256M
[ "$asan" = 1 ] && export ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0
LD_LIBRARY_PATH=$libdir "$TSR_DIR/hello" >"$TSR_DIR/hello.out" 2>&1 || { cat "$TSR_DIR/hello.out" >&2; tsr_fail "hello_tessera"; }
grep -qx ok "$TSR_DIR/hello.out" || tsr_fail "hello_tessera did not print ok"
prog=$TSR_DIR/hello
[ "$static_ok" = 1 ] && prog=$TSR_DIR/hello_static
LD_LIBRARY_PATH=$libdir "$prog" --keep kept >"$TSR_DIR/hello.out" 2>&1 || { cat "$TSR_DIR/hello.out" >&2; tsr_fail "$prog --keep"; }
osdctl volume info kept >/dev/null || tsr_fail "--keep did not keep the volume"
lc_down
tsr_pass
