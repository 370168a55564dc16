// corbado-exporter's monitoring mixin: its alerts, recording rules and Grafana dashboard, in
// the convention of the monitoring mixins (`prometheusAlerts`, `prometheusRules`,
// `grafanaDashboards`, `_config`). Re-target it at your own labels with
//
//   (import 'mixin.libsonnet') + { _config+:: { corbadoSelector: 'job="sessions"' } }
//
// prometheus/, dashboards/ and deploy/kubernetes/prometheusrule.yaml are generated from it by
// mixin/generate; docs/monitoring.md, "Using the mixin", says how to use it.
(import 'config.libsonnet')
+ (import 'rules.libsonnet')
+ (import 'alerts.libsonnet')
+ (import 'dashboards/corbado-sessions.libsonnet')
