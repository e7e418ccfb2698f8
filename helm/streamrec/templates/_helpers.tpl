{{- define "streamrec.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "streamrec.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | quote }}
{{- end -}}

{{/* The image of the chart: repository:tag. */}}
{{- define "streamrec.image" -}}
{{- printf "%s:%s" .Values.image.repository (toString .Values.image.tag) -}}
{{- end -}}

{{/* The trainer's image: the CUDA build when stages.trainer.gpu.enabled. */}}
{{- define "streamrec.trainerImage" -}}
{{- $gpu := .Values.stages.trainer.gpu -}}
{{- if $gpu.enabled -}}
{{- $repo := default .Values.image.repository $gpu.image.repository -}}
{{- $tag := default (printf "%s%s" (toString .Values.image.tag) $gpu.tagSuffix) (toString (default "" $gpu.image.tag)) -}}
{{- printf "%s:%s" $repo $tag -}}
{{- else -}}
{{- include "streamrec.image" . -}}
{{- end -}}
{{- end -}}

{{/* streamrec.yaml: what the ConfigMap and the topics Job's ConfigMap hold. No secret
     goes here (the SASL password is read from a mounted Secret with --set-file). */}}
{{- define "streamrec.configYaml" -}}
kafka:
  bootstrap.servers: {{ .Values.kafka.brokers | quote }}
{{- range $k, $v := .Values.kafka.properties }}
{{- if regexMatch "(?i)password|secret" $k }}
{{- fail (printf "kafka.properties.%s looks like a secret: name a Secret in kafka.sasl.passwordSecret instead" $k) }}
{{- end }}
  {{ $k }}: {{ $v | quote }}
{{- end }}
{{- if .Values.kafka.tls.caSecret.name }}
  ssl.ca.location: {{ printf "/etc/streamrec-kafka-ca/%s" .Values.kafka.tls.caSecret.key | quote }}
{{- end }}
{{- if hasKey .Values.config "kafka" }}
{{- fail "config.kafka: put librdkafka properties under kafka.properties (and the password in kafka.sasl.passwordSecret)" }}
{{- end }}
{{- with .Values.config }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Global streamrec flags every container passes before its subcommand. */}}
{{- define "streamrec.globalArgs" -}}
- --config=/etc/streamrec/streamrec.yaml
{{- if .Values.kafka.sasl.passwordSecret.name }}
- --set-file=kafka.sasl.password=/etc/streamrec-kafka-sasl/{{ .Values.kafka.sasl.passwordSecret.key }}
{{- end }}
{{- end -}}

{{/* Volume mounts for the Kafka Secrets (SASL password, CA). */}}
{{- define "streamrec.kafkaSecretMounts" -}}
{{- if .Values.kafka.sasl.passwordSecret.name }}
- name: kafka-sasl
  mountPath: /etc/streamrec-kafka-sasl
  readOnly: true
{{- end }}
{{- if .Values.kafka.tls.caSecret.name }}
- name: kafka-ca
  mountPath: /etc/streamrec-kafka-ca
  readOnly: true
{{- end }}
{{- end -}}

{{- define "streamrec.kafkaSecretVolumes" -}}
{{- with .Values.kafka.sasl.passwordSecret }}
{{- if .name }}
- name: kafka-sasl
  secret:
    secretName: {{ .name }}
    defaultMode: 0440
    items:
      - key: {{ .key }}
        path: {{ .key }}
{{- end }}
{{- end }}
{{- with .Values.kafka.tls.caSecret }}
{{- if .name }}
- name: kafka-ca
  secret:
    secretName: {{ .name }}
    items:
      - key: {{ .key }}
        path: {{ .key }}
{{- end }}
{{- end }}
{{- end -}}
