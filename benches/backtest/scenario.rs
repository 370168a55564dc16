//! The backtest's script: the rhythm of a working week, and the incidents injected at known
//! minutes, each with the alerts it must fire (and only those).

/// Minutes in a day.
pub const DAY: u32 = 24 * 60;

/// What goes wrong, each the way the issue describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A tenth of the active sessions revoked in five minutes.
    MassRevocation,
    /// The same under an API that deletes revoked sessions from the list.
    DeletedRevocations,
    /// A wave of logins created together, expiring together two hours later.
    MassExpiry,
    /// Active sessions −40% in ten minutes.
    MassLogout,
    /// Every API request fails (503) for an hour.
    ApiDown,
    /// The exporter is down for an hour, then restarted from `--storage.path`.
    ExporterDown,
    /// One user accumulates 200 sessions in 20 minutes (a script logging in).
    UserSessions,
    /// A share of the requests answered 429 for 90 minutes.
    RateLimited,
}

impl Kind {
    /// The alerts this incident must fire, each within its `for` plus ten minutes.
    pub fn alerts(self) -> &'static [&'static str] {
        match self {
            Kind::MassRevocation | Kind::DeletedRevocations => &["CorbadoRevokedSessionsSpike"],
            Kind::MassExpiry => &["CorbadoExpiredSessionsSpike"],
            Kind::MassLogout => &["CorbadoActiveSessionsDropping"],
            Kind::ApiDown => &["CorbadoPollsFailing", "CorbadoSessionDataStale"],
            Kind::ExporterDown => &["CorbadoExporterDown"],
            Kind::UserSessions => &["CorbadoUserHoldsTooManySessions"],
            Kind::RateLimited => &["CorbadoAPIRateLimited"],
        }
    }

    /// Minutes the incident itself lasts, from its start.
    pub fn lasts(self) -> u32 {
        match self {
            Kind::MassRevocation | Kind::DeletedRevocations => 5,
            Kind::MassExpiry => 1,
            Kind::MassLogout => 10,
            Kind::ApiDown | Kind::ExporterDown => 60,
            Kind::UserSessions => 20,
            Kind::RateLimited => 90,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::MassRevocation => "mass revocation",
            Kind::DeletedRevocations => "revocations that delete",
            Kind::MassExpiry => "mass expiry",
            Kind::MassLogout => "mass logout",
            Kind::ApiDown => "API failing 1h",
            Kind::ExporterDown => "exporter down 1h, restarted",
            Kind::UserSessions => "one user, 200 sessions",
            Kind::RateLimited => "sustained 429s",
        }
    }
}

/// One injected incident: what, and the minute (from the start of the run) it starts.
#[derive(Clone, Copy, Debug)]
pub struct Incident {
    pub kind: Kind,
    pub start: u32,
}

/// Minutes after an incident ends during which an alert it caused may still start firing:
/// what fires in `[start, start + lasts + AFTERMATH)` is the incident's; anything else is false.
pub const AFTERMATH: u32 = 60;

impl Incident {
    pub fn covers(&self, minute: u32) -> bool {
        (self.start..self.start + self.kind.lasts() + AFTERMATH).contains(&minute)
    }
}

/// The incidents of a run of `days`: a week spreads them over Tuesday to Saturday, leaving
/// Monday (the first day's baseline) and Sunday quiet; a single day packs them in a day, the
/// busiest hour (12:00–13:00) left quiet.
pub fn incidents(days: u32) -> Vec<Incident> {
    let at = |day: u32, hour: u32, minute: u32| day * DAY + hour * 60 + minute;
    let plan: Vec<(Kind, u32)> = if days >= 7 {
        vec![
            (Kind::MassRevocation, at(1, 10, 30)),
            (Kind::UserSessions, at(1, 15, 0)),
            (Kind::ApiDown, at(2, 3, 0)),
            (Kind::MassExpiry, at(2, 11, 0)),
            (Kind::MassLogout, at(3, 14, 0)),
            (Kind::ExporterDown, at(3, 20, 0)),
            (Kind::DeletedRevocations, at(4, 9, 30)),
            (Kind::RateLimited, at(5, 12, 0)),
        ]
    } else {
        vec![
            (Kind::ApiDown, at(0, 2, 0)),
            (Kind::ExporterDown, at(0, 4, 0)),
            (Kind::UserSessions, at(0, 6, 30)),
            (Kind::MassExpiry, at(0, 9, 0)),
            (Kind::MassRevocation, at(0, 10, 45)),
            (Kind::MassLogout, at(0, 14, 0)),
            (Kind::DeletedRevocations, at(0, 16, 30)),
            (Kind::RateLimited, at(0, 19, 0)),
        ]
    };
    let plan: Vec<Incident> = plan
        .into_iter()
        .map(|(kind, start)| Incident { kind, start })
        .collect();
    for (i, a) in plan.iter().enumerate() {
        for b in &plan[i + 1..] {
            assert!(
                !a.covers(b.start) && !b.covers(a.start),
                "{a:?} overlaps {b:?}"
            );
        }
        assert!(
            !a.covers(12 * 60 + 30),
            "{a:?} covers the first day's busiest hour"
        );
    }
    plan
}

/// How busy the project is at `minute` of the run (which starts on a Monday at 00:00), as a
/// multiple of the steady arrival rate: logins peak at 13:00 on working days, fall at night
/// and on the weekend. Smooth, so no hour loses a large share of its active sessions.
pub fn rhythm(minute: u32) -> f64 {
    let day = (minute / DAY) % 7;
    let hour = f64::from(minute % DAY) / 60.0;
    // A bump from 06:00 to 20:00, highest at 13:00.
    let daytime = if (6.0..20.0).contains(&hour) {
        (std::f64::consts::PI * (hour - 6.0) / 14.0).sin().powi(2)
    } else {
        0.0
    };
    let weekday = if day < 5 { 1.0 } else { 0.35 };
    0.3 + 1.9 * daytime * weekday
}
