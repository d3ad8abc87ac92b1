#!/usr/bin/env bash
# Starts a real control plane on 127.0.0.1 with no Docker: etcd, kube-apiserver,
# kube-controller-manager, kube-scheduler, and kwok simulating the nodes declared
# in hack/cluster/nodes.yaml (and their pods' lifecycle and logs).
#
# Idempotent: a healthy running cluster is left alone. Prints the export line for
# its kubeconfig on stdout; progress and errors go to stderr.
#
#   hack/cluster-up.sh                              # cluster "zz", ports 16xxx
#   ZZ_CLUSTER=b ZZ_PORT_BASE=17000 hack/cluster-up.sh
#   ZZ_NODES=path/to/nodes.yaml hack/cluster-up.sh  # another node set
#   ZZ_SKIP_BUILD=1 ZZ_BIN=dir hack/cluster-up.sh  # binaries from elsewhere
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
check_cluster_name

CLUSTER_DIR="${ZZ_ROOT}/hack/cluster"
ZZ_NODES="${ZZ_NODES:-${CLUSTER_DIR}/nodes.yaml}"
KUBECTL="${ZZ_BIN}/kubectl"

# ---- helpers -----------------------------------------------------------------

# fail COMPONENT MESSAGE stops what this run started, keeps the logs, and
# prints one error naming the cause and the log to read.
fail() {
  local component=$1 msg=$2 logfile="${LOGS}/$1.log"
  {
    echo "error: ${component} ${msg}"
    if [[ -s "${logfile}" ]]; then
      echo "  its log: ${logfile}"
      echo "  last lines:"
      tail -n 15 "${logfile}" | sed 's/^/    /'
    fi
  } >&2
  ZZ_KEEP_STATE=1 "${ZZ_ROOT}/hack/cluster-down.sh" >/dev/null 2>&1 || true
  exit 1
}

# port_owner PORT prints who listens on PORT, or nothing when it is free.
port_owner() {
  ss -Htlnp "sport = :$1" 2>/dev/null | awk '{print $NF}' | head -n1
}

check_ports() {
  local name port owner
  for name in ETCD_PORT ETCD_PEER_PORT APISERVER_PORT KCM_PORT SCHEDULER_PORT KWOK_PORT; do
    port=${!name}
    owner="$(port_owner "${port}")"
    if [[ -n "${owner}" ]]; then
      echo "error: port ${port} (${name}) is taken by ${owner}; stop that process or pick other ports with ZZ_PORT_BASE=<n> (now ${ZZ_PORT_BASE})" >&2
      exit 1
    fi
  done
}

# start NAME BINARY ARGS... runs a component in its own session, logging to
# logs/NAME.log; the PID file holds the PID and the binary for cluster-down.
start() {
  local name=$1 bin=$2; shift 2
  [[ -x "${bin}" ]] || fail "${name}" "binary ${bin} is missing; run hack/build-tools.sh"
  setsid "${bin}" "$@" > "${LOGS}/${name}.log" 2>&1 < /dev/null &
  # The PID file names the resolved binary: /proc/PID/exe shows it, not a symlink.
  echo "$! $(readlink -f "${bin}")" > "${PIDS}/${name}.pid"
}

# wait_ready NAME SECONDS CURL_ARGS... polls an endpoint until it answers 2xx.
wait_ready() {
  local name=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until curl -fsS --max-time 2 -o /dev/null "$@" 2>/dev/null; do
    starting "${name}" || fail "${name}" "exited during start-up"
    ((SECONDS < deadline)) || fail "${name}" "was not ready after ${timeout}s (polled: ${*: -1})"
    sleep 0.2
  done
}

# ---- certificates and kubeconfigs ---------------------------------------------

# cert NAME SUBJECT [SANS] makes an EC key and a certificate signed by the CA.
cert() {
  local name=$1 subj=$2 sans=${3:-}
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "${PKI}/${name}.key" 2>/dev/null
  openssl req -new -key "${PKI}/${name}.key" -subj "${subj}" -out "${PKI}/${name}.csr" 2>/dev/null
  local ext="${PKI}/${name}.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [[ -n "${sans}" ]]; then
      echo "extendedKeyUsage=serverAuth,clientAuth"
      echo "subjectAltName=${sans}"
    else
      echo "extendedKeyUsage=clientAuth"
    fi
  } > "${ext}"
  openssl x509 -req -in "${PKI}/${name}.csr" -CA "${PKI}/ca.crt" -CAkey "${PKI}/ca.key" -CAcreateserial \
    -days 365 -extfile "${ext}" -out "${PKI}/${name}.crt" 2>/dev/null
  rm -f "${PKI}/${name}.csr" "${ext}"
}

# kubeconfig NAME CERT writes a self-contained kubeconfig for one identity,
# readable by its owner only: it holds a private key (admin's and kwok's are
# system:masters).
kubeconfig() {
  local file=$1 id=$2
  install -m 0600 /dev/null "${file}"
  cat > "${file}" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: ${ZZ_CLUSTER}
  cluster:
    server: https://127.0.0.1:${APISERVER_PORT}
    certificate-authority-data: $(base64 -w0 < "${PKI}/ca.crt")
users:
- name: ${ZZ_CLUSTER}-${id}
  user:
    client-certificate-data: $(base64 -w0 < "${PKI}/${id}.crt")
    client-key-data: $(base64 -w0 < "${PKI}/${id}.key")
contexts:
- name: ${ZZ_CLUSTER}
  context:
    cluster: ${ZZ_CLUSTER}
    user: ${ZZ_CLUSTER}-${id}
current-context: ${ZZ_CLUSTER}
KUBECONFIG
}

make_pki() {
  # Keys, and the kubeconfigs that embed them, are the owner's only.
  mkdir -p -m 0700 "${PKI}"
  chmod 0700 "${PKI}"
  local old_umask
  old_umask="$(umask)"
  umask 077
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
    -subj "/CN=zz-test-ca" -keyout "${PKI}/ca.key" -out "${PKI}/ca.crt" 2>/dev/null
  cert apiserver "/CN=kube-apiserver" \
    "IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert admin "/O=system:masters/CN=zz-admin"
  cert kube-controller-manager "/CN=system:kube-controller-manager"
  cert kube-scheduler "/CN=system:kube-scheduler"
  # kwok plays every kubelet (node and pod status, leases): cluster-admin is simplest.
  cert kwok "/O=system:masters/CN=kwok"
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "${PKI}/sa.key" 2>/dev/null
  openssl pkey -in "${PKI}/sa.key" -pubout -out "${PKI}/sa.pub" 2>/dev/null
  local id
  for id in admin kube-controller-manager kube-scheduler kwok; do
    kubeconfig "${ZZ_STATE}/${id}.kubeconfig" "${id}"
  done
  cp "${ZZ_STATE}/admin.kubeconfig" "${ZZ_KUBECONFIG}"
  chmod 0600 "${ZZ_KUBECONFIG}"
  umask "${old_umask}"
}

# ---- components -----------------------------------------------------------------

start_etcd() {
  start etcd "${ZZ_BIN}/etcd" \
    --name default --data-dir "${ZZ_STATE}/etcd" --unsafe-no-fsync \
    --listen-client-urls "http://127.0.0.1:${ETCD_PORT}" --advertise-client-urls "http://127.0.0.1:${ETCD_PORT}" \
    --listen-peer-urls "http://127.0.0.1:${ETCD_PEER_PORT}" --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PEER_PORT}" \
    --initial-cluster "default=http://127.0.0.1:${ETCD_PEER_PORT}" \
    --listen-metrics-urls "" --quota-backend-bytes 4294967296
  wait_ready etcd 30 "http://127.0.0.1:${ETCD_PORT}/health"
}

# --enable-admission-plugins NodeRestriction: on in every kubeadm and managed
# cluster, and what zz's node trust rests on (README "Trust model"): without
# it a node's credentials get a token bound to another node's pod, and write
# other nodes' pods' status; kubectl zz check fails without it.
# --enable-aggregator-routing: the apiserver dials a Service (a webhook's
# clientConfig.service) at one of its endpoints, not at its ClusterIP, which
# nothing routes on this machine; the e2e suite calls the webhook through the
# manifests' Service that way.
start_apiserver() {
  start kube-apiserver "${ZZ_BIN}/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:${ETCD_PORT}" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "${APISERVER_PORT}" \
    --endpoint-reconciler-type none --cert-dir "${PKI}" \
    --tls-cert-file "${PKI}/apiserver.crt" --tls-private-key-file "${PKI}/apiserver.key" \
    --client-ca-file "${PKI}/ca.crt" \
    --service-account-key-file "${PKI}/sa.pub" --service-account-signing-key-file "${PKI}/sa.key" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction --allow-privileged \
    --service-cluster-ip-range 10.96.0.0/16 \
    --enable-aggregator-routing \
    --kubelet-preferred-address-types InternalIP \
    --max-requests-inflight 1000 --max-mutating-requests-inflight 500 \
    --v 1
  wait_ready kube-apiserver 90 --cacert "${PKI}/ca.crt" --cert "${PKI}/admin.crt" --key "${PKI}/admin.key" \
    "https://127.0.0.1:${APISERVER_PORT}/readyz"
}

start_controller_manager() {
  start kube-controller-manager "${ZZ_BIN}/kube-controller-manager" \
    --kubeconfig "${ZZ_STATE}/kube-controller-manager.kubeconfig" \
    --authentication-kubeconfig "${ZZ_STATE}/kube-controller-manager.kubeconfig" \
    --authorization-kubeconfig "${ZZ_STATE}/kube-controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "${KCM_PORT}" --cert-dir "${PKI}/kcm" \
    --leader-elect=false --controllers '*,-node-ipam-controller' \
    --use-service-account-credentials --root-ca-file "${PKI}/ca.crt" \
    --service-account-private-key-file "${PKI}/sa.key" \
    --cluster-signing-cert-file "${PKI}/ca.crt" --cluster-signing-key-file "${PKI}/ca.key" \
    --kube-api-qps 200 --kube-api-burst 400 --v 1
  wait_ready kube-controller-manager 60 -k "https://127.0.0.1:${KCM_PORT}/healthz"
}

start_scheduler() {
  local config="${ZZ_STATE}/kube-scheduler.yaml"
  sed -e "s|@KUBECONFIG@|${ZZ_STATE}/kube-scheduler.kubeconfig|" \
    "${ZZ_SCHEDULER_CONFIG:-${CLUSTER_DIR}/kube-scheduler.yaml}" > "${config}"
  start kube-scheduler "${ZZ_BIN}/kube-scheduler" --config "${config}" \
    --authentication-kubeconfig "${ZZ_STATE}/kube-scheduler.kubeconfig" \
    --authorization-kubeconfig "${ZZ_STATE}/kube-scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port "${SCHEDULER_PORT}" --cert-dir "${PKI}/scheduler" --v 1
  wait_ready kube-scheduler 60 -k "https://127.0.0.1:${SCHEDULER_PORT}/healthz"
}

start_kwok() {
  local config="${ZZ_STATE}/kwok.yaml"
  # One pod log for every fake container; tests append to it to make lines appear.
  if [[ ! -f "${ZZ_STATE}/pod.log" ]]; then
    local i now
    now="$(date -u +%Y-%m-%dT%H:%M:%S)"
    for i in $(seq 1 20); do
      printf '%s.%09dZ stdout F zz test log line %d\n' "${now}" "${i}" "${i}"
    done > "${ZZ_STATE}/pod.log"
  fi
  # Every fake container's previous run (kubectl zz logs --previous).
  [[ -f "${ZZ_STATE}/pod-previous.log" ]] || : > "${ZZ_STATE}/pod-previous.log"
  {
    sed -e "s|@PORT@|${KWOK_PORT}|g" -e "s|@LOGFILE@|${ZZ_STATE}/pod.log|g" \
      -e "s|@PREVLOGFILE@|${ZZ_STATE}/pod-previous.log|g" "${CLUSTER_DIR}/kwok.yaml"
    local stage
    for stage in "${CLUSTER_DIR}"/kwok-stages/*.yaml; do echo "---"; cat "${stage}"; done
  } > "${config}"
  start kwok "${ZZ_BIN}/kwok" --kubeconfig "${ZZ_STATE}/kwok.kubeconfig" --config "${config}"
  wait_ready kwok 30 "http://127.0.0.1:${KWOK_PORT}/healthz"
}

create_nodes() {
  "${KUBECTL}" --kubeconfig "${ZZ_KUBECONFIG}" create -f "${ZZ_NODES}" > "${LOGS}/nodes.log" 2>&1 \
    || fail nodes "could not be created from ${ZZ_NODES}"
  "${KUBECTL}" --kubeconfig "${ZZ_KUBECONFIG}" wait --for=condition=Ready nodes --all --timeout=60s >> "${LOGS}/nodes.log" 2>&1 \
    || fail nodes "did not become Ready in 60s (kwok manages nodes annotated kwok.x-k8s.io/node=fake; see also ${LOGS}/kwok.log)"
}

# ---- main -------------------------------------------------------------------------

if [[ -d "${ZZ_STATE}" ]]; then
  if healthy; then
    log "cluster ${ZZ_CLUSTER} is already running"
    echo "export KUBECONFIG=${ZZ_KUBECONFIG}"
    exit 0
  fi
  log "cluster ${ZZ_CLUSTER}: cleaning up a stopped or broken previous run"
  "${ZZ_ROOT}/hack/cluster-down.sh" >/dev/null 2>&1
fi

[[ "${ZZ_SKIP_BUILD:-}" == "1" ]] || "${ZZ_ROOT}/hack/build-tools.sh" etcd control-plane kwok
check_ports
if [[ "$(cat /proc/sys/fs/inotify/max_user_instances)" -lt 2048 ]]; then
  # kwok follows every log stream with its own inotify instance.
  sysctl -qw fs.inotify.max_user_instances=2048 2>/dev/null \
    || log "warning: fs.inotify.max_user_instances is low and could not be raised (not root?); following more than ~120 pod logs will fail"
fi

mkdir -p "${LOGS}" "${PIDS}"
started=${SECONDS}
log "cluster ${ZZ_CLUSTER}: certificates"; make_pki
log "cluster ${ZZ_CLUSTER}: etcd on :${ETCD_PORT}"; start_etcd
log "cluster ${ZZ_CLUSTER}: kube-apiserver on :${APISERVER_PORT}"; start_apiserver
log "cluster ${ZZ_CLUSTER}: kube-controller-manager, kube-scheduler, kwok"
start_controller_manager
start_scheduler
start_kwok
create_nodes
log "cluster ${ZZ_CLUSTER} is up in $((SECONDS - started))s: $("${KUBECTL}" --kubeconfig "${ZZ_KUBECONFIG}" get nodes --no-headers | wc -l) nodes; logs in ${LOGS}"
echo "export KUBECONFIG=${ZZ_KUBECONFIG}"
