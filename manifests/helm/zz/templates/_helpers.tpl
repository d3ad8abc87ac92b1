{{/*
zz.image renders the image .Values.images.<name> (call it with (list $ "webhook")):
repository:tag, pinned with @digest when one is given. global.imageRegistry,
when set, replaces the repository's registry: its first path component where
that has a dot or a colon or is localhost, as Docker reads a reference
(ghcr.io/zzcloud/zz-webhook from mirror.example is mirror.example/zzcloud/zz-webhook).
*/}}
{{- define "zz.image" -}}
{{- $ctx := index . 0 -}}
{{- $img := index $ctx.Values.images (index . 1) -}}
{{- $repo := $img.repository -}}
{{- with $ctx.Values.global.imageRegistry -}}
{{- $parts := splitList "/" $repo -}}
{{- $first := first $parts -}}
{{- if and (gt (len $parts) 1) (or (contains "." $first) (contains ":" $first) (eq $first "localhost")) -}}
{{- $repo = rest $parts | join "/" -}}
{{- end -}}
{{- $repo = printf "%s/%s" . $repo -}}
{{- end -}}
{{ $repo }}:{{ $img.tag }}{{ with $img.digest }}@{{ . }}{{ end }}
{{- end -}}

{{/*
zz.podMetadata is a pod template's metadata: the labels the selectors read
(app.kubernetes.io/name .name and part-of zz), then .values.podLabels (.key
names them in the refusal of either of those two keys there), and
.values.podAnnotations.
*/}}
{{- define "zz.podMetadata" -}}
{{- $podLabels := .values.podLabels | default dict }}
{{- range $k := list "app.kubernetes.io/name" "app.kubernetes.io/part-of" }}
{{- if hasKey $podLabels $k }}
{{- fail (printf "%s.podLabels: %s is the chart's own pod label (the %s selectors read it); give yours another key" $.key $k $.name) }}
{{- end }}
{{- end }}
labels:
  {{- toYaml (merge (dict "app.kubernetes.io/name" .name "app.kubernetes.io/part-of" "zz") $podLabels) | nindent 2 }}
{{- with .values.podAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* zz.imagePullSecrets: global.imagePullSecrets, then imagePullSecrets. */}}
{{- define "zz.imagePullSecrets" -}}
{{- with concat (.Values.global.imagePullSecrets | default list) (.Values.imagePullSecrets | default list) | uniq }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
zz.topologySpreadConstraints renders .constraints, where one without a
labelSelector gets the component's (app.kubernetes.io/name: .name), as a
constraint that selects nothing spreads nothing.
*/}}
{{- define "zz.topologySpreadConstraints" -}}
{{- $name := .name }}
{{- with .constraints }}
topologySpreadConstraints:
{{- range . }}
{{- $c := deepCopy . }}
{{- if not $c.labelSelector }}
{{- $_ := set $c "labelSelector" (dict "matchLabels" (dict "app.kubernetes.io/name" $name)) }}
{{- end }}
- {{ toYaml $c | nindent 2 | trim }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
zz.strategy renders a Deployment's strategy or a DaemonSet's updateStrategy
(.key) from .value, nothing when it is empty; rollingUpdate only with type
RollingUpdate (the API refuses it with Recreate; Helm merges a type set
alone into the default's rollingUpdate).
*/}}
{{- define "zz.strategy" -}}
{{- with .value }}
{{- $s := deepCopy . }}
{{- if and $s.type (ne $s.type "RollingUpdate") }}
{{- $_ := unset $s "rollingUpdate" }}
{{- end }}
{{ $.key }}:
  {{- toYaml $s | nindent 2 }}
{{- end }}
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
  {{- include "zz.podMetadata" (dict "name" "zz-webhook-certgen" "values" .Values.certificates.certgen "key" "certificates.certgen") | nindent 2 }}
spec:
  serviceAccountName: zz-webhook-certgen
  restartPolicy: OnFailure
  {{- with include "zz.imagePullSecrets" . | trim }}{{ . | nindent 2 }}{{ end }}
  {{- with .Values.certificates.certgen.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.certificates.certgen.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.certificates.certgen.podSecurityContext | nindent 4 }}
  containers:
  - name: certgen
    image: {{ include "zz.image" (list . "webhook") }}
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
      {{- toYaml .Values.certificates.certgen.containerSecurityContext | nindent 6 }}
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


{{/*
zz.ownNamespace is the namespace of the chart's (zz-system, zz-device-plugin)
that the release's records are kept in, if any. The chart creates those and
deletes them with what is in them: helm uninstall, or an upgrade that turns
their parts off, deleted the release's own records there, and the release
vanished from helm list with its cluster-wide objects left behind (an admin's
audit). zz.checkReleaseNamespace refuses such an install, and an upgrade that
would delete the release's namespace; NOTES.txt says how to move one that
lives there.
*/}}
{{- define "zz.ownNamespace" -}}
{{- if has .Release.Namespace (list "zz-system" "zz-device-plugin") }}{{ .Release.Namespace }}{{ end -}}
{{- end -}}

{{- define "zz.checkReleaseNamespace" -}}
{{- with include "zz.ownNamespace" . }}
{{- if $.Release.IsInstall }}
{{- fail (printf "the release's namespace %s is one this chart creates and deletes (helm uninstall, or an upgrade that turns its part off, deletes it with the release's own records, and the release is lost with its cluster-wide objects left behind): install the release in another namespace, e.g. --namespace default" .) }}
{{- end }}
{{- $kept := ternary (include "zz.systemNamespace" $) $.Values.devicePlugin.enabled (eq . "zz-system") }}
{{- if not $kept }}
{{- fail (printf "this upgrade would delete namespace %s, which holds this release's own records (the release would be lost, its cluster-wide objects left behind): move the release to another namespace first (README: Release assets, \"a release in zz-system\"), or keep the parts that run there enabled" .) }}
{{- end }}
{{- end }}
{{- end -}}


{{/*
zz.kustomizeName is the name kustomize's configMapGenerator gives the
ConfigMap .name of .data: .name-<hash>, the hash of its kind, name and data
as JSON (sigs.k8s.io/kustomize/api/hasher: the first 10 hex digits of the
SHA-256, with 0 1 3 a e written g h k m t). The name hashed is empty, as
kustomize reads it (it looks up "metadata/name" as one key);
TestChartEqualsKustomize compares the names.
*/}}
{{- define "zz.kustomizeName" -}}
{{- $hex := dict "data" .data "kind" "ConfigMap" "name" "" | toJson | sha256sum | trunc 10 -}}
{{- $enc := "" -}}
{{- $subst := dict "0" "g" "1" "h" "3" "k" "a" "m" "e" "t" -}}
{{- range $c := splitList "" $hex -}}
{{- $enc = print $enc (get $subst $c | default $c) -}}
{{- end -}}
{{ .name }}-{{ $enc }}
{{- end -}}
