#!/usr/bin/env bash
# Makes sure this Debian host can cross-build the cgo device plugin for an
# architecture: Debian's cross compiler and C library (crossbuild-essential-ARCH
# brings aarch64-linux-gnu-gcc and libc6-dev-arm64-cross), and the static
# qemu-user emulator (qemu-user-static): hack/tools/images runs each arm64
# image's --version with it, chrooted into the image's files.
# Idempotent: apt runs only when something is missing.
#
#   hack/cross-toolchain.sh arm64      # prints the C compiler to use as CC
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

arch="${1:-arm64}"
case "${arch}" in
  arm64) triple=aarch64-linux-gnu qemu=qemu-aarch64-static ;;
  amd64) triple=x86_64-linux-gnu qemu="" ;;
  *) die "cross-toolchain.sh: no cross toolchain known for ${arch} (arm64, amd64)" ;;
esac

# Building for the host's own architecture needs the host's gcc only.
if [[ "$(go env GOHOSTARCH)" == "${arch}" ]]; then
  command -v gcc >/dev/null || die "no gcc on this host: apt-get install gcc (the device plugin is cgo)"
  echo gcc
  exit 0
fi

cc="${triple}-gcc"
want=()
command -v "${cc}" >/dev/null && [[ -f "/usr/${triple}/include/stdio.h" ]] || want+=("crossbuild-essential-${arch}")
[[ -z "${qemu}" ]] || command -v "${qemu}" >/dev/null || want+=(qemu-user-static)
if ((${#want[@]} > 0)); then
  command -v apt-get >/dev/null ||
    die "the ${arch} cross toolchain (${cc}, ${qemu}) is missing and this host has no apt-get: install ${want[*]} or their equivalents, or build the images for linux/amd64 only (make images IMAGE_PLATFORMS=linux/amd64)"
  sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null || die "installing ${want[*]} needs root (or sudo)"
    sudo=(sudo)
  fi
  log "installing ${want[*]} (apt) for linux/${arch} builds"
  # Recommends stay on: they bring the cross C library.
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >&2 ||
    die "apt-get install ${want[*]} failed"
  command -v "${cc}" >/dev/null || die "${cc} is still missing after installing ${want[*]}"
fi
echo "${cc}"
