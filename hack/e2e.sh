#!/usr/bin/env bash
# Runs the e2e suite on the local cluster. A cluster that was already running is
# reused and left running; one this script starts is stopped on exit, whatever
# happens to the tests (a panic included), so no process is left behind.
#
#   hack/e2e.sh [go test flags...]     e.g. hack/e2e.sh -run TestSmoke
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if ! healthy; then
  trap '"${ZZ_ROOT}/hack/cluster-down.sh"' EXIT
  "${ZZ_ROOT}/hack/cluster-up.sh" > /dev/null
fi
cd "${ZZ_ROOT}"
# One package, so go test streams its output instead of buffering it per package
# (the framework's own tests run with the unit tests).
ZZ_E2E_KUBECONFIG="${ZZ_KUBECONFIG}" go test -count=1 -timeout "${E2E_TIMEOUT:-30m}" -v "$@" ./test/e2e/
