#!/usr/bin/env bash
# webhook-cert.sh [OUT_DIR] [SAN...] makes a serving certificate for zz-webhook
# signed by the local test cluster's CA (_output/cluster/<name>/pki), so the
# apiserver trusts it with that CA as caBundle. Default SANs: IP 127.0.0.1 and
# the in-cluster service names. Writes OUT_DIR/tls.crt, tls.key, ca.crt.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

out="${1:-${ZZ_STATE}/webhook}"
shift || true
sans=("$@")
if [[ ${#sans[@]} -eq 0 ]]; then
  sans=(IP:127.0.0.1 DNS:zz-webhook.zz-system.svc DNS:zz-webhook.zz-system.svc.cluster.local)
fi
[[ -f "${PKI}/ca.crt" && -f "${PKI}/ca.key" ]] || die "no cluster CA in ${PKI}; run hack/cluster-up.sh first"

mkdir -p "${out}"
san_list="$(IFS=,; echo "${sans[*]}")"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "${out}/tls.key.new" -subj "/CN=zz-webhook" -out "${out}/tls.csr" 2>/dev/null
openssl x509 -req -in "${out}/tls.csr" -CA "${PKI}/ca.crt" -CAkey "${PKI}/ca.key" -CAcreateserial \
  -days 365 -extfile <(printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n' "${san_list}") \
  -out "${out}/tls.crt.new" 2>/dev/null
# Replace key and certificate together, so a running webhook reloads a matching pair.
mv "${out}/tls.key.new" "${out}/tls.key"
mv "${out}/tls.crt.new" "${out}/tls.crt"
cp "${PKI}/ca.crt" "${out}/ca.crt"
rm -f "${out}/tls.csr"
log "webhook serving certificate for ${san_list} in ${out} (caBundle: base64 -w0 ${out}/ca.crt)"
