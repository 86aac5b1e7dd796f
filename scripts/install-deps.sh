#!/usr/bin/env bash
# Installs every Debian 12 package that building, testing and running the
# Tessera demo needs. Idempotent: apt-get skips what is installed.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then
	SUDO="sudo"
fi

PACKAGES=(
	# toolchain
	build-essential cmake pkg-config git clang libclang-rt-14-dev
	# runtime libraries (DESIGN.md: each for its own job)
	liburing-dev libuv1-dev libprotobuf-c-dev protobuf-c-compiler libnuma-dev
	libraft-dev libisal-dev
	# optional RDMA transport (builds without a device; runs only where one exists)
	libibverbs-dev librdmacm-dev
	# tests and benchmarks
	check libsubunit-dev fio jq python3 iproute2 procps util-linux
	# deployment tests
	ansible ansible-lint
	# iSCSI frontend (CHAP MD5 from libcrypto) and its tests (libiscsi tools, tgt as reference)
	libssl-dev libiscsi-bin libiscsi-dev tgt
	# vhost frontend tests (QEMU guests; the guest kernel .deb is downloaded, not installed)
	qemu-system-x86 busybox-static
)

echo "install-deps: apt-get update" >&2
$SUDO apt-get update -q
echo "install-deps: installing ${#PACKAGES[@]} packages" >&2
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
echo "install-deps: done" >&2
