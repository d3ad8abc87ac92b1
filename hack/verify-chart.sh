#!/usr/bin/env bash
# helm lint and helm template of the zz chart (a folder or a packaged .tgz),
# with its defaults and with every alternative value set (make lint on
# manifests/helm/zz, make release on the package). Builds helm first (cached;
# hack/build-tools.sh helm). That the chart renders the same objects as the
# kustomize overlays is TestChartEqualsKustomize's (hack/tools/helm).
#
#   hack/verify-chart.sh manifests/helm/zz
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

chart=${1:?usage: hack/verify-chart.sh CHART}
"${ZZ_ROOT}/hack/build-tools.sh" helm
helm="${ZZ_BIN}/helm"
variants=(
  ""
  "--set certificates.mode=cert-manager"
  "--set devicePlugin.enabled=false"
  "--set scheduler.enabled=false,webhook.enabled=false"
  "--set global.imageRegistry=mirror.example:5000,scheduler.strategy.type=Recreate,devicePlugin.updateStrategy.type=OnDelete --set-json scheduler.topologySpreadConstraints=[{\"maxSkew\":1,\"topologyKey\":\"topology.kubernetes.io/zone\",\"whenUnsatisfiable\":\"ScheduleAnyway\"}]"
)
for v in "${variants[@]}"; do
  # shellcheck disable=SC2086 # each variant is a list of flags
  out="$("${helm}" lint --strict "${chart}" ${v} 2>&1)" || die "helm lint ${chart} ${v}:
${out}"
  # shellcheck disable=SC2086
  n="$("${helm}" template zz "${chart}" ${v} | grep -c '^kind: ')" || die "helm template ${chart} ${v} failed"
  log "${chart}${v:+ ${v}}: helm lint clean, ${n} objects"
done
