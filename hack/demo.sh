#!/usr/bin/env bash
# The one-command tour (make demo): a real local control plane with CPU and GPU
# kwok nodes, the zz extender and zz-scheduler and the zz webhook configured as
# manifests/ ships them, then what a developer does: deploy a web app and a GPU
# inference app with kubectl zz, look at the shared GPUs, deploy a new version,
# roll it back. Works on a fresh machine after nothing but git clone.
#
#   make demo                  # the tour, then stops everything it started
#   ZZ_DEMO_KEEP=1 make demo   # leaves the cluster up and prints how to use it
# A demo that fails leaves the cluster up for a look at its logs.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
kubectl() { "${ZZ_BIN}/kubectl" --kubeconfig "${ZZ_KUBECONFIG}" "$@"; }
zz() { "${ZZ_BIN}/kubectl-zz" --kubeconfig "${ZZ_KUBECONFIG}" "$@"; }

# service_account_kubeconfig SA prints the path of a kubeconfig holding a token of
# zz-system/SA, so a server runs here with exactly the rights manifests/ gives it.
service_account_kubeconfig() {
  local path="${ZZ_STATE}/$1.kubeconfig" user="${ZZ_CLUSTER}-admin"
  cp "${ZZ_KUBECONFIG}" "${path}"
  "${ZZ_BIN}/kubectl" --kubeconfig "${path}" config set-credentials "${user}" \
    --token "$(kubectl -n zz-system create token "$1" --duration 24h)" > /dev/null
  "${ZZ_BIN}/kubectl" --kubeconfig "${path}" config unset "users.${user}.client-certificate-data" > /dev/null
  "${ZZ_BIN}/kubectl" --kubeconfig "${path}" config unset "users.${user}.client-key-data" > /dev/null
  echo "${path}"
}

# manifest_args FILE CONTAINER prints that container's arguments in the manifest.
manifest_args() {
  kubectl create --dry-run=client -f "$1" -o jsonpath="{.spec.template.spec.containers[?(@.name==\"$2\")].args[*]}"
}

# wait_url NAME URL: until it answers 200, or fail naming the log.
wait_url() {
  local deadline=$((SECONDS + 60))
  until curl -fsk -o /dev/null --max-time 2 "$2"; do
    starting "$1" || die "$1 exited; its log: ${LOGS}/$1.log"
    ((SECONDS < deadline)) || die "$1 was not ready after 60s; its log: ${LOGS}/$1.log"
    sleep 0.3
  done
}

step "Local cluster (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok)"
"${ZZ_ROOT}/hack/cluster-up.sh" > /dev/null
kubectl get nodes -o custom-columns='NAME:.metadata.name,CPU:.status.allocatable.cpu,MEMORY:.status.allocatable.memory,GPU-SLOTS:.status.allocatable.zz\.io/gpu,POOL:.metadata.labels.zz\.io/pool'

step "Building zz (kubectl-zz, zz-extender, zz-webhook)"
(cd "${ZZ_ROOT}" && CGO_ENABLED=0 go build -o "${ZZ_BIN}/" ./plugins/kubectl-zz ./extender/cmd/zz-extender ./webhook/cmd/zz-webhook)

step "zz-scheduler + extender, as manifests/scheduler ships them (RBAC, config, arguments)"
kubectl apply --server-side --field-manager zz-demo -f "${ZZ_ROOT}/manifests/base/namespace.yaml" \
  -f "${ZZ_ROOT}/manifests/scheduler/rbac.yaml" -f "${ZZ_ROOT}/manifests/webhook/rbac.yaml" > /dev/null
sa_kubeconfig="$(service_account_kubeconfig zz-scheduler)"
extender_port=$((ZZ_PORT_BASE + 890))
# The Deployment's own arguments, on this cluster's port and without the health port.
read -r -a args <<< "$(manifest_args "${ZZ_ROOT}/manifests/scheduler/scheduler.yaml" zz-extender)"
extender_args=()
for a in "${args[@]}"; do
  case "${a}" in
    --listen-address=*) extender_args+=("--listen-address=127.0.0.1:${extender_port}") ;;
    --health-address=*) ;;
    *) extender_args+=("${a}") ;;
  esac
done
[[ ${#extender_args[@]} -gt 0 ]] || die "no zz-extender arguments found in manifests/scheduler/scheduler.yaml"
start_addon zz-extender "${ZZ_BIN}/zz-extender" --kubeconfig "${sa_kubeconfig}" "${extender_args[@]}"
wait_url zz-extender "http://127.0.0.1:${extender_port}/readyz"
{
  sed "s|http://127.0.0.1:8890|http://127.0.0.1:${extender_port}|" "${ZZ_ROOT}/manifests/scheduler/zz-scheduler-config.yaml"
  printf 'clientConnection:\n  kubeconfig: %s\n' "${sa_kubeconfig}"
} > "${ZZ_STATE}/zz-scheduler-config.yaml"
# Published where kubectl zz check reads it (ConfigMap zz-system/zz-scheduler-config):
# with no Deployment, it probes the extenders this names at /readyz.
kubectl -n zz-system create configmap zz-scheduler-config --dry-run=client -o yaml \
  --from-file=zz-scheduler-config.yaml="${ZZ_STATE}/zz-scheduler-config.yaml" |
  kubectl apply --server-side --field-manager zz-demo --force-conflicts -f - > /dev/null
start_addon zz-scheduler "${ZZ_BIN}/kube-scheduler" --config "${ZZ_STATE}/zz-scheduler-config.yaml" \
  --authentication-kubeconfig "${sa_kubeconfig}" --authorization-kubeconfig "${sa_kubeconfig}" \
  --bind-address 127.0.0.1 --secure-port $((ZZ_PORT_BASE + 891)) --cert-dir "${ZZ_STATE}/zz-scheduler-certs"
wait_url zz-scheduler "https://127.0.0.1:$((ZZ_PORT_BASE + 891))/healthz"
# Until it leads (a previous run's lease may still be held), the webhook
# would leave pods to the default scheduler.
deadline=$((SECONDS + 60))
until grep -q "Successfully acquired lease" "${LOGS}/zz-scheduler.log"; do
  ((SECONDS < deadline)) || die "zz-scheduler did not take its lease zz-system/zz-scheduler in 60s; its log: ${LOGS}/zz-scheduler.log"
  sleep 0.5
done
echo "extender on 127.0.0.1:${extender_port}, zz-scheduler profile served and leading"

step "zz webhook (policy ConfigMap, TLS signed by the cluster CA, MutatingWebhookConfiguration)"
webhook_port=$((ZZ_PORT_BASE + 892))
"${ZZ_ROOT}/hack/webhook-cert.sh" "${ZZ_STATE}/webhook" 2> /dev/null
# The shipped policy, named for this cluster: every pool's pods go to
# zz-scheduler and its balance extender, GPU pods to their cards.
policy=$(sed -e "s/^    cluster: my-cluster$/    cluster: ${ZZ_CLUSTER}/" -e 's/^    environment: production$/    environment: demo/' \
  "${ZZ_ROOT}/manifests/webhook/policy.yaml")
grep -q "^    cluster: ${ZZ_CLUSTER}$" <<< "${policy}" \
  || die "manifests/webhook/policy.yaml no longer says 'cluster: my-cluster': update hack/demo.sh"
kubectl apply --server-side --field-manager zz-demo --force-conflicts -f - > /dev/null <<< "${policy}"
# The Deployment's own arguments, with this machine's port and certificate files.
read -r -a args <<< "$(manifest_args "${ZZ_ROOT}/manifests/webhook/webhook.yaml" zz-webhook)"
webhook_args=()
for a in "${args[@]}"; do
  case "${a}" in
    --listen-address=*) webhook_args+=("--listen-address=127.0.0.1:${webhook_port}") ;;
    --tls-cert-file=*) webhook_args+=("--tls-cert-file=${ZZ_STATE}/webhook/tls.crt") ;;
    --tls-private-key-file=*) webhook_args+=("--tls-private-key-file=${ZZ_STATE}/webhook/tls.key") ;;
    --health-address=*) ;; # probes and metrics: not needed here, and :8893 may be taken
    *) webhook_args+=("${a}") ;;
  esac
done
[[ ${#webhook_args[@]} -gt 0 ]] || die "no zz-webhook arguments found in manifests/webhook/webhook.yaml"
start_addon zz-webhook "${ZZ_BIN}/zz-webhook" --kubeconfig "$(service_account_kubeconfig zz-webhook)" \
  --namespace zz-system "${webhook_args[@]}"
wait_url zz-webhook "https://127.0.0.1:${webhook_port}/readyz"
kubectl apply --server-side --field-manager zz-demo -f - > /dev/null <<WEBHOOK
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: zz-webhook-demo}
webhooks:
- name: pods.zz.io
  clientConfig:
    url: https://127.0.0.1:${webhook_port}/mutate-pods
    caBundle: $(base64 -w0 < "${ZZ_STATE}/webhook/ca.crt")
  admissionReviewVersions: [v1]
  sideEffects: None
  reinvocationPolicy: IfNeeded
  timeoutSeconds: 5
  failurePolicy: Fail
  namespaceSelector: {matchLabels: {zz.io/injection: enabled}}
  rules:
  - {operations: [CREATE], apiGroups: [""], apiVersions: [v1], resources: [pods], scope: Namespaced}
WEBHOOK
# The admission policies manifests/policies ships (what a tenant, a node or a
# hand-written GPU pod may not write), as an install applies them.
kubectl apply --server-side --field-manager zz-demo -k "${ZZ_ROOT}/manifests/policies" > /dev/null
kubectl create namespace demo --dry-run=client -o yaml | kubectl apply --server-side --field-manager zz-demo -f - > /dev/null
kubectl label namespace demo zz.io/injection=enabled --overwrite > /dev/null
echo "webhook on 127.0.0.1:${webhook_port}; admission policies of manifests/policies; namespace demo opted in"

step "kubectl zz deploy: a web app and a GPU inference app (no Kubernetes YAML)"
mkdir -p "${ZZ_STATE}/demo"
cat > "${ZZ_STATE}/demo/shop.yaml" <<'APP'
apiVersion: zz.io/v1
kind: App
name: shop
spec:
  type: web
  image: registry.local/shop:1.0.0
  replicas: 3
  cpu: "1"
  memory: 512Mi
  port: 8080
  pool: general
  env: {LOG_LEVEL: info}
APP
cat > "${ZZ_STATE}/demo/infer.yaml" <<'APP'
apiVersion: zz.io/v1
kind: App
name: infer
spec:
  type: rpc
  image: registry.local/infer:2.1.0
  replicas: 4
  cpu: "2"
  memory: 8Gi
  port: 9000
  gpuMem: 10Gi   # no pool: the policy's defaultGPUPool (gpu) has the cards
APP
zz deploy -n demo -f "${ZZ_STATE}/demo/shop.yaml" --timeout 2m
zz deploy -n demo -f "${ZZ_STATE}/demo/infer.yaml" --timeout 2m
echo
kubectl -n demo get pods -o custom-columns='POD:.metadata.name,NODE:.spec.nodeName,SCHEDULER:.spec.schedulerName,CPU-REQ:.spec.containers[0].resources.requests.cpu,CPU-LIM:.spec.containers[0].resources.limits.cpu,NUM_CPUS:.spec.containers[0].env[?(@.name=="NUM_CPUS")].value,GPU-CARD:.metadata.annotations.zz\.io/gpu-indexes'

step "kubectl zz gpu: 4 inference pods of 10Gi share the cards, binpacked"
zz gpu

step "kubectl zz status, then what kubectl zz rebalance would move (--dry-run: nothing moves)"
zz status -n demo
zz rebalance --dry-run

step "kubectl zz logs: every pod of both apps, live, for 3 seconds"
timeout -s INT 3 "${ZZ_BIN}/kubectl-zz" --kubeconfig "${ZZ_KUBECONFIG}" logs -n demo -l 'zz.io/app in (shop,infer)' --tail 1 || true

step "A new version of shop, then kubectl zz rollback"
zz deploy -n demo -f "${ZZ_STATE}/demo/shop.yaml" --image registry.local/shop:1.1.0 --timeout 2m
zz history -n demo shop
zz rollback -n demo shop --timeout 2m
kubectl -n demo get deployment shop -o jsonpath='shop runs {.spec.template.spec.containers[0].image}{"\n"}'

if [[ "${ZZ_DEMO_KEEP:-}" == "1" ]]; then
  step "Done. The cluster, zz-scheduler, extender and webhook keep running:"
  echo "  export KUBECONFIG=${ZZ_KUBECONFIG}"
  echo "  ${ZZ_BIN}/kubectl-zz gpu; ${ZZ_BIN}/kubectl-zz history -n demo shop"
  echo "Stop everything with: make cluster-down   (logs: ${LOGS})"
else
  step "Done. Tearing down (ZZ_DEMO_KEEP=1 make demo leaves it all running)"
  kubectl delete mutatingwebhookconfiguration zz-webhook-demo --ignore-not-found > /dev/null
  "${ZZ_ROOT}/hack/cluster-down.sh"
fi
