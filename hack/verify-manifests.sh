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

# CRDs that are not part of Kubernetes, so the objects using them are checked
# against their real schemas: cert-manager's (overlays/cert-manager) from the
# deploy/crds folder of its Go module at CERT_MANAGER_VERSION, the Prometheus
# Operator's (components/monitoring) from the example/prometheus-operator-crd
# folder of its Go module at PROMETHEUS_OPERATOR_VERSION (hack/versions.env);
# applied for real (a CRD cannot be dry-run and then used). A cluster that
# serves them already is left alone.
#   module_crds MODULE VERSION FOLDER GROUP PLURAL...
module_crds() {
  local module=$1 version=$2 folder=$3 group=$4; shift 4
  local crd missing=() dir f files=()
  for crd in "$@"; do
    "${kubectl[@]}" get crd "${crd}.${group}" > /dev/null 2>&1 || missing+=("${crd}")
  done
  [[ ${#missing[@]} -gt 0 ]] || return 0
  # Outside this module, so its go.mod and go.sum stay as they are.
  dir="$(cd "${TMPDIR:-/tmp}" && GOFLAGS=-mod=mod go mod download -json "${module}@${version}" |
    awk -F'"' '$2 == "Dir" {print $4}')"
  [[ -n "${dir}" && -d "${dir}/${folder}" ]] ||
    die "${module} ${version}: no ${folder} in its Go module (go mod download -json ${module}@${version})"
  for crd in "${missing[@]}"; do
    f="$(grep -lE "^ +name: ${crd}\.${group}\s*\$" "${dir}/${folder}"/*.yaml | head -1)"
    [[ -n "${f}" ]] || die "${module} ${version}: no CRD ${crd}.${group} in ${folder}"
    files+=(-f "${f}")
  done
  "${kubectl[@]}" apply --server-side --field-manager zz-verify "${files[@]}" > /dev/null
  "${kubectl[@]}" wait --for condition=Established --timeout 60s "${files[@]}" > /dev/null
  log "${module} ${version}: CRDs ${missing[*]} installed from its Go module"
}
module_crds github.com/cert-manager/cert-manager "${CERT_MANAGER_VERSION}" deploy/crds cert-manager.io \
  certificates issuers clusterissuers certificaterequests
module_crds github.com/prometheus-operator/prometheus-operator "${PROMETHEUS_OPERATOR_VERSION}" \
  example/prometheus-operator-crd monitoring.coreos.com podmonitors prometheusrules

# The default overlay with every optional component (components/monitoring):
# kustomize takes only relative paths, so from a folder under _output.
with_components="${ZZ_ROOT}/_output/verify-manifests/default-with-components"
mkdir -p "${with_components}"
{
  printf 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../../../manifests/overlays/default\ncomponents:\n'
  for c in "${ZZ_ROOT}"/manifests/components/*/; do
    c="${c%/}"; [[ "${c##*/}" == images ]] || printf -- '- ../../../manifests/components/%s\n' "${c##*/}"
  done
} > "${with_components}/kustomization.yaml"
overlays=("$@")
[[ ${#overlays[@]} -gt 0 ]] || overlays=("${ZZ_ROOT}"/manifests/overlays/*/ "${with_components}")
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
