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
          comment:: |||
            Sessions that ended in the last 15 minutes, by how they ended (status label): what
            the exporter saw end (corbado_sessions_ended_total, with a kept active set: it sees a
            revocation that deletes the session too, as status="deleted"), else under filter and
            scan the growth of the per-status gauges (blind to deleted sessions, bent by purges).
          |||,
          record: 'corbado:sessions_ended:delta15m',
          expr: |||
            increase(corbado_sessions_ended_total{%(corbadoSelector)s}[15m])
            or
            clamp_min(delta(corbado_sessions{%(corbadoSelector)s, status=~"logged_out|expired|inactivity_reached|revoked"}[15m]), 0)
              unless on (job, instance, project_id) corbado_sessions_ended_total{%(corbadoSelector)s}
          ||| % cfg,
        },
        {
          comment:: 'Sessions revoked in the last 15 minutes, whether the API keeps them listed as revoked or deletes them.',
          record: 'corbado:sessions_revoked:delta15m',
          expr: 'sum without (status) (corbado:sessions_ended:delta15m{%(corbadoSelector)s, status=~"revoked|deleted"})' % cfg,
        },
        {
          comment:: |||
            Sessions that expired in the last 15 minutes: what the exporter saw expire, else under
            filter and scan the expired sessions whose expiry lies in the last 15 minutes.
          |||,
          record: 'corbado:sessions_expired:delta15m',
          expr: |||
            sum without (status) (corbado:sessions_ended:delta15m{%(corbadoSelector)s, status="expired"})
            or
            sum without (window) (corbado_sessions_expired_in_window{%(corbadoSelector)s, window="15m"})
              unless on (job, instance, project_id) corbado_sessions_ended_total{%(corbadoSelector)s}
          ||| % cfg,
        },
        {
          comment:: 'All sessions the project keeps, of any status.',
          record: 'corbado:sessions:sum',
          expr: 'sum without (status) (corbado_sessions{%(corbadoSelector)s})' % cfg,
        },
        {
          comment:: 'Sessions created in the last 15 minutes: what the exporter saw created, else the growth of the total.',
          record: 'corbado:sessions_created:delta15m',
          expr: |||
            increase(corbado_sessions_created_total{%(corbadoSelector)s}[15m])
            or
            clamp_min(delta(corbado:sessions:sum{%(corbadoSelector)s}[15m]), 0)
              unless on (job, instance, project_id) corbado_sessions_created_total{%(corbadoSelector)s}
          ||| % cfg,
        },
        {
          comment:: |||
            1 for a project whose every poll of the last 15 minutes succeeded and whose exporter
            Prometheus scraped throughout: the windows of the spike rules hold no catch-up, in
            which the first poll after an outage or a restart counts the whole gap at once.
          |||,
          record: 'corbado:polls_continuous:15m',
          expr: |||
            min_over_time(corbado_up{%(corbadoSelector)s}[15m]) == 1
              unless on (job, instance) (min_over_time(up{%(corbadoSelector)s}[15m]) < 1)
          ||| % cfg,
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
