{{/*
Rules across roles that values.schema.json cannot express. Each failure names the values keys,
so `helm install` stops with an actionable message instead of a pod that crash-loops on tandem's
own config check.
*/}}
{{- define "tandem.validate" -}}
{{- $roles := .Values.roles -}}
{{- if and .Values.auth.enabled (not .Values.tls.enabled) -}}
  {{- fail "auth.enabled needs tls.enabled: tandem sends and checks bearer tokens only over TLS" -}}
{{- end -}}
{{- $o := $roles.orchestrator -}}
{{- if $o.enabled -}}
  {{- if not $roles.target.enabled -}}
    {{- fail "roles.orchestrator.enabled needs roles.target.enabled: the orchestrator verifies every token on a target" -}}
  {{- end -}}
  {{- if and (eq $o.drafter "model") (not $roles.draft.enabled) -}}
    {{- fail "roles.orchestrator.drafter=model needs roles.draft.enabled (or set drafter to ngram or none)" -}}
  {{- end -}}
  {{- if and (eq $o.drafter "none") (has $o.defaultStrategy (list "speculative" "draft_only")) -}}
    {{- fail (printf "roles.orchestrator.defaultStrategy=%s needs a drafter (roles.orchestrator.drafter: model or ngram)" $o.defaultStrategy) -}}
  {{- end -}}
{{- end -}}
{{- /* tandem's config parser requires distinct ports per bind host; every entry binds 0.0.0.0. */ -}}
{{- $seen := dict -}}
{{- range $role := include "tandem.roleOrder" . | fromJsonArray -}}
  {{- $r := index $roles $role -}}
  {{- if $r.enabled -}}
    {{- range $key := list "grpcPort" "metricsPort" "httpPort" -}}
      {{- if not (index $r $key) -}}{{- continue -}}{{- end -}}
      {{- $port := toString (index $r $key) -}}
      {{- if hasKey $seen $port -}}
        {{- fail (printf "roles.%s.%s=%s is already used by roles.%s: every role needs its own ports (tandem binds them all on 0.0.0.0 in one config)" $role $key $port (index $seen $port)) -}}
      {{- end -}}
      {{- $_ := set $seen $port (printf "%s.%s" $role $key) -}}
    {{- end -}}
    {{- if and $r.autoscaling.enabled $r.keda.enabled -}}
      {{- fail (printf "roles.%s: autoscaling.enabled and keda.enabled both create a HorizontalPodAutoscaler; enable one" $role) -}}
    {{- end -}}
  {{- end -}}
{{- end -}}
{{- end -}}
