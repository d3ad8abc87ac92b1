#!/usr/bin/env bash
# Fails when the product's k8s.io libraries drift from the Kubernetes release the
# test cluster is built from: every staging module in go.mod must be v0.<minor>.<patch>
# of hack/tools/k8s's k8s.io/kubernetes, and so must every replace there.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

want="v0.${K8S_VERSION#v1.}"
staging="$(awk '/=> k8s.io\// {print $1}' "${ZZ_ROOT}/hack/tools/k8s/go.mod" | sort -u)"
bad=0
while read -r mod; do
  got="$(gomod_version "${mod}" "${ZZ_ROOT}/go.mod")"
  if [[ -n "${got}" && "${got}" != "${want}" ]]; then
    echo "error: go.mod requires ${mod} ${got}; want ${want} to match k8s.io/kubernetes ${K8S_VERSION} (hack/tools/k8s/go.mod)" >&2
    bad=1
  fi
done <<< "${staging}"
while read -r mod ver; do
  if [[ "${ver}" != "${want}" ]]; then
    echo "error: hack/tools/k8s/go.mod replaces ${mod} with ${ver}; want ${want}" >&2
    bad=1
  fi
done < <(awk '/=> k8s.io\// {print $1, $4}' "${ZZ_ROOT}/hack/tools/k8s/go.mod")
exit "${bad}"
