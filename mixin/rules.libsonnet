// The recording rules. The alert rules and the dashboard build on them.
//
// A rule's hidden `comment` is written above it in the generated YAML (mixin/generate); it
// says why the rule is what it is, and is no part of what Prometheus loads.
{
  local cfg = $._config,

  prometheusRules+:: {
    groups+: [{
      name: 'corbado-recording',
      rules: [
        {
          comment:: 'Sessions that ended in the last 15 minutes, by how they ended (status label).',
          record: 'corbado:sessions_ended:delta15m',
          expr: 'clamp_min(delta(corbado_sessions{%(corbadoSelector)s, status=~"logged_out|expired|inactivity_reached|revoked"}[15m]), 0)' % cfg,
        },
        {
          comment:: 'All sessions the project keeps, of any status.',
          record: 'corbado:sessions:sum',
          expr: 'sum without (status) (corbado_sessions{%(corbadoSelector)s})' % cfg,
        },
        {
          comment:: 'Sessions created in the last 15 minutes, from the growth of the total.',
          record: 'corbado:sessions_created:delta15m',
          expr: 'clamp_min(delta(corbado:sessions:sum{%(corbadoSelector)s}[15m]), 0)' % cfg,
        },
        {
          comment:: 'Average active sessions per user holding any: the baseline for "one user holds too many".',
          record: 'corbado:active_sessions_per_user:avg',
          expr: |||
            sum without (status) (corbado_sessions{%(corbadoSelector)s, status="active"})
              / clamp_min(corbado_users_with_active_sessions{%(corbadoSelector)s}, 1)
          ||| % cfg,
        },
      ],
    }],
  },
}
