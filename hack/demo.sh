#!/usr/bin/env bash
# The one-command tour: brings the local cluster up (building what it needs on a
# fresh machine) and shows what zz sees of it. Later parts of zz extend it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"${ZZ_ROOT}/hack/cluster-up.sh" > /dev/null
kubectl() { "${ZZ_BIN}/kubectl" --kubeconfig "${ZZ_KUBECONFIG}" "$@"; }

echo "== nodes (kwok), their pools and shared-GPU slots (zz.io/gpu; 16 per card)"
kubectl get nodes -o custom-columns='NAME:.metadata.name,STATUS:.status.conditions[?(@.type=="Ready")].type,CPU:.status.allocatable.cpu,MEMORY:.status.allocatable.memory,GPU-SLOTS:.status.allocatable.zz\.io/gpu,POOL:.metadata.labels.zz\.io/pool'
echo
echo "The cluster keeps running. Use it with:"
echo "  export KUBECONFIG=${ZZ_KUBECONFIG}"
echo "Stop it with: make cluster-down"
