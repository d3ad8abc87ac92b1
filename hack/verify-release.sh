#!/usr/bin/env bash
# Installs every platform of the krew manifest with the real krew, offline:
# each archive through --archive, KREW_OS/KREW_ARCH set to its platform, in a
# throw-away KREW_ROOT; what krew-index's validate-krew-manifest checks, minus
# the download. Fails unless every archive installs (sha256, files, bin) with
# its LICENSE, and the manifest lists exactly the archives. Run by make release.
#
#   hack/verify-release.sh MANIFEST RELEASE_DIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

manifest=$1 dir=$2
"${ZZ_ROOT}/hack/build-tools.sh" krew
version="$(awk '$1 == "version:" {print $2; exit}' "${manifest}")"
[[ -n "${version}" ]] || die "${manifest} has no spec.version"
tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT

n=0
for archive in "${dir}/kubectl-zz_${version}_"*.tar.gz; do
  [[ -f "${archive}" ]] || die "no archive of ${version} in ${dir}"
  platform="${archive##*/kubectl-zz_"${version}"_}"; platform="${platform%.tar.gz}"
  os="${platform%_*}" arch="${platform#*_}"
  root="${tmp}/${os}-${arch}"
  if ! out="$(HOME="${tmp}" KREW_ROOT="${root}" KREW_OS="${os}" KREW_ARCH="${arch}" KREW_NO_UPGRADE_CHECK=1 \
      "${ZZ_BIN}/krew" install --manifest="${manifest}" --archive="${archive}" 2>&1)"; then
    die "krew cannot install ${archive##*/} for ${os}/${arch}:
${out}"
  fi
  bin=kubectl-zz; [[ "${os}" == windows ]] && bin=kubectl-zz.exe
  [[ -f "${root}/store/zz/${version}/LICENSE" ]] || die "${archive##*/}: krew installed no LICENSE"
  [[ -e "${root}/bin/${bin}" ]] || die "${archive##*/}: krew linked no ${bin}"
  n=$((n + 1))
done
platforms="$(grep -c '^    sha256: ' "${manifest}")"
[[ "${platforms}" == "${n}" ]] || die "${manifest} lists ${platforms} platforms, ${dir} holds ${n} archives of ${version}"
log "krew installs all ${n} platforms of ${manifest} (${version})"
