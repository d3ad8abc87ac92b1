# Shared by the hack/ scripts: paths, pins and small helpers. Sourced, never run.
# shellcheck shell=bash

ZZ_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=hack/versions.env
source "${ZZ_ROOT}/hack/versions.env"

ZZ_OUTPUT="${ZZ_OUTPUT:-${ZZ_ROOT}/_output}"
ZZ_BIN="${ZZ_BIN:-${ZZ_OUTPUT}/bin}"

# gomod_version MODULE GO.MOD prints the version a go.mod requires.
gomod_version() {
  awk -v mod="$1" '{ if ($1 == "require") { m = $2; v = $3 } else { m = $1; v = $2 } }
    m == mod && v ~ /^v/ { print v; exit }' "$2"
}
K8S_VERSION="$(gomod_version k8s.io/kubernetes "${ZZ_ROOT}/hack/tools/k8s/go.mod")"
ETCD_VERSION="$(gomod_version go.etcd.io/etcd/server/v3 "${ZZ_ROOT}/hack/tools/etcd/go.mod")"

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Cluster layout. Several clusters can run side by side: each has a name and a
# port base; every port is base + a fixed offset.
ZZ_CLUSTER="${ZZ_CLUSTER:-zz}"

# check_cluster_name dies unless ZZ_CLUSTER is a plain name: it becomes a folder
# under _output/cluster that cluster-down removes, so "", "/", ".." or "a/../.."
# must never reach rm -rf.
check_cluster_name() {
  [[ "${ZZ_CLUSTER}" =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$ && "${ZZ_CLUSTER}" != *..* ]] ||
    die "ZZ_CLUSTER=\"${ZZ_CLUSTER}\" is not a cluster name: use letters, digits, '.', '_' and '-' (no '/' or '..', 63 at most)"
}
ZZ_PORT_BASE="${ZZ_PORT_BASE:-16000}"
ZZ_STATE="${ZZ_OUTPUT}/cluster/${ZZ_CLUSTER}"
ZZ_KUBECONFIG="${ZZ_STATE}/kubeconfig"
ETCD_PORT=$((ZZ_PORT_BASE + 379))
ETCD_PEER_PORT=$((ZZ_PORT_BASE + 380))
APISERVER_PORT=$((ZZ_PORT_BASE + 443))
KCM_PORT=$((ZZ_PORT_BASE + 257))
SCHEDULER_PORT=$((ZZ_PORT_BASE + 259))
KWOK_PORT=$((ZZ_PORT_BASE + 250))

# Components in start order; cluster-down stops them in reverse, after the
# zz servers the demo may have started on top (ZZ_ADDONS, each under its
# supervisor: start_addon).
ZZ_COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
ZZ_ADDONS=(zz-extender zz-scheduler zz-webhook)
PKI="${ZZ_STATE}/pki"
LOGS="${ZZ_STATE}/logs"
PIDS="${ZZ_STATE}/pids"

# starting COMPONENT is true while the process just started has not exited: for
# start-up waits, where alive is too strict (under load the background shell may
# not have exec'd the binary yet, and /proc/PID/exe still shows bash).
starting() {
  local pid
  [[ -f "${PIDS}/$1.pid" ]] || return 1
  read -r pid _ < "${PIDS}/$1.pid"
  kill -0 "${pid}" 2>/dev/null
}

# runs_binary PID EXE [SCRIPT] is true while PID runs the binary at EXE, also
# once EXE was rebuilt under it (/proc then says "EXE (deleted)"): a PID
# reused by another program never matches. With SCRIPT (an interpreter's
# PID: a supervisor), SCRIPT must also be one of its arguments.
runs_binary() {
  local got
  got="$(readlink "/proc/$1/exe" 2>/dev/null)" || return 1
  [[ "${got}" == "$2" || "${got}" == "$2 (deleted)" ]] || return 1
  [[ -z "${3:-}" ]] || tr '\0' '\n' 2>/dev/null < "/proc/$1/cmdline" | grep -qxF -- "$3"
}

# alive COMPONENT is true while the process cluster-up started still runs.
alive() {
  local pid exe script
  [[ -f "${PIDS}/$1.pid" ]] || return 1
  read -r pid exe script < "${PIDS}/$1.pid"
  [[ -n "${pid}" ]] && runs_binary "${pid}" "${exe}" "${script}"
}

# start_addon NAME BINARY ARGS... runs a zz server next to the cluster under
# hack/supervise.sh, which starts it again whenever it exits (as a kubelet
# would) and keeps its PID file, PIDS/NAME.pid, for cluster-down and the
# tests; the supervisor's own is PIDS/NAME-supervisor.pid. Returns once the
# server's PID file is written (starting NAME tells then whether it runs).
start_addon() {
  local name=$1 bin=$2 sup="${ZZ_ROOT}/hack/supervise.sh"; shift 2
  if alive "${name}-supervisor" || alive "${name}"; then return 0; fi
  rm -f "${PIDS}/${name}.pid" "${PIDS}/${name}.hold"
  : > "${LOGS}/${name}.log"
  setsid "${sup}" "${name}" "${ZZ_STATE}" "${bin}" "$@" >> "${LOGS}/${name}.log" 2>&1 < /dev/null &
  echo "$! $(readlink -f "$(command -v bash)") ${sup}" > "${PIDS}/${name}-supervisor.pid.new" &&
    mv -f "${PIDS}/${name}-supervisor.pid.new" "${PIDS}/${name}-supervisor.pid"
  local deadline=$((SECONDS + 10))
  until [[ -s "${PIDS}/${name}.pid" ]]; do
    ((SECONDS < deadline)) || die "hack/supervise.sh did not start ${name} in 10s; its log: ${LOGS}/${name}.log"
    sleep 0.1
  done
}

# healthy is true when every component runs and the apiserver is ready.
healthy() {
  local c
  for c in "${ZZ_COMPONENTS[@]}"; do alive "${c}" || return 1; done
  curl -fsS --max-time 2 -o /dev/null --cacert "${PKI}/ca.crt" --cert "${PKI}/admin.crt" --key "${PKI}/admin.key" \
    "https://127.0.0.1:${APISERVER_PORT}/readyz"
}
