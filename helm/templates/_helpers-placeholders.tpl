{{/* Placeholders (spawner/placeholders.py): the names of the two PriorityClasses, cluster-wide
objects, so named after the release and its namespace (two releases must not share them). */}}
{{- define "workspaces.placeholderPriority" -}}
{{- printf "%s-%s" (include "workspaces.fullname" .) .Release.Namespace | trunc 51 | trimSuffix "-" }}-placeholder
{{- end }}
{{- define "workspaces.workspacePriority" -}}
{{- printf "%s-%s" (include "workspaces.fullname" .) .Release.Namespace | trunc 53 | trimSuffix "-" }}-workspace
{{- end }}
