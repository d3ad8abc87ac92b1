#!/usr/bin/env bash
# Prints the build's version, a semantic version as krew and image tags want:
# the nearest v* tag as git describe writes it (v0.1.0, v0.1.0-3-gabc1234), or
# v0.0.0-g<commit> before the first tag; "-dirty" when tracked files changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if v="$(git describe --tags --match 'v[0-9]*' --dirty 2>/dev/null)"; then
  echo "${v}"
  exit 0
fi
commit="$(git rev-parse --short HEAD 2>/dev/null)" || { echo v0.0.0-dev; exit 0; }
dirty=""
git diff --quiet HEAD 2>/dev/null || dirty="-dirty"
echo "v0.0.0-g${commit}${dirty}"
