{{/* Resource name of one service: titan-<service> (the release name is not part of it, as
the consumer groups and the Strimzi/KEDA references are not either). */}}
{{- define "titan.fullname" -}}
titan-{{ . }}
{{- end -}}

{{- define "titan.selectorLabels" -}}
app.kubernetes.io/name: titan
app.kubernetes.io/component: {{ . }}
{{- end -}}

{{- define "titan.labels" -}}
{{ include "titan.selectorLabels" .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ .root.Chart.Name }}-{{ .root.Chart.Version }}
{{- end -}}

{{- define "titan.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{- define "titan.kafkaTls" -}}
{{- if and (has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL")) .Values.kafka.tls.caSecretName -}}true{{- end -}}
{{- end -}}

{{- define "titan.kafkaSasl" -}}
{{- if hasPrefix "SASL" .Values.kafka.securityProtocol -}}true{{- end -}}
{{- end -}}

{{/* The environment every container of a service reads from Secrets: its database DSN
(the key named by its schema), the API token, the SASL credentials when SASL is on, and
the service's own secretEnv. */}}
{{- define "titan.secretEnv" -}}
{{- $root := .root -}}
- name: TITAN_DATABASE_URL
  valueFrom: {secretKeyRef: {name: {{ $root.Values.database.secretName }}, key: {{ .svc.schema }}}}
- name: TITAN_API_TOKEN
  valueFrom: {secretKeyRef: {name: {{ $root.Values.apiToken.secretName }}, key: {{ $root.Values.apiToken.key }}}}
{{- if include "titan.kafkaSasl" $root }}
- name: TITAN_KAFKA_SASL_USERNAME
  valueFrom: {secretKeyRef: {name: {{ $root.Values.kafka.sasl.secretName }}, key: {{ $root.Values.kafka.sasl.usernameKey }}}}
- name: TITAN_KAFKA_SASL_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ $root.Values.kafka.sasl.secretName }}, key: {{ $root.Values.kafka.sasl.passwordKey }}}}
{{- end }}
{{- range $name, $ref := .svc.secretEnv }}
- name: {{ $name }}
  valueFrom: {secretKeyRef: {name: {{ $ref.secretName }}, key: {{ $ref.key }}}}
{{- end }}
{{- range $name, $value := .svc.env }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}
