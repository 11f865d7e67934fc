{{/* Names and labels shared by every template. */}}

{{- define "tandem.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-tandem, cut so that "-<role>-peers" still fits in 63 characters. */}}
{{- define "tandem.fullname" -}}
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

{{/* Object name of one role: call with (dict "root" $ "role" "target"). */}}
{{- define "tandem.roleName" -}}
{{- printf "%s-%s" (include "tandem.fullname" .root) .role -}}
{{- end -}}

{{- define "tandem.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tandem.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tandem.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tandem.labels" -}}
helm.sh/chart: {{ include "tandem.chart" . }}
{{ include "tandem.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tandem
{{- end -}}

{{/* Selector labels of one role: (dict "root" $ "role" "target"). */}}
{{- define "tandem.roleSelectorLabels" -}}
{{ include "tandem.selectorLabels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "tandem.roleLabels" -}}
{{ include "tandem.labels" .root }}
app.kubernetes.io/component: {{ .role }}
{{- end -}}

{{- define "tandem.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "tandem.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "tandem.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "tandem.fetchImage" -}}
{{- $i := .Values.models.fetch.image -}}
{{- printf "%s:%s" $i.repository (default .Chart.AppVersion $i.tag) -}}
{{- end -}}

{{/*
In-cluster gRPC address of a role's Service, used for the orchestrator's references. tandem
resolves a reference with a ':' as an address as written; a bare service name would resolve to
that entry's bind host (0.0.0.0), which is not reachable from another pod.
*/}}
{{- define "tandem.roleAddress" -}}
{{- $r := index .root.Values.roles .role -}}
{{- printf "%s.%s.svc:%d" (include "tandem.roleName" .) .root.Release.Namespace (int $r.grpcPort) -}}
{{- end -}}

{{/*
Tensor-parallel ranks of one role (call with (dict "root" $ "role" ROLE)): roles.target.tensorParallel.worldSize,
1 for every other role. With more than 1 the target runs as a StatefulSet, one rank per pod.
*/}}
{{- define "tandem.tpWorld" -}}
{{- $r := index .root.Values.roles .role -}}
{{- if and (eq .role "target") (hasKey $r "tensorParallel") -}}{{ int $r.tensorParallel.worldSize }}{{- else -}}1{{- end -}}
{{- end -}}

{{/* Rank 0's rendezvous address: its stable DNS name under the headless -peers Service. */}}
{{- define "tandem.tpRendezvous" -}}
{{- $r := index .root.Values.roles .role -}}
{{- $name := include "tandem.roleName" . -}}
{{- printf "%s-0.%s-peers.%s.svc:%d" $name $name .root.Release.Namespace (int $r.tensorParallel.rendezvousPort) -}}
{{- end -}}

{{/* The catalog models one role's init container fetches (none for explicit paths). */}}
{{- define "tandem.roleModels" -}}
{{- $r := index .root.Values.roles .role -}}
{{- $models := list -}}
{{- if not $r.modelPath -}}{{- $models = append $models $r.model -}}{{- end -}}
{{- if and (eq .role "retrieval") $r.embedder (not (hasPrefix "/" $r.embedder)) -}}
{{- $models = append $models $r.embedder -}}
{{- end -}}
{{- toJson ($models | uniq) -}}
{{- end -}}

{{/* The roles in a fixed order (maps iterate sorted; this order reads better in output). */}}
{{- define "tandem.roleOrder" -}}
["orchestrator", "target", "draft", "reward", "retrieval"]
{{- end -}}
