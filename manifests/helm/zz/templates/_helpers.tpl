{{/* zz.image renders repository:tag, pinned with @digest when one is given. */}}
{{- define "zz.image" -}}
{{ .repository }}:{{ .tag }}{{ with .digest }}@{{ . }}{{ end }}
{{- end -}}

{{/* zz.certMode is the validated certificate mode. */}}
{{- define "zz.certMode" -}}
{{- $m := .Values.certificates.mode -}}
{{- if not (has $m (list "self-signed" "cert-manager")) -}}
{{- fail (printf "certificates.mode %q: want self-signed or cert-manager" $m) -}}
{{- end -}}
{{- $m -}}
{{- end -}}

{{/* zz.systemNamespace is true when something runs in zz-system. */}}
{{- define "zz.systemNamespace" -}}
{{- if or .Values.scheduler.enabled .Values.webhook.enabled }}true{{ end -}}
{{- end -}}

{{/* zz.certgenPod is the pod template of the certgen Job and CronJob. */}}
{{- define "zz.certgenPod" -}}
metadata:
  labels:
    app.kubernetes.io/name: zz-webhook-certgen
    app.kubernetes.io/part-of: zz
spec:
  serviceAccountName: zz-webhook-certgen
  restartPolicy: OnFailure
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.certificates.certgen.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.certificates.certgen.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: 65532
    runAsGroup: 65532
    seccompProfile:
      type: RuntimeDefault
  containers:
  - name: certgen
    image: {{ include "zz.image" .Values.images.webhook }}
    args:
    - certgen
    - --secret=zz-webhook-tls
    - --service=zz-webhook
    - --mutating-webhook-configuration=zz-webhook
    - --cert-validity=8760h
    - --renew-before=720h
    - --ca-validity=87600h
    - --v={{ .Values.logLevel }}
    env:
    - name: POD_NAMESPACE
      valueFrom:
        fieldRef:
          fieldPath: metadata.namespace
    resources:
      {{- toYaml .Values.certificates.certgen.resources | nindent 6 }}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities:
        drop: [ALL]
{{- end -}}

{{/*
zz.labels are the recommended labels of every object the chart renders
(metadata.labels; never a selector): Helm's own, and the ones the kustomize
install carries too (part-of, component and, for a server's objects, name).
Call it with (dict "ctx" $ "component" "webhook" "name" "zz-webhook"); name
may be left out.
*/}}
{{- define "zz.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name (.ctx.Chart.Version | replace "+" "_") }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- with .ctx.Chart.AppVersion }}
app.kubernetes.io/version: {{ . | quote }}
{{- end }}
app.kubernetes.io/part-of: zz
app.kubernetes.io/component: {{ .component }}
{{- with .name }}
app.kubernetes.io/name: {{ . }}
{{- end }}
{{- end -}}

{{/*
zz.labeled renders one YAML document of files/ (.doc, an object shared with
manifests/) with zz.labels (and .extra, a map, e.g. monitoring.labels) added
to its own labels (.extra wins, then the file's). Same arguments as
zz.labels.
*/}}
{{- define "zz.labeled" -}}
{{- $obj := fromYaml .doc -}}
{{- $labels := fromYaml (include "zz.labels" .) -}}
{{- $_ := set $obj.metadata "labels" (merge (dict) (.extra | default dict) ($obj.metadata.labels | default dict) $labels) -}}
{{ toYaml $obj }}
{{- end -}}

{{/*
zz.priorityQuota is the ResourceQuota that admits the pods of .classes in
.namespace where the cluster keeps PriorityClasses to kube-system (the
ResourceQuota admission's limitedResources, as GKE ships): without it none of
them is created. It caps nothing they need. Arguments as zz.labels, plus
namespace and classes.
*/}}
{{- define "zz.priorityQuota" -}}
apiVersion: v1
kind: ResourceQuota
metadata:
  name: zz-critical-pods
  namespace: {{ .namespace }}
  labels:
    {{- include "zz.labels" . | nindent 4 }}
spec:
  hard:
    pods: 10k
  scopeSelector:
    matchExpressions:
    - scopeName: PriorityClass
      operator: In
      values:
      {{- range .classes | uniq | sortAlpha }}
      - {{ . }}
      {{- end }}
{{- end -}}
