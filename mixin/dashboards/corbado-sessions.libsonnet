// The Grafana dashboard (Grafana 10 or later), in plain jsonnet: a few constructors for the
// panel types it uses, a layout that places each row's panels left to right, and the panels.
// Every query reads the exporter's series through `_config.corbadoSelector` and the project
// variable. Panel ids are fixed by hand: links to a single panel (`viewPanel=<id>`) use them.
{
  local cfg = $._config,

  // The data source every panel and query uses: the dashboard's variable, never a fixed uid.
  local ds = { type: 'prometheus', uid: '${datasource}' },

  // `%(sel)s` in a query stands for the exporter's selector and the chosen projects.
  local sel = { sel: cfg.corbadoSelector + ', project_id=~"$project_id"' },

  local target(expr, legend) = {
    datasource: ds,
    expr: expr % sel,
    legendFormat: legend,
  },

  // The instance's own series (process_*) have no project_id: `%(isel)s` is the selector alone.
  local instanceTarget(expr, legend) = target(expr % { isel: cfg.corbadoSelector, sel: '%(sel)s' }, legend),

  local step(color, value) = { color: color, value: value },

  // What every panel has. `w` and `h` are its size on the grid; `layout` places it.
  local panel(type, id, title, description, w, h, targets) = {
    type: type,
    title: title,
    description: description,
    id: id,
    datasource: ds,
    w:: w,
    h:: h,
    targets: [
      targets[i] { refId: std.char(std.codepoint('A') + i) }
      for i in std.range(0, std.length(targets) - 1)
    ],
    fieldConfig: { defaults: { unit: 'short' }, overrides: [] },
  },

  local stat(id, title, description, w, h, targets, unit='short', steps=[step('green', null)]) =
    panel('stat', id, title, description, w, h, targets) + {
      fieldConfig+: { defaults+: {
        unit: unit,
        color: { mode: 'thresholds' },
        thresholds: { mode: 'absolute', steps: steps },
      } },
      options: {
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        colorMode: 'value',
        graphMode: 'area',
        textMode: 'auto',
        orientation: 'auto',
        justifyMode: 'auto',
      },
    },

  local timeseries(id, title, description, w, h, targets, unit='short', fill=10, stacking='none') =
    panel('timeseries', id, title, description, w, h, targets) + {
      fieldConfig+: { defaults+: {
        unit: unit,
        custom: {
          drawStyle: 'line',
          lineWidth: 1,
          fillOpacity: fill,
          stacking: { mode: stacking, group: 'A' },
          showPoints: 'never',
          spanNulls: false,
        },
      } },
      options: {
        legend: { displayMode: 'list', placement: 'bottom', showLegend: true },
        tooltip: { mode: 'multi', sort: 'desc' },
      },
    },

  // A table of instant queries, one column per query.
  local table(id, title, description, w, h, targets) =
    panel('table', id, title, description, w, h, targets) + {
      targets: [t { instant: true, range: false, format: 'table' } for t in super.targets],
      options: { showHeader: true, cellHeight: 'sm' },
    },

  local bargauge(id, title, description, w, h, targets) =
    panel('bargauge', id, title, description, w, h, targets) + {
      targets: [t { instant: true } for t in super.targets],
      fieldConfig+: { defaults+: { min: 0, color: { mode: 'continuous-BlPu' } } },
      options: {
        orientation: 'vertical',
        displayMode: 'basic',
        reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
        showUnfilled: true,
      },
    },

  local byName(field, properties) = { matcher: { id: 'byName', options: field }, properties: properties },

  local row(id, title, panels) = { id: id, title: title, panels: panels },

  // Each row, then its panels left to right, wrapping onto a new line when the next one would
  // not fit in the grid's 24 columns; a line is as tall as its tallest panel.
  local layout(rows) =
    local placeRow(state, row) =
      local header = {
        type: 'row',
        title: row.title,
        id: row.id,
        collapsed: false,
        gridPos: { h: 1, w: 24, x: 0, y: state.y },
        panels: [],
      };
      local placePanel(s, p) =
        local wrap = s.x + p.w > 24;
        local x = if wrap then 0 else s.x;
        local y = if wrap then s.y + s.lineHeight else s.y;
        local lineHeight = if wrap then p.h else std.max(s.lineHeight, p.h);
        {
          x: x + p.w,
          y: y,
          lineHeight: lineHeight,
          placed: s.placed + [p { gridPos: { h: p.h, w: p.w, x: x, y: y } }],
        };
      local placed = std.foldl(placePanel, row.panels, { x: 0, y: state.y + 1, lineHeight: 0, placed: [] });
      { y: placed.y + placed.lineHeight, panels: state.panels + [header] + placed.placed };
    std.foldl(placeRow, rows, { y: 0, panels: [] }).panels,

  local variable(name, label, query) = {
    name: name,
    label: label,
    type: 'query',
    datasource: ds,
    definition: query,
    query: { query: query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    refresh: 2,
    current: {},
    hide: 0,
    options: [],
    regex: '',
  },

  grafanaDashboards+:: {
    'corbado-sessions.json': {
      __inputs: [],
      annotations: { list: [{
        builtIn: 1,
        datasource: { type: 'grafana', uid: '-- Grafana --' },
        enable: true,
        hide: true,
        iconColor: 'rgba(0, 211, 255, 1)',
        name: 'Annotations & Alerts',
        type: 'dashboard',
      }] },
      description: "Sessions of a Corbado project, from corbado-exporter: how many, in which state, how fast they come and go, who holds the most, and the exporter's own health.",
      editable: true,
      graphTooltip: 1,
      links: [],
      liveNow: false,
      refresh: '1m',
      schemaVersion: 39,
      tags: cfg.dashboardTags,
      time: { from: 'now-24h', to: 'now' },
      timepicker: {},
      timezone: '',
      title: cfg.dashboardTitle,
      uid: cfg.dashboardUID,
      version: 1,
      weekStart: '',
      templating: { list: [
        {
          name: 'datasource',
          label: 'Data source',
          type: 'datasource',
          query: 'prometheus',
          current: {},
          hide: 0,
          refresh: 1,
          regex: '',
          options: [],
        },
        variable('project_id', 'Project', 'label_values(corbado_up{%(corbadoSelector)s}, project_id)' % cfg)
        + { includeAll: true, multi: true, allValue: '.*', sort: 1 },
        variable('window', 'Window', 'label_values(corbado_sessions_created_in_window{%(corbadoSelector)s}, window)' % cfg)
        + { includeAll: false, multi: false, sort: 0 },
      ] },
      panels: layout([
        row(33, 'Projects', [
          table(
            id=34,
            title='Projects polled',
            w=24,
            h=8,
            description='One row per project: whether its last poll succeeded, its active sessions, how long '
                        + 'ago it last succeeded, the API requests a minute it costs (the documented quota is '
                        + '600 a minute per project), and the instance polling it. With several exporters '
                        + 'sharing projects (--total-shards), each project appears under the shard that polls '
                        + "it. Click an instance for its status page (the exporter's own `/`: the last 20 "
                        + 'polls, the last error, the API budget), or a project for its section there; the link '
                        + "uses the instance label as the address, so Grafana's users must be able to reach the "
                        + 'exporters.',
            targets=[
              target('max by (project_id, instance) (corbado_up{%(sel)s})', '__auto'),
              target('sum by (project_id, instance) (corbado_sessions{%(sel)s, status="active"})', '__auto'),
              target('time() - max by (project_id, instance) (corbado_exporter_last_poll_success_timestamp_seconds{%(sel)s})', '__auto'),
              target('sum by (project_id, instance) (rate(corbado_exporter_api_requests_total{%(sel)s}[5m])) * 60', '__auto'),
            ],
          ) + {
            transformations: [
              { id: 'merge', options: {} },
              {
                id: 'organize',
                options: {
                  excludeByName: { Time: true },
                  indexByName: { project_id: 0, 'Value #A': 1, 'Value #B': 2, 'Value #C': 3, 'Value #D': 4, instance: 5 },
                  renameByName: {
                    project_id: 'project',
                    'Value #A': 'up',
                    'Value #B': 'active sessions',
                    'Value #C': 'last success',
                    'Value #D': 'API requests / min',
                    instance: 'instance',
                  },
                },
              },
              { id: 'sortBy', options: { sort: [{ field: 'project' }] } },
            ],
            fieldConfig+: {
              overrides: [
                byName('up', [
                  { id: 'mappings', value: [{ type: 'value', options: { '0': { text: 'down', color: 'red' }, '1': { text: 'up', color: 'green' } } }] },
                  { id: 'custom.cellOptions', value: { type: 'color-background' } },
                ]),
                byName('last success', [{ id: 'unit', value: 's' }, { id: 'decimals', value: 0 }]),
                byName('API requests / min', [{ id: 'decimals', value: 1 }]),
                // The instance label is the exporter's address: its status page, and each project's
                // section there.
                byName('instance', [{ id: 'links', value: [{ title: 'Status page of ${__value.text}', url: 'http://${__value.raw}/', targetBlank: true }] }]),
                byName('project', [{ id: 'links', value: [{ title: '${__value.text} on the status page of ${__data.fields.instance}', url: 'http://${__data.fields.instance}/#project-${__value.raw}', targetBlank: true }] }]),
              ],
            },
          },
        ]),
        row(1, 'Sessions now', [
          stat(
            id=2,
            title='Active sessions',
            w=4,
            h=4,
            description='Sessions in status active at the last successful poll. A sudden fall means users are '
                        + "being logged out: look at the ending rates below; a gap means the exporter's data "
                        + 'went stale (see Exporter health).',
            targets=[
              target('sum(corbado_sessions{%(sel)s, status="active"})', 'active'),
            ],
          ),
          stat(
            id=3,
            title='Users with active sessions',
            w=4,
            h=4,
            description='Distinct users holding at least one active session.',
            targets=[
              target('sum(corbado_users_with_active_sessions{%(sel)s})', 'users'),
            ],
          ),
          stat(
            id=4,
            title="Busiest user's active sessions",
            w=4,
            h=4,
            steps=[step('green', null), step('orange', 20), step('red', 50)],
            description='The most active sessions one user holds. A person rarely holds more than a handful; '
                        + 'dozens point at shared credentials, a script that never logs out, or a stolen '
                        + 'account (see the top users table).',
            targets=[
              target('max(corbado_user_active_sessions_max{%(sel)s})', 'max'),
            ],
          ),
          stat(
            id=5,
            title='Created in the last $window',
            w=4,
            h=4,
            description='Sessions of any status created within the selected window. Near zero during business '
                        + 'hours means logins are failing upstream of the sessions.',
            targets=[
              target('sum(corbado_sessions_created_in_window{%(sel)s, window="$window"})', 'created'),
            ],
          ),
          stat(
            id=6,
            title='Expiring in the next $window',
            w=4,
            h=4,
            description='Active sessions that will expire within the selected window: the users who will have '
                        + 'to log in again soon.',
            targets=[
              target('sum(corbado_sessions_expiring_in_window{%(sel)s, window="$window"})', 'expiring'),
            ],
          ),
          stat(
            id=7,
            title='Expired in the last $window',
            w=4,
            h=4,
            description='Expired sessions whose expiry lies within the selected window. A jump against the '
                        + 'usual level is a mass expiry (lifetime change, key rotation).',
            targets=[
              target('sum(corbado_sessions_expired_in_window{%(sel)s, window="$window"})', 'expired'),
            ],
          ),
          timeseries(
            id=8,
            title='Active sessions',
            w=12,
            h=8,
            description='Active sessions over time. Compare today with the same time yesterday; a sharp drop '
                        + 'fires CorbadoActiveSessionsDropping.',
            targets=[
              target('sum by (project_id) (corbado_sessions{%(sel)s, status="active"})', '{{project_id}} active'),
              target('sum by (project_id) (corbado_sessions{%(sel)s, status="active"} offset 1d)', '{{project_id}} a day ago'),
            ],
          ),
          timeseries(
            id=9,
            title='Sessions by status',
            w=12,
            h=8,
            fill=30,
            stacking='normal',
            description='All sessions the project keeps, stacked by status. Ended statuses only grow; unknown '
                        + 'should stay 0 (it counts statuses the exporter does not know: upgrade it if it '
                        + 'rises).',
            targets=[
              target('sum by (status) (corbado_sessions{%(sel)s})', '{{status}}'),
            ],
          ),
        ]),
        row(10, 'Churn', [
          timeseries(
            id=11,
            title='Sessions created and ended per minute',
            w=12,
            h=8,
            description='What the exporter saw created and end over 15 minutes, divided by 15: the counters '
                        + 'where it keeps an active set (a revocation that deletes the session shows as '
                        + '"ended: deleted"), else, under filter and scan, the growth of the gauges. '
                        + 'Revocation or expiry spikes stand out here first; the alerts judge them against '
                        + 'the daily average.',
            targets=[
              target(|||
                sum(
                  increase(corbado_sessions_created_total{%(sel)s}[15m])
                  or
                  clamp_min(sum without (status) (delta(corbado_sessions{%(sel)s}[15m])), 0)
                    unless on (job, instance, project_id) corbado_sessions_created_total{%(sel)s}
                ) / 15
              |||, 'created'),
              target(|||
                sum by (status) (
                  increase(corbado_sessions_ended_total{%(sel)s}[15m])
                  or
                  clamp_min(delta(corbado_sessions{%(sel)s, status=~"revoked|expired|logged_out|inactivity_reached"}[15m]), 0)
                    unless on (job, instance, project_id) corbado_sessions_ended_total{%(sel)s}
                ) / 15
              |||, 'ended: {{status}}'),
            ],
          ),
          timeseries(
            id=12,
            title='Created, expiring and expired in the window',
            w=12,
            h=8,
            description='The window gauges for the selected window: created in the last window, active and '
                        + 'expiring in the next, expired in the last.',
            targets=[
              target('sum(corbado_sessions_created_in_window{%(sel)s, window="$window"})', 'created (last $window)'),
              target('sum(corbado_sessions_expiring_in_window{%(sel)s, window="$window"})', 'expiring (next $window)'),
              target('sum(corbado_sessions_expired_in_window{%(sel)s, window="$window"})', 'expired (last $window)'),
            ],
          ),
        ]),
        row(13, 'Users', [
          table(
            id=14,
            title='Top users by active sessions',
            w=8,
            h=8,
            description='The top-k users (--per-user.top-k) by active sessions. A user far above the rest '
                        + "fires CorbadoUserHoldsTooManySessions; check the account in Corbado's developer "
                        + 'panel and revoke its sessions if it is not legitimate.',
            targets=[
              target('corbado_user_active_sessions{%(sel)s}', '__auto'),
            ],
          ) + {
            transformations: [
              {
                id: 'organize',
                options: {
                  excludeByName: { Time: true, __name__: true, instance: true, job: true },
                  renameByName: { Value: 'active sessions', user_id: 'user', project_id: 'project' },
                },
              },
              { id: 'sortBy', options: { sort: [{ field: 'active sessions', desc: true }] } },
            ],
          },
          timeseries(
            id=15,
            title='Busiest user and average per user',
            w=8,
            h=8,
            description='The most active sessions one user holds, against the average per user with any. The '
                        + 'gap between the two is what the per-user alert looks at.',
            targets=[
              target('max(corbado_user_active_sessions_max{%(sel)s})', 'busiest user'),
              target('sum(corbado_sessions{%(sel)s, status="active"}) / clamp_min(sum(corbado_users_with_active_sessions{%(sel)s}), 1)', 'average per user'),
            ],
          ),
          timeseries(
            id=16,
            title='Users with active sessions',
            w=8,
            h=8,
            description='Distinct users holding at least one active session.',
            targets=[
              target('sum by (project_id) (corbado_users_with_active_sessions{%(sel)s})', '{{project_id}}'),
            ],
          ),
        ]),
        row(17, 'Exporter health', [
          stat(
            id=18,
            title='Last poll',
            w=4,
            h=4,
            steps=[step('red', null), step('green', 1)],
            description="1 when the last poll of the Corbado API succeeded. 0: read the exporter's log; 401 "
                        + 'means the project ID or secret is wrong, 429 means Corbado is rate-limiting the '
                        + 'exporter.',
            targets=[
              target('min(corbado_up{%(sel)s})', 'up'),
            ],
          ),
          stat(
            id=19,
            title='Age of the last successful poll',
            w=4,
            h=4,
            unit='s',
            steps=[step('green', null), step('orange', 180), step('red', 600)],
            description="Seconds since the last successful poll. Above --poll.interval plus a poll's duration "
                        + 'means polls are failing; after --poll.max-staleness the session gauges disappear.',
            targets=[
              target('time() - max(corbado_exporter_last_poll_success_timestamp_seconds{%(sel)s})', 'age'),
            ],
          ),
          stat(
            id=20,
            title='Auto fallbacks (1h)',
            w=4,
            h=4,
            steps=[step('green', null), step('orange', 1)],
            description='Polls of the auto strategy that fell back to a full scan in the last hour. Non-zero '
                        + "means the API's filtered totals did not add up; polls stay exact but cost a request "
                        + 'per page of all sessions.',
            targets=[
              target('sum(increase(corbado_exporter_strategy_fallbacks_total{%(sel)s}[1h]))', 'fallbacks'),
            ],
          ),
          stat(
            id=21,
            title='429s (1h)',
            w=4,
            h=4,
            steps=[step('green', null), step('red', 1)],
            description='Responses with HTTP 429 from the Corbado API in the last hour. Any is worth a look: '
                        + "lower --corbado.max-requests-per-second or --corbado.concurrency before users' "
                        + 'logins get throttled.',
            targets=[
              target('sum(increase(corbado_exporter_api_requests_total{%(sel)s, code="429"}[1h])) or vector(0)', '429s'),
            ],
          ),
          stat(
            id=22,
            title='Requests per poll',
            w=4,
            h=4,
            description='API requests the last poll made, retries included. A steady incremental (auto) poll '
                        + 'costs about 15 counts plus a page per 100 changed sessions; filter and a resync add '
                        + 'a page per 100 active sessions; scan costs a page per 100 sessions ever kept.',
            targets=[
              target('sum(corbado_exporter_last_poll_requests{%(sel)s})', 'requests'),
            ],
          ),
          stat(
            id=23,
            title='Poll duration',
            w=4,
            h=4,
            unit='s',
            description='Wall time of the last poll. Longer than --poll.interval delays the next poll.',
            targets=[
              target('max(corbado_exporter_last_poll_duration_seconds{%(sel)s})', 'duration'),
            ],
          ),
          timeseries(
            id=24,
            title='Poll duration and requests per poll',
            w=8,
            h=8,
            description='How long each poll took and how many requests it made. A rise in requests with no '
                        + 'rise in active sessions usually means auto fell back to scanning.',
            targets=[
              target('max by (project_id) (corbado_exporter_last_poll_duration_seconds{%(sel)s})', '{{project_id}} duration (s)'),
              target('sum by (project_id) (corbado_exporter_last_poll_requests{%(sel)s})', '{{project_id}} requests'),
            ],
          ),
          timeseries(
            id=25,
            title='API responses by code',
            w=8,
            h=8,
            unit='reqps',
            description='Corbado API responses per second by HTTP status; code="error" is timeouts and '
                        + 'transport failures. Anything but 200 is retried or fails the poll.',
            targets=[
              target('sum by (code) (rate(corbado_exporter_api_requests_total{%(sel)s}[$__rate_interval]))', '{{code}}'),
            ],
          ),
          timeseries(
            id=26,
            title='API latency',
            w=8,
            h=8,
            unit='s',
            description='Latency of Corbado API requests (each attempt), median and 99th percentile.',
            targets=[
              target('histogram_quantile(0.5, sum by (le) (rate(corbado_exporter_api_request_duration_seconds_bucket{%(sel)s}[$__rate_interval])))', 'p50'),
              target('histogram_quantile(0.99, sum by (le) (rate(corbado_exporter_api_request_duration_seconds_bucket{%(sel)s}[$__rate_interval])))', 'p99'),
            ],
          ),
        ]),
        row(27, 'API budget and active set', [
          timeseries(
            id=28,
            title='API requests per minute against the budget',
            w=12,
            h=8,
            description="Requests the exporter spends per minute from the project's own Corbado quota, "
                        + 'retries included. Corbado documents 100 requests per 10 s (600 a minute, the red '
                        + "line) for everything the project does, logins included; the exporter's default cap "
                        + 'of 5 a second is the orange line at 300. A steady incremental poll costs about 15 '
                        + 'counts plus a page per 100 changed sessions; resyncs and filter cost a page per 100 '
                        + 'active sessions.',
            targets=[
              target('sum by (project_id) (rate(corbado_exporter_api_requests_total{%(sel)s}[$__rate_interval])) * 60', '{{project_id}}'),
            ],
          ) + {
            fieldConfig+: { defaults+: {
              min: 0,
              custom+: { thresholdsStyle: { mode: 'line' } },
              // Corbado's documented 600 a minute, and the exporter's default cap of 300.
              thresholds: { mode: 'absolute', steps: [step('green', null), step('orange', 300), step('red', 600)] },
            } },
          },
          timeseries(
            id=29,
            title='Resyncs and repairs by reason',
            w=12,
            h=8,
            description='Full re-pages of the active sessions (resyncs) and created-time ranges re-paged '
                        + 'alone (repairs) in the last hour, by reason. Resyncs: initial (start, or nothing '
                        + 'usable held), scheduled (--poll.resync-interval, daily by default), mismatch (the '
                        + 'kept set failed its proof or check and locating the difference would have cost more '
                        + 'than a resync), error (a change query failed). Repairs: verify (the rolling check, '
                        + 'which counts every held session once per --poll.verify-interval, found a range '
                        + 'changed), mismatch (a failed proof, located by counting ranges). Repairs on most '
                        + 'polls mean the API ends sessions without moving `updated`: each costs a few counts '
                        + 'and pages, not a resync. Mismatch resyncs on most polls mean there are too many such '
                        + 'differences to locate (see the CorbadoIncrementalKeepsResyncing runbook).',
            targets=[
              target('sum by (reason) (increase(corbado_exporter_resyncs_total{%(sel)s}[1h]))', 'resync: {{reason}}'),
              target('sum by (reason) (increase(corbado_exporter_repairs_total{%(sel)s}[1h]))', 'repair: {{reason}}'),
            ],
          ) + { fieldConfig+: { defaults+: { min: 0 } } },
          stat(
            id=30,
            title='Active set age',
            w=6,
            h=8,
            unit='s',
            steps=[step('green', null), step('orange', 300), step('red', 900)],
            description='How old the active set behind the per-user gauges is: the time since the poll whose '
                        + 'active sessions they show. Grows past the poll interval while a first sync or a '
                        + 'resync of a large project runs in the background; counts are published every '
                        + 'interval regardless.',
            targets=[
              target('max(time() - corbado_exporter_active_set_timestamp_seconds{%(sel)s})', 'age'),
            ],
          ),
          stat(
            id=31,
            title='Active sessions held',
            w=6,
            h=8,
            description='Active sessions the exporter keeps between polls (incremental and auto), about 40 '
                        + 'bytes each; equals corbado_sessions{status="active"} whenever the proof holds.',
            targets=[
              target('sum(corbado_exporter_active_set_sessions{%(sel)s})', 'held'),
            ],
          ),
          bargauge(
            id=32,
            title='Users by active sessions',
            w=12,
            h=8,
            description='How many users hold at most le active sessions (cumulative: +Inf is every user '
                        + 'holding one). A long tail beyond 10 or 20 is shared accounts, scripts that log in '
                        + 'without logging out, or stolen credentials; the Top users panel names them.',
            targets=[
              target('sum by (le) (corbado_active_sessions_per_user_bucket{%(sel)s})', '≤ {{le}}'),
            ],
          ),
        ]),
        row(39, 'Exporter process', [
          timeseries(
            id=40,
            title='Memory',
            w=6,
            h=8,
            unit='bytes',
            description='Resident memory of each exporter process. It grows with the active sessions held '
                        + '(about 72 bytes each) and the projects polled; a steady climb with a steady set is '
                        + 'worth a look.',
            targets=[
              instanceTarget('process_resident_memory_bytes{%(isel)s}', '{{instance}}'),
            ],
          ),
          timeseries(
            id=41,
            title='CPU',
            w=6,
            h=8,
            unit='percentunit',
            description='CPU time each exporter process spends, as a share of one core. A steady poll costs '
                        + 'milliseconds; a resync or a first sync shows as a bump.',
            targets=[
              instanceTarget('rate(process_cpu_seconds_total{%(isel)s}[$__rate_interval])', '{{instance}}'),
            ],
          ),
          timeseries(
            id=42,
            title='Open file descriptors',
            w=6,
            h=8,
            unit='percentunit',
            description='Open file descriptors against the limit (process_max_fds). Each scrape and each '
                        + 'request in flight holds one; near 1 the exporter can no longer accept connections.',
            targets=[
              instanceTarget('process_open_fds{%(isel)s} / process_max_fds{%(isel)s}', '{{instance}}'),
            ],
          ),
          stat(
            id=43,
            title='Restarts (1d)',
            w=6,
            h=8,
            steps=[step('green', null), step('orange', 1), step('red', 3)],
            description='Times an exporter process started anew in the last day (its process_start_time_seconds '
                        + 'changed). Without --storage.path each restart re-pages every active session.',
            targets=[
              instanceTarget('sum(changes(process_start_time_seconds{%(isel)s}[1d]))', 'restarts'),
            ],
          ),
        ]),
      ]),
    },
  },
}
