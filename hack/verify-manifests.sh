#!/usr/bin/env bash
# Validates every kustomization under manifests/overlays against a real API server
# with a server-side dry-run: schemas, defaulting, admission and RBAC escalation
# checks run, nothing is stored.
#
#   hack/verify-manifests.sh                 # the local cluster (cluster-up)
#   KUBECONFIG=... hack/verify-manifests.sh  # any cluster
#   hack/verify-manifests.sh DIR...          # other kustomizations
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

kubeconfig="${KUBECONFIG:-${ZZ_KUBECONFIG}}"
kubectl=("${ZZ_BIN}/kubectl" --kubeconfig "${kubeconfig}")
status=0
overlays=("$@")
[[ ${#overlays[@]} -gt 0 ]] || overlays=("${ZZ_ROOT}"/manifests/overlays/*/)
for dir in "${overlays[@]}"; do
  name="${dir#"${ZZ_ROOT}/"}"
  if ! rendered="$("${kubectl[@]}" kustomize "${dir}" 2>&1)"; then
    echo "error: ${name}: kustomize failed: ${rendered}" >&2
    status=1
    continue
  fi
  # A dry-run cannot put objects in a namespace that does not exist yet: create
  # the overlay's namespaces for real (empty, harmless), dry-run the rest.
  for ns in $(printf '%s\n' "${rendered}" | awk '/^---/ {kind = ""} /^kind: / {kind = $2} kind == "Namespace" && /^  name: / {print $2}'); do
    "${kubectl[@]}" create namespace "${ns}" --dry-run=client -o yaml | "${kubectl[@]}" apply --server-side --field-manager zz-verify -f - > /dev/null
  done
  if out="$(printf '%s\n' "${rendered}" | "${kubectl[@]}" apply --server-side --force-conflicts --dry-run=server --field-manager zz-verify -f - 2>&1)"; then
    log "${name}: $(printf '%s\n' "${out}" | wc -l) objects valid"
  else
    echo "error: ${name} is rejected by the API server:" >&2
    printf '%s\n' "${out}" | grep -v 'serverside-applied (server dry run)' | sed 's/^/  /' >&2
    status=1
  fi
done
exit "${status}"
