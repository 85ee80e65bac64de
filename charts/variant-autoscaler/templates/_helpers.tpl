{{/* Chart name, truncated to 63 characters (the DNS-1123 label limit). */}}
{{- define "variant-autoscaler.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Fully qualified app name. Objects append suffixes to it, the longest being
"-dashboard" (10 characters), so it is cut at 53 to keep every name within 63.
*/}}
{{- define "variant-autoscaler.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 53 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 53 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 53 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "variant-autoscaler.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "variant-autoscaler.labels" -}}
helm.sh/chart: {{ include "variant-autoscaler.chart" . }}
{{ include "variant-autoscaler.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "variant-autoscaler.selectorLabels" -}}
app.kubernetes.io/name: {{ include "variant-autoscaler.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "variant-autoscaler.clusterSelectorLabels" -}}
{{ include "variant-autoscaler.selectorLabels" . }}
app.kubernetes.io/component: cluster-agent
{{- end -}}

{{- define "variant-autoscaler.nodeSelectorLabels" -}}
{{ include "variant-autoscaler.selectorLabels" . }}
app.kubernetes.io/component: node-agent
{{- end -}}

{{- define "variant-autoscaler.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "variant-autoscaler.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "variant-autoscaler.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{/*
The RBAC rules: exactly the API calls of bridge/actuator/k8s_api_calls.txt (get and
patch on the scale subresource, get on the workload for readiness), LeaderWorkerSet
rules only when enabled. bridge/k8s-render checks the rendered rules against that list.
*/}}
{{- define "variant-autoscaler.rbacRules" -}}
- apiGroups: ["apps"]
  resources: ["deployments/scale"]
  verbs: ["get", "patch"]
- apiGroups: ["apps"]
  resources: ["deployments"]
  verbs: ["get"]
{{- if .Values.rbac.leaderWorkerSet }}
- apiGroups: ["leaderworkerset.x-k8s.io"]
  resources: ["leaderworkersets/scale"]
  verbs: ["get", "patch"]
- apiGroups: ["leaderworkerset.x-k8s.io"]
  resources: ["leaderworkersets"]
  verbs: ["get"]
{{- end }}
{{- end -}}

{{/* The restricted security context of every container. */}}
{{- define "variant-autoscaler.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
