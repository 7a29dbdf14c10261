{{/* Names are fixed rather than release-prefixed: agents, docs and the CLI find control at
weft-control.<namespace>.svc, and only one mesh runs per cluster. */}}

{{- define "weft.labels" -}}
app.kubernetes.io/part-of: weft
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "weft.controlSelector" -}}
app.kubernetes.io/name: weft-control
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "weft.agentSelector" -}}
app.kubernetes.io/name: weft-agent
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "weft.image" -}}
{{- $root := index . 0 -}}{{- $component := index . 1 -}}
{{- printf "%s/%s:%s" $root.Values.image.registry $component.image.repository (default $root.Chart.AppVersion $root.Values.image.tag) -}}
{{- end -}}

{{/* The DNS name agents dial and control's serving certificate carries. */}}
{{- define "weft.controlHost" -}}
{{- printf "weft-control.%s.svc" .Release.Namespace -}}
{{- end -}}

{{/* Whole seconds the kubelet waits after SIGTERM: the drain plus time to uninstall and exit. */}}
{{- define "weft.agentGraceSeconds" -}}
{{- add (div (add .Values.agent.drainMs 999) 1000) .Values.agent.terminationMarginSeconds -}}
{{- end -}}

{{/* Cross-field checks JSON schema cannot express; each names the values key at fault. */}}
{{- define "weft.validate" -}}
{{- if lt (int .Values.control.certMaxTtlSeconds) (int .Values.control.certTtlSeconds) -}}
{{- fail (printf "WEFT_ERR_VALUES: control.certMaxTtlSeconds (%v) must be at least control.certTtlSeconds (%v)" .Values.control.certMaxTtlSeconds .Values.control.certTtlSeconds) -}}
{{- end -}}
{{- if gt (int .Values.agent.certTtlSeconds) (int .Values.control.certMaxTtlSeconds) -}}
{{- fail (printf "WEFT_ERR_VALUES: agent.certTtlSeconds (%v) exceeds control.certMaxTtlSeconds (%v): control would refuse every CSR" .Values.agent.certTtlSeconds .Values.control.certMaxTtlSeconds) -}}
{{- end -}}
{{- if and .Values.trustAnchor.certPem (not .Values.trustAnchor.keyPem) -}}
{{- fail "WEFT_ERR_VALUES: trustAnchor.certPem is set without trustAnchor.keyPem: give both, or neither and pre-create the Secret" -}}
{{- end -}}
{{- if and .Values.control.podDisruptionBudget.enabled (ge (int .Values.control.podDisruptionBudget.minAvailable) (int .Values.control.replicas)) -}}
{{- fail (printf "WEFT_ERR_VALUES: control.podDisruptionBudget.minAvailable (%v) must be below control.replicas (%v), or no node could ever be drained" .Values.control.podDisruptionBudget.minAvailable .Values.control.replicas) -}}
{{- end -}}
{{- if has (int .Values.agent.adminPort) (list 15001 15006 15008) -}}
{{- fail (printf "WEFT_ERR_VALUES: agent.adminPort (%v) collides with a proxy port (15001 outbound, 15006 inbound, 15008 HBONE)" .Values.agent.adminPort) -}}
{{- end -}}
{{- if has (int .Values.agent.metricsPort) (list 15001 15006 15008 (int .Values.agent.adminPort)) -}}
{{- fail (printf "WEFT_ERR_VALUES: agent.metricsPort (%v) collides with a proxy port (15001, 15006, 15008) or agent.adminPort (%v)" .Values.agent.metricsPort .Values.agent.adminPort) -}}
{{- end -}}
{{- end -}}
