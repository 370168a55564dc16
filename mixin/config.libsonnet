// What a user of the mixin may change: the selector of the exporter's series, each alert's
// thresholds and `for` duration, where the runbook links point, and the dashboard's identity.
// Override it with `(import 'mixin.libsonnet') + { _config+:: { ... } }`.
//
// The thresholds are tuned by the backtest (benches/backtest.rs, docs/monitoring.md): a
// simulated week through a real Prometheus, where every injected incident must page within its
// `for` plus ten minutes and nothing else may. Every number an alert compares against is a
// field below and never a literal in alerts.libsonnet.
{
  _config+:: {
    // The label matchers that select the exporter's series, without braces. Every alert,
    // recording rule and dashboard query reads the exporter's series through it. It must not
    // be empty: `job=~".+"` matches every job.
    corbadoSelector: 'job="corbado"',

    // Where each alert's runbook_url points. Empty: the runbook of the exporter that fired,
    // `<runbookScheme>://<its instance label>/runbook#<alert in lower case>` (for an exporter
    // that is down, or an alert about all shards, another instance of the same job that is up).
    // A fixed base instead, such as the exporter's --web.external-url followed by /runbook
    // (`https://ops.example.com/corbado/runbook`) or a wiki page holding docs/runbook.md,
    // links every alert to `<runbookURL>#<alert in lower case>`.
    runbookURL: '',
    // The scheme of the per-instance links: `https` when --web.config.file enables TLS.
    runbookScheme: 'http',

    // ---- alerts: each one's thresholds and `for` ----------------------------------------------
    exporterDownFor: '5m',

    // Every poll failed over this window (a poll a minute: that many in a row), then `for`.
    // The backtest (benches/backtest.rs) needs an hour's outage paged within 15 minutes.
    pollsFailingWindow: '8m',
    pollsFailingFor: '5m',

    // Seconds since the last successful poll; keep it above --poll.interval plus a poll's
    // duration (with --poll.interval above 5m, raise it). 8 minutes: an outage pages within 15.
    sessionDataStaleSeconds: 480,
    sessionDataStaleFor: '5m',

    // A spike is more than `factor` times the series' own average over the last day, and
    // above `floor`, so that a quiet project does not page on a handful.
    revokedSessionsSpikeFactor: 3,
    revokedSessionsSpikeFloor: 20,
    revokedSessionsSpikeFor: '5m',

    expiredSessionsSpikeFactor: 3,
    expiredSessionsSpikeFloor: 50,
    expiredSessionsSpikeFor: '5m',

    // The fraction active sessions fell from their peak of the last hour, and the least that
    // peak must have been.
    activeSessionsDroppingRatio: 0.3,
    activeSessionsDroppingMinPeak: 100,
    activeSessionsDroppingFor: '5m',

    // Active sessions of one user, absolute and as a multiple of the average per user.
    userHoldsTooManySessionsMin: 50,
    userHoldsTooManySessionsFactor: 10,
    userHoldsTooManySessionsFor: '15m',

    // 429 answers per minute, averaged over 10 minutes.
    apiRateLimitedPerMinute: 1,
    apiRateLimitedFor: '10m',

    // The share of the last hour's polls that resynced for a mismatch or an error.
    incrementalKeepsResyncingRatio: 0.5,
    incrementalKeepsResyncingFor: '15m',

    // Long enough to cover a rolling update's restarts.
    exporterShardsDisagreeFor: '10m',

    // Seconds since the state was last saved: three times the default --storage.save-interval
    // of 5m; scale it with yours.
    stateNotSavedSeconds: 900,
    stateNotSavedFor: '5m',

    // ---- the dashboard -------------------------------------------------------------------------
    // Links to the dashboard survive re-imports through its uid: keep it.
    dashboardUID: 'corbado-sessions',
    dashboardTitle: 'Corbado sessions',
    dashboardTags: ['corbado', 'sessions', 'security'],
  },
}
