#!/usr/bin/env bash
# Configure and build one flavour of Tessera.
#   scripts/build.sh [release|asan|fuzz]   (default: release)
# Build directories: build/, build-asan/, build-fuzz/ (see CMakePresets.json).
set -euo pipefail
cd "$(dirname "$0")/.."

preset=${1:-release}
case "$preset" in
release) dir=build target=all ;;
asan) dir=build-asan target=all ;;
fuzz) dir=build-fuzz target=fuzz_all ;;
-h | --help)
	sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
*)
	echo "build.sh: unknown flavour '$preset' (release, asan or fuzz)" >&2
	exit 2
	;;
esac
echo "build.sh: configuring $preset in $dir/" >&2
cmake --preset "$preset" >/dev/null
echo "build.sh: building $preset with $(nproc) jobs" >&2
set +e +o pipefail
cmake --build "$dir" -j "$(nproc)" --target "$target" 2>&1 |
	grep -Ev '^\[ *[0-9]+%\] (Building|Linking|Built target|Generating)|^Consolidate|^-- '
status=${PIPESTATUS[0]}
set -e
if [ "$status" != 0 ]; then
	echo "build.sh: $preset build FAILED" >&2
	exit "$status"
fi
echo "build.sh: $preset build OK" >&2
