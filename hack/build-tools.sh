#!/usr/bin/env bash
# Builds the local cluster's binaries (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, kubelet for the device-plugin e2e, kwok, krew, helm;
# stern on request) into _output/bin.
# Each group is rebuilt only when its pins change: a stamp beside the binaries holds
# the hash of what it was built from.
#
#   hack/build-tools.sh              # the default set
#   hack/build-tools.sh stern
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

[[ -n "${K8S_VERSION}" && -n "${ETCD_VERSION}" ]] || die "cannot read the kubernetes or etcd pin from hack/tools/*/go.mod"
mkdir -p "${ZZ_BIN}"
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"

# stamp_key prints a hash of the inputs a group is built from.
stamp_key() {
  { go env GOVERSION GOOS GOARCH; cat "$@"; } | sha256sum | cut -c1-16
}

# up_to_date GROUP KEY BINARY... is true when every binary exists and was built from KEY.
up_to_date() {
  local group=$1 key=$2; shift 2
  [[ "$(cat "${ZZ_BIN}/.stamp-${group}" 2>/dev/null)" == "${key}" ]] || return 1
  local b; for b in "$@"; do [[ -x "${ZZ_BIN}/${b}" ]] || return 1; done
}

build_k8s() {
  local -a cmds=("$@")
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local ldflags="-s -w" pkg
  # Without these the binaries report v0.0.0 and refuse to start.
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
  done
  local key; key="$(stamp_key "${ZZ_ROOT}/hack/tools/k8s/go.mod" "${ZZ_ROOT}/hack/tools/k8s/go.sum" <(echo "${ldflags}"))"
  local group="k8s-$(IFS=-; echo "${cmds[*]}")"
  up_to_date "${group}" "${key}" "${cmds[@]}" && return 0
  local -a pkgs=(); local c; for c in "${cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/${c}"); done
  log "building ${cmds[*]} ${K8S_VERSION} (cold: several minutes)"
  (cd "${ZZ_ROOT}/hack/tools/k8s" && CGO_ENABLED=0 go build -trimpath -ldflags "${ldflags}" -o "${ZZ_BIN}/" "${pkgs[@]}")
  echo "${key}" > "${ZZ_BIN}/.stamp-${group}"
}

build_etcd() {
  local key; key="$(stamp_key "${ZZ_ROOT}/hack/tools/etcd/go.mod" "${ZZ_ROOT}/hack/tools/etcd/go.sum")"
  up_to_date etcd "${key}" etcd && return 0
  log "building etcd ${ETCD_VERSION}"
  (cd "${ZZ_ROOT}/hack/tools/etcd" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "${ZZ_BIN}/etcd" go.etcd.io/etcd/server/v3)
  echo "${key}" > "${ZZ_BIN}/.stamp-etcd"
}

# build_krew builds krew from hack/tools/krew (its pin), as kubectl-krew too so
# that "kubectl krew" finds it on PATH.
build_krew() {
  local mod="${ZZ_ROOT}/hack/tools/krew"
  local version; version="$(gomod_version sigs.k8s.io/krew "${mod}/go.mod")"
  local ldflags="-s -w -X sigs.k8s.io/krew/internal/version.gitTag=${version}"
  local key; key="$(stamp_key "${mod}/go.mod" "${mod}/go.sum" <(echo "${ldflags}"))"
  if ! up_to_date krew "${key}" krew; then
    log "building krew ${version}"
    (cd "${mod}" && CGO_ENABLED=0 go build -trimpath -ldflags "${ldflags}" -o "${ZZ_BIN}/krew" sigs.k8s.io/krew/cmd/krew)
    echo "${key}" > "${ZZ_BIN}/.stamp-krew"
  fi
  ln -sfn krew "${ZZ_BIN}/kubectl-krew"
}

# build_helm builds helm from hack/tools/helm (its pin): make lint runs helm lint
# and helm template, the e2e suite helm install. The module's k8s.io libraries
# are the control plane's versions, so a warm build cache makes this quick.
build_helm() {
  local mod="${ZZ_ROOT}/hack/tools/helm"
  local version; version="$(gomod_version helm.sh/helm/v4 "${mod}/go.mod")"
  local ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=${version}"
  local key; key="$(stamp_key "${mod}/go.mod" "${mod}/go.sum" <(echo "${ldflags}"))"
  up_to_date helm "${key}" helm && return 0
  log "building helm ${version}"
  (cd "${mod}" && CGO_ENABLED=0 go build -trimpath -ldflags "${ldflags}" -o "${ZZ_BIN}/helm" helm.sh/helm/v4/cmd/helm)
  echo "${key}" > "${ZZ_BIN}/.stamp-helm"
}

# build_go_install NAME MODULE@VERSION builds a released tool with go install.
build_go_install() {
  local name=$1 target=$2
  local key; key="$(echo "${target}" | stamp_key /dev/stdin)"
  up_to_date "${name}" "${key}" "${name}" && return 0
  log "building ${target}"
  # Outside any module so the tool's own go.mod decides its dependencies.
  (cd / && CGO_ENABLED=0 GOBIN="${ZZ_BIN}" go install -trimpath -ldflags "-s -w" "${target}")
  echo "${key}" > "${ZZ_BIN}/.stamp-${name}"
}

build() {
  case "$1" in
    etcd) build_etcd ;;
    control-plane) build_k8s kube-apiserver kube-controller-manager kube-scheduler kubectl ;;
    kubelet) build_k8s kubelet ;;
    kwok) build_go_install kwok "sigs.k8s.io/kwok/cmd/kwok@${KWOK_VERSION}" ;;
    stern) build_go_install stern "github.com/stern/stern@${STERN_VERSION}" ;;
    krew) build_krew ;;
    helm) build_helm ;;
    *) die "unknown tool '$1'; known: etcd control-plane kubelet kwok krew helm stern" ;;
  esac
}

targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(etcd control-plane kubelet kwok krew helm)
for t in "${targets[@]}"; do build "$t"; done
