//! State across restarts (`--storage.path`), over real HTTP against the simulator on a clock
//! the test moves: a graceful restart and a crash (no save at the end) resume exact and cheap,
//! every kind of bad file is set aside and resynced, a directory that cannot be written is a
//! counted failure and polling goes on, each project keeps its own file, a reload keeps a
//! restarted project's set, and a project new to an instance resyncs there once.

use std::path::{Path, PathBuf};
use std::time::Duration;

use corbado_exporter::clock::{self, Clock};
use corbado_exporter::config::Storage;
use corbado_exporter::poller::{PollReport, ResyncReason, Strategy};
use corbado_exporter::simulator::{Faults, Params, Population};
use corbado_exporter::storage;

use crate::helpers::{
    config, eventually, scratch_dir, serve_sim, spawn_app, TestApp, TestSim, PROJECT,
};

const MINUTE: Duration = Duration::from_secs(60);

/// 100,000 sessions, 5,000 active (a resync is 51 pages), a few hundred changing a minute.
fn project(seed: u64) -> Params {
    Params::realistic(100_000, seed)
}

struct World {
    sim: TestSim,
    clock: Clock,
    /// The state folder, which [`in_world`] removes once the world and its runtime are gone.
    dir: PathBuf,
}

/// Runs `test` in a world of its own (simulated project `seed`, state folder named after `name`)
/// on a runtime of its own, and removes the folder only once that runtime has shut down. A
/// poll's save runs on a blocking thread that nothing awaits; shutting the runtime down waits
/// for it, where a folder removed while it writes would get its file back and stay behind.
fn in_world<F>(name: &str, seed: u64, test: impl FnOnce(World) -> F)
where
    F: std::future::Future<Output = ()>,
{
    let scratch = scratch_dir(name);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let now = clock::now_whole_seconds_ms();
        let world = World {
            sim: serve_sim(Population::generate(project(seed), now)).await,
            clock: Clock::manual(now),
            dir: scratch.path().to_owned(),
        };
        test(world).await;
    });
    // Also on a panic, by unwinding: the runtime (waiting for its blocking threads), then the
    // folder.
    drop(runtime);
}

impl World {
    fn dir(&self) -> &Path {
        &self.dir
    }

    /// An exporter for the simulated project that keeps its state in `dir`.
    async fn exporter(&self, dir: &Path) -> TestApp {
        let mut config = config(&self.sim.api_url(), Strategy::Auto);
        config.clock = self.clock.clone();
        config.settings.poll_interval = MINUTE;
        config.storage = Some(Storage {
            dir: dir.to_owned(),
            save_interval: Duration::from_secs(300),
        });
        spawn_app(config).await
    }

    /// A minute on, the population evolved, one poll, checked against the truth.
    async fn poll(&self, app: &TestApp, what: &str) -> PollReport {
        let now = self.clock.advance(MINUTE);
        self.sim.sim.advance(now);
        let report = app.poller.poll_once().await.expect(what);
        self.sim.assert_exact(app, &report, what);
        report
    }

    fn file(&self) -> PathBuf {
        storage::path_for(self.dir(), PROJECT)
    }
}

/// Waits until `app` has written its state (the save after a poll runs on its own thread).
async fn saved(app: &TestApp) {
    eventually(Duration::from_secs(30), "the state to be saved", || async {
        app.store
            .render()
            .contains("corbado_exporter_state_last_save_timestamp_seconds{")
    })
    .await;
}

fn restored(app: &TestApp) -> i64 {
    app.store.metrics.state_restored.get()
}

#[test]
fn a_graceful_restart_resumes_exact_and_costs_no_more_than_three_steady_polls() {
    in_world("graceful", 51, |world| async move {
        let first = world.exporter(world.dir()).await;
        let initial = world.poll(&first, "initial").await;
        assert_eq!(initial.resync, Some(ResyncReason::Initial));
        assert_eq!(restored(&first), 0);
        let steady = world.poll(&first, "steady").await;
        assert_eq!(steady.resync, None);
        first.poller.save_state().await;
        drop(first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(world.file())
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "the file holds user IDs");
        }

        let second = world.exporter(world.dir()).await;
        let resumed = world.poll(&second, "after the restart").await;
        assert_eq!(resumed.resync, None, "resumed, not resynced");
        assert_eq!(restored(&second), 1);
        assert!(
            resumed.requests <= 3 * steady.requests,
            "{} requests against a steady poll's {} (a resync poll took {})",
            resumed.requests,
            steady.requests,
            initial.requests
        );
        // The status page says so, and when the state was last saved.
        saved(&second).await;
        let page = crate::helpers::fetch_text(&second.url("/")).await;
        assert!(page.contains("<dt>Saved state</dt>"), "{page}");
        assert!(
            page.contains("resumed from --storage.path at start; last saved"),
            "{page}"
        );
    });
}

#[test]
fn after_a_crash_the_last_save_and_the_changes_since_resume_exact() {
    in_world("crash", 52, |world| async move {
        let first = world.exporter(world.dir()).await;
        world.poll(&first, "initial").await;
        // The first complete set is saved at once; the next save is due in five minutes.
        saved(&first).await;
        let mut steady = 0;
        for i in 0..5 {
            steady = world.poll(&first, &format!("poll {i}")).await.requests;
        }
        // A crash: no save at the end, the file is five minutes old.
        drop(first);

        let second = world.exporter(world.dir()).await;
        let resumed = world.poll(&second, "after the crash").await;
        assert_eq!(resumed.resync, None);
        assert_eq!(restored(&second), 1);
        assert!(
            resumed.requests <= 3 * steady,
            "{} requests against a steady poll's {steady}",
            resumed.requests
        );
    });
}

#[test]
fn a_restored_set_shows_its_users_with_the_first_counts_even_if_that_poll_fails() {
    in_world("never-absent", 53, |world| async move {
        let first = world.exporter(world.dir()).await;
        world.poll(&first, "initial").await;
        first.poller.save_state().await;
        drop(first);

        // Every walk refused, the counts (`pageSize=1`) spared: the active part fails.
        world.sim.sim.set_faults(Faults {
            fail_paging: Some(("".into(), 400)),
            ..Faults::default()
        });
        let second = world.exporter(world.dir()).await;
        let now = world.clock.advance(MINUTE);
        world.sim.sim.advance(now);
        second.poller.poll_once().await.expect_err("walks refused");
        let scrape = second.scrape().await;
        assert!(
            scrape.contains("corbado_users_with_active_sessions{"),
            "{scrape}"
        );
        assert!(scrape.contains("corbado_exporter_active_set_timestamp_seconds{"));
    });
}

/// Writes `bytes` as the project's state file, starts an exporter, polls once: the file must
/// be set aside and the project resynced.
async fn refused(world: &World, bytes: &[u8], why: &str) {
    std::fs::write(world.file(), bytes).expect("write");
    let app = world.exporter(world.dir()).await;
    let report = world.poll(&app, why).await;
    assert_eq!(report.resync, Some(ResyncReason::Initial), "{why}");
    assert_eq!(restored(&app), 0, "{why}");
    let aside = world.file().with_extension("state.rejected");
    assert!(aside.exists(), "{why}: set aside");
    std::fs::remove_file(aside).expect("clean up");
    // The resync's set is saved on its own thread: let that write land before the next case
    // writes its file.
    saved(&app).await;
}

#[test]
fn every_file_that_cannot_be_trusted_is_set_aside_and_the_project_resyncs() {
    in_world("bad-files", 54, |world| async move {
        let first = world.exporter(world.dir()).await;
        world.poll(&first, "initial").await;
        first.poller.save_state().await;
        drop(first);
        let good = std::fs::read(world.file()).expect("saved");

        refused(&world, &good[..good.len() / 2], "truncated").await;
        let mut flipped = good.clone();
        let middle = flipped.len() / 2;
        flipped[middle] ^= 0x40;
        refused(&world, &flipped, "a flipped byte").await;
        let mut version = good.clone();
        version[24] = 2;
        refused(&world, &version, "another format version").await;

        // Another project's and another API URL's files, written as those exporters would.
        let other = |project_id: &str, api_url: &str| {
            let identity = storage::Identity {
                project_id: project_id.into(),
                api_url: api_url.into(),
            };
            let saved = storage::decode(
                &good,
                &storage::Identity {
                    project_id: PROJECT.into(),
                    api_url: world.sim.api_url(),
                },
                world.clock.now_ms(),
                0,
            )
            .expect("the good file decodes");
            storage::encode(&identity, &saved.times, &saved.set)
        };
        refused(
            &world,
            &other("pro-other", &world.sim.api_url()),
            "another project",
        )
        .await;
        refused(
            &world,
            &other(PROJECT, "http://127.0.0.1:1/v2"),
            "another API URL",
        )
        .await;

        // Older than --poll.resync-interval (24 h).
        world.clock.advance(Duration::from_secs(25 * 3600));
        refused(&world, &good, "too old").await;
    });
}

#[test]
fn a_directory_that_cannot_be_written_is_counted_and_polling_goes_on() {
    in_world("unwritable", 55, |world| async move {
        // A path below a regular file: no write can succeed there, even as root.
        let blocker = world.dir().join("not-a-directory");
        std::fs::write(&blocker, b"").expect("file");
        let app = world.exporter(&blocker.join("state")).await;
        world.poll(&app, "initial").await;
        eventually(Duration::from_secs(30), "the failed save", || async {
            app.store.metrics.state_save_failures.get() == 1
        })
        .await;
        world.poll(&app, "still polling").await;
        assert_eq!(app.store.metrics.up.get(), 1);
        assert!(!app
            .store
            .render()
            .contains("corbado_exporter_state_last_save_timestamp_seconds"));
    });
}

#[test]
fn a_reload_that_restarts_a_project_keeps_its_set_where_its_api_url_is_unchanged() {
    in_world("reload", 56, |world| async move {
        let app = world.exporter(world.dir()).await;
        world.poll(&app, "initial").await;
        let running = app.fleet.project(PROJECT).map(|(_, p)| p).expect("polled");
        let mut changed = app.config.projects()[0].clone();
        changed.settings.top_k = 5;
        let changes = app.fleet.apply(vec![changed.clone()]).expect("applies");
        assert_eq!(changes.restarted, vec![PROJECT.to_owned()]);
        let (_, poller) = app.fleet.project(PROJECT).expect("polled");
        assert!(!std::sync::Arc::ptr_eq(&poller, &running), "a new poller");
        let now = world.clock.advance(MINUTE);
        world.sim.sim.advance(now);
        let report = poller.poll_once().await.expect("poll");
        assert_eq!(report.resync, None, "the set carried over");

        // Another API URL lists other sessions: that project starts afresh.
        let other = serve_sim(Population::generate(project(57), world.clock.now_ms())).await;
        changed.settings.api_url = other.api_url();
        app.fleet.apply(vec![changed]).expect("applies");
        let (_, poller) = app.fleet.project(PROJECT).expect("polled");
        let report = poller.poll_once().await.expect("poll");
        assert_eq!(report.resync, Some(ResyncReason::Initial));
    });
}

#[test]
fn a_project_new_to_an_instance_resyncs_there_once_and_its_old_instance_resumes_it() {
    in_world("moved", 58, |world| async move {
        let old_dir = world.dir().join("shard-0");
        let new_dir = world.dir().join("shard-1");
        let old = world.exporter(&old_dir).await;
        world.poll(&old, "on its old instance").await;
        old.poller.save_state().await;
        drop(old);

        let new = world.exporter(&new_dir).await;
        let first = world.poll(&new, "first poll on the new instance").await;
        assert_eq!(first.resync, Some(ResyncReason::Initial));
        let second = world.poll(&new, "second poll on the new instance").await;
        assert_eq!(second.resync, None);
        drop(new);

        // Moved back within --poll.resync-interval: the old file is still good.
        let back = world.exporter(&old_dir).await;
        let report = world.poll(&back, "back on the old instance").await;
        assert_eq!(report.resync, None);
        assert_eq!(restored(&back), 1);
    });
}

/// The exporter binary with `--storage.path dir`, polling `sim`.
fn exporter_binary(sim: &TestSim, dir: &Path) -> crate::helpers::Running {
    let dir = dir.to_str().expect("utf-8 path");
    let extra = [
        "--corbado.max-requests-per-second",
        "0",
        "--storage.path",
        dir,
    ];
    let command = crate::helpers::exporter_polling(&sim.api_url(), crate::helpers::SECRET, &extra);
    crate::helpers::Running::start(command)
}

/// Waits until the exporter's `/metrics` has a line starting with `line`, and returns the page.
async fn metrics_with(running: &crate::helpers::Running, line: &str) -> String {
    let url = format!("http://{}/metrics", running.address().await);
    crate::helpers::eventually_some(Duration::from_secs(60), line, || async {
        let text = reqwest::get(&url).await.ok()?.text().await.ok()?;
        text.lines().any(|l| l.starts_with(line)).then_some(text)
    })
    .await
}

#[tokio::test]
async fn the_binary_resumes_after_sigkill_and_sets_a_bad_file_aside_with_its_reason() {
    let sim = crate::helpers::spawn_sim(20_000, 59).await;
    let scratch = scratch_dir("binary-state");
    let dir = scratch.path();
    let first = exporter_binary(&sim, dir);
    metrics_with(
        &first,
        "corbado_exporter_state_last_save_timestamp_seconds{",
    )
    .await;
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &first.pid().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    drop(first);

    let second = exporter_binary(&sim, dir);
    // Resumed: the set came from the file, and the first poll needed no resync.
    let text = metrics_with(&second, "corbado_exporter_active_set_timestamp_seconds{").await;
    assert!(
        text.contains("corbado_exporter_state_restored{project_id=\"pro-test\"} 1"),
        "{text}"
    );
    let text = metrics_with(&second, "corbado_up{project_id=\"pro-test\"} 1").await;
    assert!(
        text.contains(
            "corbado_exporter_resyncs_total{reason=\"initial\",project_id=\"pro-test\"} 0"
        ),
        "{text}"
    );
    let (code, _) = second.terminate().await;
    assert_eq!(code, Some(0));

    std::fs::write(storage::path_for(dir, PROJECT), b"not a state file").expect("write");
    let third = exporter_binary(&sim, dir);
    metrics_with(&third, "corbado_up{project_id=\"pro-test\"} 1").await;
    let (code, log) = third.terminate().await;
    assert_eq!(code, Some(0));
    let line = log
        .lines()
        .find(|l| l.contains("saved state set aside"))
        .unwrap_or_else(|| panic!("no warning: {log}"));
    assert!(line.contains("pro-test.state"), "{line}");
    assert!(line.contains("not a state file"), "{line}");
}
