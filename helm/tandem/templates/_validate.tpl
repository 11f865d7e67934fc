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
{{- $tp := $roles.target.tensorParallel -}}
{{- if and $roles.target.enabled (gt (int $tp.worldSize) 1) -}}
  {{- if not $roles.target.peersService -}}
    {{- fail "roles.target.tensorParallel.worldSize > 1 needs roles.target.peersService: rank 0 is found through the headless -peers Service" -}}
  {{- end -}}
  {{- if or $roles.target.autoscaling.enabled $roles.target.keda.enabled -}}
    {{- fail "roles.target.tensorParallel.worldSize > 1 fixes the target's pod count to the world size: disable roles.target.autoscaling and roles.target.keda" -}}
  {{- end -}}
  {{- range $role := list "orchestrator" "draft" "target" "reward" "retrieval" -}}
    {{- $o := index $roles $role -}}
    {{- if and $o.enabled (or (eq (int $o.grpcPort) (int $tp.rendezvousPort)) (eq (int $o.metricsPort) (int $tp.rendezvousPort))) -}}
      {{- fail (printf "roles.target.tensorParallel.rendezvousPort=%d is already used by roles.%s" (int $tp.rendezvousPort) $role) -}}
    {{- end -}}
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
