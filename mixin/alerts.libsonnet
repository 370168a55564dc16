// The alert rules. Every threshold and `for` comes from `_config`; every series is read
// through `_config.corbadoSelector`. Alert names are part of the interface (the runbook's
// anchors, people's silences and routes): never rename one.
//
// A rule's hidden `comment` is written above it in the generated YAML (mixin/generate).
{
  // The configuration with every number written as a person would (0.3, not the
  // 0.29999999999999999 that jsonnet's %s gives), for the expressions and texts.
  local cfg = {
    [key]: if std.isNumber($._config[key]) then '%.15g' % $._config[key] else $._config[key]
    for key in std.objectFields($._config)
  },

  // '5m' -> '5 minutes', for the texts that name a `for` duration. Only a single number and
  // unit is understood; anything else is an error that names the value.
  local spelled(duration) =
    local n = std.length(duration);
    local units = { s: 'second', m: 'minute', h: 'hour', d: 'day' };
    assert n >= 2 && std.objectHas(units, duration[n - 1])
           : 'cannot spell the duration %s: write it as one number and one of s, m, h, d' % duration;
    local count = std.parseInt(duration[0:n - 1]);
    '%d %s%s' % [count, units[duration[n - 1]], if count == 1 then '' else 's'],

  local percent(ratio) = '%d%%' % std.floor(ratio * 100 + 0.5),

  local anchor(alert) = std.asciiLower(alert),

  // The runbook of the exporter that fired, or the fixed base of `_config.runbookURL`.
  local runbook(alert) =
    if cfg.runbookURL != '' then cfg.runbookURL + '#' + anchor(alert)
    else cfg.runbookScheme + '://{{ $labels.instance }}/runbook#' + anchor(alert),

  // For an alert whose own instance cannot answer (it is down) or that has none (it is about
  // all shards of a job): the runbook of an instance of the same job that is up, asked of
  // Prometheus when the alert is sent; with none up, the alert's own instance when it has one.
  local runbookOfJob(alert, fallback) =
    if cfg.runbookURL != '' then cfg.runbookURL + '#' + anchor(alert)
    else
      local scheme = cfg.runbookScheme + '://';
      '{{ with printf "up{job=%q} == 1" $labels.job | query }}'
      + scheme + '{{ . | sortByLabel "instance" | first | label "instance" }}'
      + (if fallback then '{{ else }}' + scheme + '{{ $labels.instance }}' else '')
      + '{{ end }}/runbook#' + anchor(alert),

  prometheusAlerts+:: {
    groups+: [{
      name: 'corbado-exporter',
      rules: [
        {
          comment:: 'Prometheus cannot scrape the exporter.',
          alert: 'CorbadoExporterDown',
          expr: 'up{%(corbadoSelector)s} == 0' % cfg,
          'for': cfg.exporterDownFor,
          labels: { severity: 'critical' },
          annotations: {
            summary: 'corbado-exporter {{ $labels.instance }} is down',
            description: 'Prometheus has not been able to scrape {{ $labels.instance }} for %s; no session metrics are collected.' % spelled(cfg.exporterDownFor),
            runbook_url: runbookOfJob('CorbadoExporterDown', fallback=true),
          },
        },
        {
          comment:: 'Every poll of the Corbado API failed for %s.' % spelled(cfg.pollsFailingWindow),
          alert: 'CorbadoPollsFailing',
          expr: 'max_over_time(corbado_up{%(corbadoSelector)s}[%(pollsFailingWindow)s]) == 0' % cfg,
          'for': cfg.pollsFailingFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'corbado-exporter cannot poll Corbado for project {{ $labels.project_id }}',
            description: "All polls of the Corbado API have failed for at least %s. Check the exporter's log for the reason (credentials, rate limits, network)." % spelled(cfg.pollsFailingWindow),
            runbook_url: runbook('CorbadoPollsFailing'),
          },
        },
        {
          comment:: "Seconds since the last successful poll (%(sessionDataStaleSeconds)s); keep it above --poll.interval plus a poll's duration." % cfg,
          alert: 'CorbadoSessionDataStale',
          expr: 'time() - corbado_exporter_last_poll_success_timestamp_seconds{%(corbadoSelector)s} > %(sessionDataStaleSeconds)s' % cfg,
          'for': cfg.sessionDataStaleFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'Session metrics of project {{ $labels.project_id }} are stale',
            description: 'The last successful poll was {{ $value | humanizeDuration }} ago. The session gauges disappear once --poll.max-staleness passes.',
            runbook_url: runbook('CorbadoSessionDataStale'),
          },
        },
        {
          comment:: |||
            Revocations in 15 minutes (revoked or, where revocation deletes, gone from the list)
            above %(revokedSessionsSpikeFactor)sx their daily average and above %(revokedSessionsSpikeFloor)s, in a window with no
            catch-up after an outage or a restart.
          ||| % cfg,
          alert: 'CorbadoRevokedSessionsSpike',
          expr: |||
            corbado:sessions_revoked:delta15m{%(corbadoSelector)s}
              > %(revokedSessionsSpikeFactor)s * avg_over_time(corbado:sessions_revoked:delta15m{%(corbadoSelector)s}[1d])
            and
            corbado:sessions_revoked:delta15m{%(corbadoSelector)s} > %(revokedSessionsSpikeFloor)s
            and on (job, instance, project_id)
            corbado:polls_continuous:15m{%(corbadoSelector)s}
          ||| % cfg,
          'for': cfg.revokedSessionsSpikeFor,
          // The label the gauge-based rule carried, kept for routes and silences that match it.
          labels: { severity: 'critical', status: 'revoked' },
          annotations: {
            summary: 'Revoked sessions are spiking in project {{ $labels.project_id }}',
            description: '{{ $value | humanize }} sessions were revoked in the last 15 minutes, more than %(revokedSessionsSpikeFactor)s times the daily average. Someone may be revoking sessions in bulk (an incident response, or an attacker with admin access).' % cfg,
            runbook_url: runbook('CorbadoRevokedSessionsSpike'),
          },
        },
        {
          comment:: |||
            Sessions that expired in the last 15 minutes above %(expiredSessionsSpikeFactor)sx their daily average and above %(expiredSessionsSpikeFloor)s,
            in a window with no catch-up after an outage or a restart.
          ||| % cfg,
          alert: 'CorbadoExpiredSessionsSpike',
          expr: |||
            corbado:sessions_expired:delta15m{%(corbadoSelector)s}
              > %(expiredSessionsSpikeFactor)s * avg_over_time(corbado:sessions_expired:delta15m{%(corbadoSelector)s}[1d])
            and
            corbado:sessions_expired:delta15m{%(corbadoSelector)s} > %(expiredSessionsSpikeFloor)s
            and on (job, instance, project_id)
            corbado:polls_continuous:15m{%(corbadoSelector)s}
          ||| % cfg,
          'for': cfg.expiredSessionsSpikeFor,
          // The label the gauge-based rule carried, kept for routes and silences that match it.
          labels: { severity: 'warning', window: '15m' },
          annotations: {
            summary: 'Expired sessions are spiking in project {{ $labels.project_id }}',
            description: '{{ $value | humanize }} sessions expired in the last 15 minutes, more than %(expiredSessionsSpikeFactor)s times the daily average. A session-lifetime change or a mass expiry forces many users to log in again.' % cfg,
            runbook_url: runbook('CorbadoExpiredSessionsSpike'),
          },
        },
        {
          comment:: 'Active sessions fell by more than %s from their peak of the last hour (and that peak was above %s).'
                    % [percent($._config.activeSessionsDroppingRatio), cfg.activeSessionsDroppingMinPeak],
          alert: 'CorbadoActiveSessionsDropping',
          expr: |||
            (1 - corbado_sessions{%(corbadoSelector)s, status="active"} / max_over_time(corbado_sessions{%(corbadoSelector)s, status="active"}[1h])) > %(activeSessionsDroppingRatio)s
            and
            max_over_time(corbado_sessions{%(corbadoSelector)s, status="active"}[1h]) > %(activeSessionsDroppingMinPeak)s
          ||| % cfg,
          'for': cfg.activeSessionsDroppingFor,
          labels: { severity: 'critical' },
          annotations: {
            summary: 'Active sessions dropped sharply in project {{ $labels.project_id }}',
            description: 'Active sessions are {{ $value | humanizePercentage }} below their peak of the last hour. Users are being logged out: check revocations and expiries on the dashboard.',
            runbook_url: runbook('CorbadoActiveSessionsDropping'),
          },
        },
        {
          comment:: |||
            One user holds more than %(userHoldsTooManySessionsMin)s active sessions and more than %(userHoldsTooManySessionsFactor)sx the average per user.
            Needs --per-user.top-k of at least 1 (the default is 10).
          ||| % cfg,
          alert: 'CorbadoUserHoldsTooManySessions',
          expr: |||
            corbado_user_active_sessions{%(corbadoSelector)s} > %(userHoldsTooManySessionsMin)s
            and
            corbado_user_active_sessions{%(corbadoSelector)s} > on (project_id, instance, job) group_left () %(userHoldsTooManySessionsFactor)s * corbado:active_sessions_per_user:avg{%(corbadoSelector)s}
          ||| % cfg,
          'for': cfg.userHoldsTooManySessionsFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'User {{ $labels.user_id }} holds {{ $value }} active sessions in project {{ $labels.project_id }}',
            description: 'User {{ $labels.user_id }} holds far more active sessions than a person does: shared credentials, a script logging in without logging out, or a stolen account.',
            runbook_url: runbook('CorbadoUserHoldsTooManySessions'),
          },
        },
        {
          comment:: 'The Corbado API answered 429 at least %s a minute on average over 10 minutes.'
                    % (if $._config.apiRateLimitedPerMinute == 1 then 'once' else '%s times' % cfg.apiRateLimitedPerMinute),
          alert: 'CorbadoAPIRateLimited',
          expr: 'sum without (code) (rate(corbado_exporter_api_requests_total{%(corbadoSelector)s, code="429"}[10m])) * 60 >= %(apiRateLimitedPerMinute)s' % cfg,
          'for': cfg.apiRateLimitedFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'Corbado is rate-limiting the exporter for project {{ $labels.project_id }}',
            description: "The Corbado API answers 429 to the exporter. Polls slow down and may fail; lower --corbado.max-requests-per-second or --corbado.concurrency, or lengthen --poll.interval, before your users' logins are throttled too.",
            runbook_url: runbook('CorbadoAPIRateLimited'),
          },
        },
        {
          comment:: |||
            More than %s of the polls of the last hour re-paged every active session because the
            kept set failed its proof or check and the difference was too wide to locate, or a
            change query failed. Scheduled resyncs do not count, nor do repairs (ranges re-paged
            alone), which cost what is wrong and are the normal answer to a failed proof.
          ||| % percent($._config.incrementalKeepsResyncingRatio),
          alert: 'CorbadoIncrementalKeepsResyncing',
          expr: |||
            sum without (reason) (increase(corbado_exporter_resyncs_total{%(corbadoSelector)s, reason=~"mismatch|error"}[1h]))
              / (increase(corbado_exporter_polls_total{%(corbadoSelector)s}[1h]) > 0)
            > %(incrementalKeepsResyncingRatio)s
          ||| % cfg,
          'for': cfg.incrementalKeepsResyncingFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'Incremental polling of project {{ $labels.project_id }} keeps resyncing',
            description: "{{ $value | humanizePercentage }} of the last hour's polls re-paged every active session, because the differences were too many to locate by counting ranges, so each costs as much as the filter strategy. The exporter's log says why once (for example: ended sessions do not move `updated`). The numbers stay exact; the API quota spent does not shrink.",
            runbook_url: runbook('CorbadoIncrementalKeepsResyncing'),
          },
        },
        {
          comment:: |||
            Instances of one job that share a --config.file disagree: two values of
            --total-shards, one shard claimed twice, or fewer instances reporting than the total.
            Each means some projects are polled twice or by no instance. Exporters that do not
            shard (--total-shards 1) are left out of the ordinal check, so several of them in one
            job do not fire it. The `for` covers a rolling update's restarts.
          |||,
          alert: 'CorbadoExporterShardsDisagree',
          expr: |||
            count by (job) (count_values by (job) ("total_shards", corbado_exporter_total_shards{%(corbadoSelector)s})) > 1
            or
            max by (job) (count_values by (job) ("shard", corbado_exporter_shard_ordinal{%(corbadoSelector)s} and on (job, instance) (corbado_exporter_total_shards{%(corbadoSelector)s} > 1))) > 1
            or
            count by (job) (corbado_exporter_total_shards{%(corbadoSelector)s}) < max by (job) (corbado_exporter_total_shards{%(corbadoSelector)s})
          ||| % cfg,
          'for': cfg.exporterShardsDisagreeFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'The shards of {{ $labels.job }} disagree',
            description: 'Instances of {{ $labels.job }} report different --total-shards, the same --shard twice, or fewer instances than --total-shards, so some projects are polled twice or not at all. Check that --total-shards equals the number of replicas and that every shard is up.',
            runbook_url: runbookOfJob('CorbadoExporterShardsDisagree', fallback=false),
          },
        },
        {
          comment:: |||
            A project polled with --storage.path whose state has not been written for %(stateNotSavedSeconds)s s
            (three save intervals of the default --storage.save-interval of 5m; scale it with yours)
            while its polls succeed, or that holds a complete active set never saved.
            A restart now would resync the project instead of resuming it.
          ||| % cfg,
          alert: 'CorbadoStateNotSaved',
          expr: |||
            (time() - corbado_exporter_state_last_save_timestamp_seconds{%(corbadoSelector)s} > %(stateNotSavedSeconds)s)
              and on (job, instance, project_id) (corbado_up{%(corbadoSelector)s} == 1)
            or
            (corbado_exporter_state_restored{%(corbadoSelector)s}
              and on (job, instance, project_id) corbado_exporter_active_set_timestamp_seconds{%(corbadoSelector)s}
              unless on (job, instance, project_id) corbado_exporter_state_last_save_timestamp_seconds{%(corbadoSelector)s})
          ||| % cfg,
          'for': cfg.stateNotSavedFor,
          labels: { severity: 'warning' },
          annotations: {
            summary: 'The state of project {{ $labels.project_id }} is not being saved',
            description: "corbado-exporter has not written the active set of project {{ $labels.project_id }} to --storage.path for three save intervals. Polling goes on and the numbers stay exact, but a restart would re-page every active session instead of resuming. The exporter's log says why (a full or read-only volume, a missing directory).",
            runbook_url: runbook('CorbadoStateNotSaved'),
          },
        },
      ],
    }],
  },
}
