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
