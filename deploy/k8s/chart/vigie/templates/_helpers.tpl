{{/* Names, labels and the pieces every component's pod shares. */}}

{{- define "vigie.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vigie.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* <fullname>-<component>; call with (dict "root" $ "name" "detect") */}}
{{- define "vigie.component" -}}
{{- printf "%s-%s" (include "vigie.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "vigie.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "vigie.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: vigie
{{- end -}}

{{/* (dict "root" $ "name" "detect") */}}
{{- define "vigie.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vigie.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "vigie.componentLabels" -}}
{{ include "vigie.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "vigie.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "vigie.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* (dict "root" $ "name" "detect") */}}
{{- define "vigie.image" -}}
{{- $img := .root.Values.image -}}
{{- printf "%s%s%s:%s" $img.registry $img.repositoryPrefix .name (default .root.Chart.AppVersion $img.tag) -}}
{{- end -}}

{{/* The TLS Secret of a component: (dict "root" $ "name" "detect" "svc" $svc) */}}
{{- define "vigie.tlsSecret" -}}
{{- $own := dig "tls" "secretName" "" .svc -}}
{{- if $own -}}
{{- $own -}}
{{- else if eq .root.Values.tls.mode "secret" -}}
{{- required "tls.secretName is required with tls.mode=secret (or set <component>.tls.secretName)" .root.Values.tls.secretName -}}
{{- else -}}
{{- printf "%s-tls" (include "vigie.component" .) -}}
{{- end -}}
{{- end -}}

{{/* DNS names of a component's Service, for its certificate and its clients. */}}
{{- define "vigie.dnsNames" -}}
{{- $n := include "vigie.component" . -}}
{{- $ns := .root.Release.Namespace -}}
- {{ $n }}
- {{ $n }}.{{ $ns }}
- {{ $n }}.{{ $ns }}.svc
- {{ $n }}.{{ $ns }}.svc.{{ .root.Values.clusterDomain }}
{{- end -}}

{{/* Environment every Vigie process reads (CoreSettings), as a YAML mapping: templates merge
     extraEnv and the component's env over it and render it sorted. (dict "root" $ "name" ...) */}}
{{- define "vigie.coreEnv" -}}
{{- $v := .root.Values -}}
VIGIE_KAFKA_BOOTSTRAP: {{ required "kafka.bootstrap is required" $v.kafka.bootstrap | quote }}
VIGIE_KAFKA_REPLICATION_FACTOR: {{ $v.kafka.replicationFactor | quote }}
VIGIE_HTTP_HOST: {{ $v.listenHost | quote }}
VIGIE_HTTP_PORT: {{ $v.ports.http | quote }}
VIGIE_GRPC_HOST: {{ $v.listenHost | quote }}
VIGIE_GRPC_PORT: {{ $v.ports.grpc | quote }}
VIGIE_TLS_CERT_FILE: /etc/vigie/tls/tls.crt
VIGIE_TLS_KEY_FILE: /etc/vigie/tls/tls.key
{{- if $v.tls.clientAuth }}
VIGIE_TLS_CLIENT_CA_FILE: /etc/vigie/tls/ca.crt
VIGIE_TLS_CA_FILE: /etc/vigie/tls/ca.crt
VIGIE_TLS_CLIENT_CERT_FILE: /etc/vigie/tls/tls.crt
VIGIE_TLS_CLIENT_KEY_FILE: /etc/vigie/tls/tls.key
{{- end }}
{{- if $v.auth.tokensSecret.name }}
VIGIE_AUTH_TOKENS_FILE: /etc/vigie/auth/{{ $v.auth.tokensSecret.key }}
{{- end }}
VIGIE_AUTH_PUBLIC_METRICS: {{ $v.auth.publicMetrics | quote }}
VIGIE_NO_BIOMETRICS: {{ $v.noBiometrics | quote }}
VIGIE_LOG_LEVEL: {{ $v.logLevel | quote }}
VIGIE_LOG_JSON: "true"
VIGIE_SHUTDOWN_GRACE_S: {{ $v.shutdownGraceSeconds | quote }}
VIGIE_DATA_DIR: /var/lib/vigie/data
{{- end -}}

{{/* name: value maps -> env list, sorted. */}}
{{- define "vigie.envMap" -}}
{{- range $k, $val := . }}
- name: {{ $k }}
  value: {{ $val | toString | quote }}
{{- end }}
{{- end -}}

{{/* An HTTPS probe or a gRPC health exec probe. (dict "root" $ "kind" "readiness" "grpc" true "timing" $t) */}}
{{- define "vigie.probe" -}}
{{- if .grpc -}}
exec:
  command:
    - grpc-health-probe
    - -addr=127.0.0.1:{{ .root.Values.ports.grpc }}
    - -tls
    - -tls-no-verify
    {{- if .root.Values.tls.clientAuth }}
    - -tls-client-cert=/etc/vigie/tls/tls.crt
    - -tls-client-key=/etc/vigie/tls/tls.key
    {{- end }}
    - -connect-timeout=2s
    - -rpc-timeout={{ sub (.timing.timeoutSeconds | int) 1 }}s
{{- else -}}
httpGet:
  path: {{ .path }}
  port: https
  scheme: HTTPS
{{- end }}
{{ toYaml .timing }}
{{- end -}}

{{/* Standard topology spread for a component. */}}
{{- define "vigie.topologySpread" -}}
{{- if .root.Values.topologySpread.enabled }}
topologySpreadConstraints:
  {{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
  - maxSkew: {{ $.root.Values.topologySpread.maxSkew }}
    topologyKey: {{ $key }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "vigie.selectorLabels" $ | nindent 8 }}
  {{- end }}
{{- end }}
{{- end -}}

{{- define "vigie.autoscaled" -}}
{{- if or (dig "autoscaling" "enabled" false .) (dig "keda" "enabled" false .) -}}true{{- end -}}
{{- end -}}

{{/* Enabled components (services, then the controller) as a YAML mapping name -> values block. */}}
{{- define "vigie.components" -}}
{{- $out := dict -}}
{{- range $name, $svc := .Values.services -}}
{{- if $svc.enabled -}}{{- $_ := set $out $name $svc -}}{{- end -}}
{{- end -}}
{{- if .Values.controller.enabled -}}{{- $_ := set $out "controller" .Values.controller -}}{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/* The Secret holding every service's audit signing key (<service>.pem). */}}
{{- define "vigie.auditKeysSecret" -}}
{{- default (printf "%s-audit-keys" (include "vigie.fullname" .)) .Values.audit.signingKeys.existingSecret -}}
{{- end -}}
