#!/usr/bin/env bash
# The whole test suite, from a clean clone on a fresh Debian 12 machine:
# installs the dependencies, builds, and runs
#   1. the fuzz targets for a bounded time (clang + libFuzzer, label fuzz),
#   2. the unit, integration and fault tests under ASan + UBSan,
#   3. every test (unit, integ, fault, bench smoke) on the Release build,
# and ends with ctest's summary of step 3.
#
#   scripts/test.sh [--no-deps] [--quick] [-L LABEL]
#     --no-deps   skip scripts/install-deps.sh
#     --quick     Release build only (skip fuzz and sanitizer runs)
#     -L LABEL    only tests with that ctest label in step 3
# Environment: TESSERA_FUZZ_SECONDS (default 60), CTEST_PARALLEL_LEVEL.
set -euo pipefail
cd "$(dirname "$0")/.."

deps=1
quick=0
label=""
while [ $# -gt 0 ]; do
	case "$1" in
	--no-deps) deps=0 ;;
	--quick) quick=1 ;;
	-L)
		label=$2
		shift
		;;
	-h | --help)
		sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "test.sh: unknown argument '$1' (see --help)" >&2
		exit 2
		;;
	esac
	shift
done

if [ "$deps" = 1 ]; then
	scripts/install-deps.sh
fi

jobs=${CTEST_PARALLEL_LEVEL:-2}
started=$(date +%s)
stage() { echo "=== test.sh [$(( $(date +%s) - started ))s] $*" >&2; }

if [ "$quick" = 0 ]; then
	stage "fuzz build"
	scripts/build.sh fuzz
	stage "fuzz run (${TESSERA_FUZZ_SECONDS:-60} s per target)"
	cmake -S . -B build-fuzz -DTESSERA_FUZZ_SECONDS="${TESSERA_FUZZ_SECONDS:-60}" >/dev/null
	(cd build-fuzz && ctest -L fuzz --output-on-failure -j "$jobs")

	stage "ASan+UBSan build"
	scripts/build.sh asan
	stage "ASan+UBSan tests (unit, integ, fault)"
	(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		ctest -L 'unit|integ|fault' --output-on-failure -j "$jobs")
fi

stage "Release build"
scripts/build.sh release
stage "Release tests"
cd build
if [ -n "$label" ]; then
	ctest -L "$label" --output-on-failure -j "$jobs"
else
	ctest --output-on-failure -j "$jobs"
fi
