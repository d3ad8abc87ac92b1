#!/usr/bin/env bash
# Validates every kustomization under manifests/overlays against a real API server
# with a server-side dry-run: schemas, defaulting, admission and RBAC escalation
# checks run, nothing is stored (but the overlays' namespaces, and cert-manager's
# CRDs where the cluster lacks them).
#
#   hack/verify-manifests.sh                 # the local cluster (cluster-up)
#   KUBECONFIG=... hack/verify-manifests.sh  # any cluster
#   hack/verify-manifests.sh DIR...          # other kustomizations
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

kubeconfig="${KUBECONFIG:-${ZZ_KUBECONFIG}}"
kubectl=("${ZZ_BIN}/kubectl" --kubeconfig "${kubeconfig}")
status=0

# cert-manager's CRDs, so overlays/cert-manager's Issuers and Certificates are
# checked against their real schemas: from the deploy/crds folder of cert-manager's
# Go module at CERT_MANAGER_VERSION (hack/versions.env), applied for real (a CRD
# cannot be dry-run and then used). A cluster that serves them already (one with
# cert-manager installed) is left alone.
cert_manager_crds() {
  local crd missing=() dir
  for crd in certificates issuers clusterissuers certificaterequests; do
    "${kubectl[@]}" get crd "${crd}.cert-manager.io" > /dev/null 2>&1 || missing+=("${crd}")
  done
  [[ ${#missing[@]} -gt 0 ]] || return 0
  # Outside this module, so its go.mod and go.sum stay as they are.
  dir="$(cd "${TMPDIR:-/tmp}" && GOFLAGS=-mod=mod go mod download -json "github.com/cert-manager/cert-manager@${CERT_MANAGER_VERSION}" |
    awk -F'"' '$2 == "Dir" {print $4}')"
  [[ -n "${dir}" && -d "${dir}/deploy/crds" ]] ||
    die "cert-manager ${CERT_MANAGER_VERSION}: no deploy/crds in its Go module (go mod download -json github.com/cert-manager/cert-manager@${CERT_MANAGER_VERSION})"
  "${kubectl[@]}" apply --server-side --field-manager zz-verify -f "${dir}/deploy/crds/" > /dev/null
  "${kubectl[@]}" wait --for condition=Established --timeout 60s -f "${dir}/deploy/crds/" > /dev/null
  log "cert-manager ${CERT_MANAGER_VERSION} CRDs installed from its Go module"
}
cert_manager_crds
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

# Every KubeSchedulerConfiguration under manifests/scheduler (the zz-scheduler's
# and the default scheduler's extender entry) loads in the test cluster's
# kube-scheduler: --write-config-to validates the file, builds the profiles and
# the extenders, writes the result and exits.
if [[ $# -eq 0 ]]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "${tmp}"' EXIT
  for f in "${ZZ_ROOT}"/manifests/scheduler/*.yaml; do
    grep -q '^kind: KubeSchedulerConfiguration$' "${f}" || continue
    { cat "${f}"; printf 'clientConnection:\n  kubeconfig: %s\n' "${kubeconfig}"; } > "${tmp}/config.yaml"
    if out="$("${ZZ_BIN}/kube-scheduler" --config "${tmp}/config.yaml" --write-config-to "${tmp}/out.yaml" 2>&1)"; then
      log "${f#"${ZZ_ROOT}/"}: kube-scheduler loads it ($(grep -c 'schedulerName:' "${tmp}/out.yaml") profiles, $(grep -c 'urlPrefix:' "${tmp}/out.yaml") extenders)"
    else
      echo "error: ${f#"${ZZ_ROOT}/"} is rejected by kube-scheduler:" >&2
      printf '%s\n' "${out}" | tail -5 | sed 's/^/  /' >&2
      status=1
    fi
  done
fi
exit "${status}"
