{{/* Names, labels and shared pieces of the Workspaces chart. */}}

{{- define "workspaces.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "workspaces.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Object names: <fullname>-<part>, within 63 characters. */}}
{{- define "workspaces.hub" -}}{{ include "workspaces.fullname" . | trunc 59 | trimSuffix "-" }}-hub{{- end }}
{{- define "workspaces.proxy" -}}{{ include "workspaces.fullname" . | trunc 57 | trimSuffix "-" }}-proxy{{- end }}
{{- define "workspaces.proxyPublic" -}}{{ include "workspaces.fullname" . | trunc 50 | trimSuffix "-" }}-proxy-public{{- end }}
{{- define "workspaces.proxyApi" -}}{{ include "workspaces.fullname" . | trunc 53 | trimSuffix "-" }}-proxy-api{{- end }}
{{- define "workspaces.secret" -}}{{ include "workspaces.fullname" . | trunc 55 | trimSuffix "-" }}-secret{{- end }}

{{- define "workspaces.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "workspaces.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The labels of one component's objects: include with (list $ "hub"). */}}
{{- define "workspaces.componentLabels" -}}
{{ include "workspaces.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* Selector labels of one component: include with (list $ "hub"). */}}
{{- define "workspaces.selector" -}}
app.kubernetes.io/name: {{ include "workspaces.name" (index . 0) }}
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* The labels the hub puts on every workspace pod (spawner/kubernetes.py). */}}
{{- define "workspaces.workspacePods" -}}
app.kubernetes.io/managed-by: workspaces
app.kubernetes.io/component: workspace
{{- end }}

{{/* The namespace of workspaces without Kubeflow or a template. */}}
{{- define "workspaces.workspaceNamespace" -}}
{{- default .Release.Namespace .Values.workspaces.kubernetes.namespace }}
{{- end }}

{{/* One namespace for every workspace: namespaced RBAC and a NetworkPolicy there are possible. */}}
{{- define "workspaces.fixedNamespace" -}}
{{- if not (or .Values.kubeflow.enabled .Values.workspaces.kubernetes.namespace_template) }}true{{ end }}
{{- end }}

{{/* A secret value: the one already in the cluster (kept across upgrades), else a new one. */}}
{{- define "workspaces.secretValue" -}}
{{- $ctx := index . 0 }}{{ $key := index . 1 }}
{{- $existing := lookup "v1" "Secret" $ctx.Release.Namespace (include "workspaces.secret" $ctx) }}
{{- if and $existing (index ($existing.data | default dict) $key) }}
{{- index $existing.data $key }}
{{- else }}
{{- /* once per render: the Secret and the proxy's checksum of its token must agree, or the
first upgrade (which finds the Secret) changes the checksum and restarts the proxy */}}
{{- $generated := get $ctx "workspacesGeneratedSecrets" | default dict }}
{{- if not (hasKey $generated $key) }}
{{- $_ := set $generated $key (randAlphaNum 64 | sha256sum | b64enc) }}
{{- $_ := set $ctx "workspacesGeneratedSecrets" $generated }}
{{- end }}
{{- index $generated $key }}
{{- end }}
{{- end }}

{{- define "workspaces.securityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}
