//! `--config.file`: several projects in one YAML file, each key the flag of the same name for
//! that project. Parsing checks every value where it stands, so each refusal names the file,
//! the line and the key; resolving then lays project keys over `defaults:` over the flags.
//!
//! Two checks need more than the value at hand (a duplicate `id`, a second secret source in one
//! entry). serde gives a field no view of its siblings, so the parse keeps a little state in a
//! thread-local for its duration ([`ParseState`]); that is what lets those errors, too, point at
//! the line of the key that broke the rule.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::cli::{parse_positive_duration, parse_rate};
use super::project::{
    checked_secret, read_secret_file, validate_api_url, validate_project_id, CaBundle,
    ProjectConfig, Settings,
};
use super::ConfigError;
use crate::aggregate::{parse_windows, Windows};
use crate::poller::Strategy;

/// The flag every error of this file names.
const FLAG: &str = "--config.file";

/// The file as written: optional defaults, then the projects in order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    defaults: Option<DefaultsEntry>,
    projects: Vec<ProjectEntry>,
}

/// Every key a project (or `defaults:`) may set, each already checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    #[serde(default, deserialize_with = "id")]
    id: Option<String>,
    #[serde(default, deserialize_with = "api_url")]
    api_url: Option<String>,
    #[serde(default, deserialize_with = "secret_file")]
    api_secret_file: Option<PathBuf>,
    #[serde(default, deserialize_with = "secret_env")]
    api_secret_env: Option<String>,
    /// Never accepted: present so that writing it gets its own error, on its own line.
    #[serde(rename = "api_secret", default, deserialize_with = "inline_secret")]
    _api_secret: Option<()>,
    #[serde(default)]
    ca_file: Option<PathBuf>,
    #[serde(default, deserialize_with = "page_size")]
    page_size: Option<u32>,
    #[serde(default, deserialize_with = "concurrency")]
    concurrency: Option<usize>,
    #[serde(default, deserialize_with = "rate")]
    max_requests_per_second: Option<f64>,
    #[serde(default, deserialize_with = "positive_duration")]
    timeout: Option<Duration>,
    #[serde(default, deserialize_with = "positive_duration")]
    poll_interval: Option<Duration>,
    #[serde(default, deserialize_with = "positive_duration")]
    max_staleness: Option<Duration>,
    #[serde(default, deserialize_with = "strategy")]
    strategy: Option<Strategy>,
    #[serde(default, deserialize_with = "duration")]
    resync_interval: Option<Duration>,
    #[serde(default, deserialize_with = "positive_duration")]
    verify_interval: Option<Duration>,
    #[serde(default, deserialize_with = "duration")]
    change_overlap: Option<Duration>,
    #[serde(default, deserialize_with = "windows")]
    windows: Option<Windows>,
    #[serde(default, deserialize_with = "top_k")]
    top_k: Option<usize>,
}

/// Which mapping the parse is in, for the checks that depend on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    Defaults,
    Project,
}

/// What the parse remembers beyond the value at hand.
struct ParseState {
    entry: Entry,
    ids: HashSet<String>,
    /// The secret key already seen in the current entry.
    secret_source: Option<&'static str>,
}

thread_local! {
    static STATE: RefCell<Option<ParseState>> = const { RefCell::new(None) };
}

/// Runs `f` on the parse state, if a parse is under way on this thread.
fn with_state<T>(f: impl FnOnce(&mut ParseState) -> T) -> Option<T> {
    STATE.with(|state| state.borrow_mut().as_mut().map(f))
}

/// The state for one parse, removed again when it ends, however it ends.
struct Parsing;

impl Parsing {
    fn begin() -> Parsing {
        STATE.with(|state| {
            *state.borrow_mut() = Some(ParseState {
                entry: Entry::Project,
                ids: HashSet::new(),
                secret_source: None,
            })
        });
        Parsing
    }
}

impl Drop for Parsing {
    fn drop(&mut self) {
        STATE.with(|state| *state.borrow_mut() = None);
    }
}

fn enter(entry: Entry) {
    with_state(|state| {
        state.entry = entry;
        state.secret_source = None;
    });
}

#[derive(Debug)]
struct DefaultsEntry(Keys);

impl<'de> Deserialize<'de> for DefaultsEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        enter(Entry::Defaults);
        Keys::deserialize(d).map(DefaultsEntry)
    }
}

#[derive(Debug)]
struct ProjectEntry(Keys);

impl<'de> Deserialize<'de> for ProjectEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        enter(Entry::Project);
        Keys::deserialize(d).map(ProjectEntry)
    }
}

/// Reads a scalar and checks it with `parse`. The check runs inside the deserializer's visit
/// of the value, so that a refusal carries the value's line and the key's path.
fn checked<'de, D, T>(
    d: D,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
{
    struct Checked<F>(F);
    impl<T, F: FnOnce(&str) -> Result<T, String>> de::Visitor<'_> for Checked<F> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string or a number")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            (self.0)(v).map_err(E::custom)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            self.visit_str(&v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            self.visit_str(&v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
            self.visit_str(&v.to_string())
        }
    }
    d.deserialize_any(Checked(parse)).map(Some)
}

fn ranged<T: TryFrom<u64>>(text: &str, min: u64, max: u64) -> Result<T, String> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .and_then(|n| T::try_from(n).ok())
        .ok_or_else(|| format!("{text:?} is not a whole number from {min} to {max}"))
}

fn id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked(d, |text| {
        let id = validate_project_id(text)?;
        match with_state(|state| (state.entry, state.ids.insert(id.clone()))) {
            Some((Entry::Defaults, _)) => Err("`id` names one project; it has no default".into()),
            Some((Entry::Project, false)) => Err(format!("duplicate project id {id}")),
            _ => Ok(id),
        }
    })
}

/// Refuses a second secret source in the same entry.
fn one_secret_source(key: &'static str) -> Result<(), String> {
    match with_state(|state| state.secret_source.replace(key)).flatten() {
        Some(first) => Err(format!(
            "{key} beside {first}: give exactly one of api_secret_file and api_secret_env"
        )),
        None => Ok(()),
    }
}

fn secret_file<'de, D: Deserializer<'de>>(d: D) -> Result<Option<PathBuf>, D::Error> {
    checked(d, |text| {
        one_secret_source("api_secret_file")?;
        Ok(PathBuf::from(text))
    })
}

fn secret_env<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked(d, |text| {
        one_secret_source("api_secret_env")?;
        if text.is_empty() || text.contains('=') || text.contains('\0') {
            return Err(format!("{text:?} is not an environment variable's name"));
        }
        Ok(text.to_owned())
    })
}

fn inline_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<()>, D::Error> {
    /// Refuses whatever the value is, inside its visit (for its line), without reading it into
    /// any message.
    struct Refuse;
    const WHY: &str = "a secret must not be written into the file: name a file \
                       (api_secret_file) or an environment variable (api_secret_env) that holds it";
    impl<'de> de::Visitor<'de> for Refuse {
        type Value = Option<()>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("no value at all")
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Err(E::custom(WHY))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Err(E::custom(WHY))
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Err(E::custom(WHY))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Err(E::custom(WHY))
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Err(E::custom(WHY))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Err(E::custom(WHY))
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(de::Error::custom(WHY))
        }
        fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(de::Error::custom(WHY))
        }
    }
    d.deserialize_any(Refuse)
}

fn api_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked(d, validate_api_url)
}

fn page_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    checked(d, |text| ranged(text, 1, 1000))
}

fn concurrency<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    checked(d, |text| ranged(text, 1, 64))
}

fn top_k<'de, D: Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    checked(d, |text| ranged(text, 0, 1000))
}

fn rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    checked(d, parse_rate)
}

fn positive_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    checked(d, parse_positive_duration)
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    checked(d, |text| {
        humantime::parse_duration(text).map_err(|e| e.to_string())
    })
}

fn strategy<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Strategy>, D::Error> {
    checked(d, |text| {
        <Strategy as clap::ValueEnum>::from_str(text, false)
            .map_err(|_| format!("{text:?} is not one of auto, incremental, filter, scan"))
    })
}

fn windows<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Windows>, D::Error> {
    checked(d, parse_windows)
}

/// A `--config.file`: read at start, and again on every reload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigFile {
    pub path: PathBuf,
}

impl ConfigFile {
    /// Reads and resolves the file: every project in it, in the file's order, each key it
    /// leaves out taken from `base` (the flags). `env` looks up the variables that
    /// `api_secret_env` names.
    pub fn load(
        &self,
        base: &Settings,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<ProjectConfig>, ConfigError> {
        let text = std::fs::read_to_string(&self.path).map_err(|e| ConfigError {
            flag: FLAG,
            problem: format!("cannot read {}: {e}", self.path.display()),
        })?;
        let raw = parse(&text).map_err(|problem| ConfigError {
            flag: FLAG,
            problem: format!("{}:{problem}", self.path.display()),
        })?;
        let defaults = raw.defaults.map(|d| d.0).unwrap_or_default();
        let mut projects = Vec::with_capacity(raw.projects.len());
        for (index, ProjectEntry(keys)) in raw.projects.into_iter().enumerate() {
            let project = resolve(&keys, &defaults, base, env).map_err(|problem| {
                let who = keys.id.as_deref().unwrap_or("(no id)");
                ConfigError {
                    flag: FLAG,
                    problem: format!(
                        "{}: projects[{index}] ({who}): {problem}",
                        self.path.display()
                    ),
                }
            })?;
            projects.push(project);
        }
        Ok(projects)
    }
}

/// Parses the YAML; an error reads `LINE:COLUMN: PATH: what`.
fn parse(text: &str) -> Result<RawFile, String> {
    let _parsing = Parsing::begin();
    crate::yaml::from_str::<RawFile>(text).map_err(|e| match e.at {
        Some((line, column)) => match key_on_line(text, line) {
            Some(key) if !e.message.contains(key) => {
                format!("{line}:{column}: {key}: {}", e.message)
            }
            _ => format!("{line}:{column}: {}", e.message),
        },
        None => format!(" {}", e.message),
    })
}

/// The key that line `line` (1-based) of `text` sets, if it sets one: what a refused value
/// belongs to. Only the key is taken, never the value (which may be a secret).
fn key_on_line(text: &str, line: u64) -> Option<&str> {
    let content = text
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let content = content.trim_start().trim_start_matches("- ");
    let (key, _) = content.split_once(':')?;
    let key = key.trim();
    (!key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')).then_some(key)
}

/// One project: its keys over the defaults over the flags. Errors here concern files and
/// variables the keys name, or keys missing altogether, so they name the project instead of a
/// line.
fn resolve(
    keys: &Keys,
    defaults: &Keys,
    base: &Settings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ProjectConfig, String> {
    let id = keys.id.clone().ok_or("`id` is missing")?;
    let secret_keys = if keys.api_secret_file.is_some() || keys.api_secret_env.is_some() {
        keys
    } else {
        defaults
    };
    let secret = match (&secret_keys.api_secret_file, &secret_keys.api_secret_env) {
        (Some(path), _) => read_secret_file(path, "api_secret_file"),
        (None, Some(name)) => match env(name) {
            Some(value) if !value.is_empty() => checked_secret(value, "api_secret_env"),
            _ => return Err(format!("api_secret_env: the variable {name} is not set")),
        },
        (None, None) => return Err("needs api_secret_file or api_secret_env".into()),
    }
    .map_err(|e| format!("{}: {}", e.flag, e.problem))?;
    let ca = match keys.ca_file.as_ref().or(defaults.ca_file.as_ref()) {
        Some(path) => {
            CaBundle::read(path, "ca_file").map_err(|e| format!("{}: {}", e.flag, e.problem))?
        }
        None => base.ca.clone(),
    };
    macro_rules! pick {
        ($key:ident) => {
            keys.$key
                .clone()
                .or_else(|| defaults.$key.clone())
                .unwrap_or_else(|| base.$key.clone())
        };
    }
    Ok(ProjectConfig {
        id,
        secret,
        settings: Settings {
            api_url: pick!(api_url),
            ca,
            page_size: pick!(page_size),
            concurrency: pick!(concurrency),
            max_requests_per_second: pick!(max_requests_per_second),
            timeout: pick!(timeout),
            poll_interval: pick!(poll_interval),
            max_staleness: pick!(max_staleness),
            strategy: pick!(strategy),
            resync_interval: pick!(resync_interval),
            verify_interval: pick!(verify_interval),
            change_overlap: pick!(change_overlap),
            windows: pick!(windows),
            top_k: pick!(top_k),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::config::CaBundle;

    fn base() -> Settings {
        Settings {
            api_url: "http://127.0.0.1:1/v2".into(),
            ca: CaBundle::default(),
            page_size: 100,
            concurrency: 4,
            max_requests_per_second: 5.0,
            timeout: Duration::from_secs(10),
            poll_interval: Duration::from_secs(60),
            max_staleness: Duration::from_secs(300),
            strategy: Strategy::Auto,
            resync_interval: Duration::from_secs(24 * 3600),
            verify_interval: Duration::from_secs(3600),
            change_overlap: Duration::from_secs(30),
            windows: parse_windows("15m,1h,24h").expect("valid"),
            top_k: 10,
        }
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "SECRET_A" => Some("secret-a".into()),
            "SECRET_B" => Some("secret-b".into()),
            _ => None,
        }
    }

    /// Writes `yaml` to a file of its own and loads it.
    fn load(name: &str, yaml: &str) -> Result<Vec<ProjectConfig>, ConfigError> {
        let dir = std::env::temp_dir().join(format!("corbado-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(format!("{name}.yml"));
        std::fs::write(&path, yaml).expect("write");
        ConfigFile { path }.load(&base(), &env)
    }

    /// Asserts that loading `yaml` fails at `line` and that the message names `key`.
    fn refused_at(name: &str, yaml: &str, line: usize, key: &str) -> String {
        let error = load(name, yaml).expect_err("refused");
        assert_eq!(error.flag, FLAG);
        let problem = error.problem;
        assert!(
            problem.contains(&format!("{name}.yml:{line}:")),
            "expected line {line}: {problem}"
        );
        assert!(problem.contains(key), "expected {key}: {problem}");
        problem
    }

    #[test]
    fn project_keys_lie_over_defaults_which_lie_over_the_flags() {
        let projects = load(
            "layers",
            "defaults:\n  poll_interval: 2m\n  strategy: filter\n  api_secret_env: SECRET_A\n\
             projects:\n\
             \x20 - id: pro-1\n\
             \x20 - id: pro-2\n    api_secret_env: SECRET_B\n    strategy: scan\n    page_size: 50\n\
             \x20   windows: 5m,1h\n    top_k: 0\n    change_overlap: 0s\n",
        )
        .expect("valid");
        assert_eq!(projects.len(), 2);
        let (one, two) = (&projects[0], &projects[1]);
        assert_eq!(one.id, "pro-1");
        assert_eq!(one.secret.expose(), "secret-a");
        assert_eq!(one.settings.poll_interval, Duration::from_secs(120));
        assert_eq!(one.settings.strategy, Strategy::Filter);
        assert_eq!(one.settings.page_size, 100, "from the flags");
        assert_eq!(two.secret.expose(), "secret-b");
        assert_eq!(two.settings.strategy, Strategy::Scan);
        assert_eq!(two.settings.page_size, 50);
        assert_eq!(two.settings.windows.durations().len(), 2);
        assert_eq!(two.settings.top_k, 0);
        assert_eq!(two.settings.change_overlap, Duration::ZERO);
        assert_eq!(two.settings.poll_interval, Duration::from_secs(120));
    }

    #[test]
    fn an_unknown_key_is_refused_with_its_line() {
        refused_at(
            "unknown",
            "projects:\n  - id: pro-1\n    api_secret_env: SECRET_A\n    poll_intervall: 1m\n",
            4,
            "poll_intervall",
        );
    }

    #[test]
    fn a_duplicate_id_is_refused_at_the_second() {
        refused_at(
            "duplicate",
            "projects:\n  - id: pro-1\n    api_secret_env: SECRET_A\n  - id: pro-1\n    api_secret_env: SECRET_B\n",
            4,
            "duplicate project id pro-1",
        );
    }

    #[test]
    fn a_secret_written_into_the_file_is_refused_and_not_repeated() {
        let problem = refused_at(
            "inline",
            "projects:\n  - id: pro-1\n    api_secret: corbado1_hunter2\n",
            3,
            "api_secret",
        );
        assert!(!problem.contains("hunter2"), "{problem}");
    }

    #[test]
    fn two_secret_sources_are_refused_at_the_second() {
        refused_at(
            "two-sources",
            "projects:\n  - id: pro-1\n    api_secret_env: SECRET_A\n    api_secret_file: /run/s\n",
            4,
            "api_secret_file beside api_secret_env",
        );
    }

    #[test]
    fn bad_values_are_refused_with_their_line_and_key() {
        for (yaml, line, key) in [
            (
                "projects:\n  - id: pro-1\n    api_secret_env: SECRET_A\n    poll_interval: 0s\n",
                4,
                "poll_interval",
            ),
            (
                "projects:\n  - id: pro-1\n    api_secret_env: SECRET_A\n    strategy: guess\n",
                4,
                "strategy",
            ),
            (
                "projects:\n  - id: pro-1\n    api_secret_env: SECRET_A\n    page_size: 0\n",
                4,
                "page_size",
            ),
            (
                "projects:\n  - id: 'pro:1'\n    api_secret_env: SECRET_A\n",
                2,
                "id",
            ),
            ("defaults:\n  id: pro-1\nprojects: []\n", 2, "id"),
            (
                "projects:\n  - id: pro-1\n    api_url: ftp://x\n",
                3,
                "api_url",
            ),
        ] {
            refused_at("values", yaml, line, key);
        }
    }

    #[test]
    fn a_missing_secret_or_variable_names_the_project() {
        let error = load("no-secret", "projects:\n  - id: pro-1\n").expect_err("refused");
        assert!(error.problem.contains("projects[0] (pro-1)"), "{error}");
        assert!(
            error.problem.contains("api_secret_file or api_secret_env"),
            "{error}"
        );
        let error = load(
            "no-variable",
            "projects:\n  - id: pro-1\n    api_secret_env: NOT_SET_ANYWHERE\n",
        )
        .expect_err("refused");
        assert!(
            error.problem.contains("NOT_SET_ANYWHERE is not set"),
            "{error}"
        );
    }

    #[test]
    fn broken_yaml_is_refused_with_a_line() {
        let error = load("broken", "projects:\n  - id: [pro-1\n").expect_err("refused");
        assert!(error.problem.contains("broken.yml:"), "{error}");
    }
}
