//! `--config.file`: several projects in one YAML file, each key the flag of the same name for
//! that project. Parsing checks every value where it stands, with the setting's own parser, so
//! that each refusal names the file, the line and column, and the key's path
//! (`projects[1].page_size`); resolving then lays project keys over `defaults:` over the flags.
//!
//! The file is read by hand-written serde visitors (seeds) rather than a derived struct: a
//! seed knows which entry it reads, so an error can name `projects[1]`, and the checks that
//! span keys (a duplicate `id`, two secret sources in one entry) need no hidden state.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::path::PathBuf;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::project::{checked_secret, read_secret_file, validate_project_id, CaBundle};
use super::project::{ProjectConfig, SecretSource};
pub use super::seeds::Checked;
use super::seeds::{refused, Refuse};
use super::settings::{SettingKeys, Settings, DECLARED};
use super::ConfigError;

/// The flag every error of this file names.
const FLAG: &str = "--config.file";

/// Why a secret written into the file is refused.
const INLINE_SECRET: &str = "a secret must not be written into the file: name a file \
                             (api_secret_file) or an environment variable (api_secret_env) that holds it";

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
        let parsed = parse(&text).map_err(|problem| ConfigError {
            flag: FLAG,
            problem: format!("{}:{problem}", self.path.display()),
        })?;
        let mut projects = Vec::with_capacity(parsed.projects.len());
        for (index, entry) in parsed.projects.iter().enumerate() {
            let project = resolve(entry, &parsed.defaults, base, env).map_err(|problem| {
                let who = entry.id.as_deref().unwrap_or("(no id)");
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

/// The file as written: the defaults, then the projects in order.
#[derive(Debug, Default)]
struct Parsed {
    defaults: Entry,
    projects: Vec<Entry>,
}

/// One entry (a project, or `defaults:`), every key already checked.
#[derive(Debug, Default)]
struct Entry {
    id: Option<String>,
    secret: Option<SecretSource>,
    settings: SettingKeys,
}

/// Parses the YAML; an error reads `LINE:COLUMN: PATH.KEY: what`.
fn parse(text: &str) -> Result<Parsed, String> {
    let parsed = crate::yaml::from_str::<ParsedFile>(text).map_err(|e| match e.at {
        Some((line, column)) => format!("{line}:{column}: {}", e.message),
        None => format!(" {}", e.message),
    })?;
    Ok(parsed.0)
}

/// One project: its keys over the defaults over the flags. Errors here concern files and
/// variables the keys name, or keys missing altogether, so they name the project instead of a
/// line.
fn resolve(
    entry: &Entry,
    defaults: &Entry,
    base: &Settings,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<ProjectConfig, String> {
    let id = entry.id.clone().ok_or("`id` is missing")?;
    let source = entry
        .secret
        .as_ref()
        .or(defaults.secret.as_ref())
        .ok_or("needs api_secret_file or api_secret_env")?;
    let secret = match source {
        SecretSource::File(path) => read_secret_file(path, "api_secret_file"),
        SecretSource::Env(name) => match env(name) {
            Some(value) if !value.is_empty() => checked_secret(value, "api_secret_env"),
            _ => return Err(format!("api_secret_env: the variable {name} is not set")),
        },
        SecretSource::Given => return Err(INLINE_SECRET.into()),
    }
    .map_err(|e| format!("{}: {}", e.flag, e.problem))?;
    let settings = entry.settings.resolve(&defaults.settings, base);
    let ca = CaBundle::of(&settings.ca_file, "ca_file")
        .map_err(|e| format!("{}: {}", e.flag, e.problem))?;
    Ok(ProjectConfig {
        id,
        secret,
        secret_source: source.clone(),
        ca,
        settings,
    })
}

/// The whole file, read through [`FileVisitor`].
struct ParsedFile(Parsed);

impl<'de> de::Deserialize<'de> for ParsedFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FileVisitor).map(ParsedFile)
    }
}

struct FileVisitor;

impl<'de> Visitor<'de> for FileVisitor {
    type Value = Parsed;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a mapping with `projects` (and optionally `defaults`)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
        let ids = RefCell::new(HashSet::new());
        let (mut defaults, mut projects) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "defaults" => {
                    let seed = EntrySeed {
                        path: "defaults".into(),
                        ids: &ids,
                    };
                    defaults = Some(map.next_value_seed(seed)?);
                }
                "projects" => projects = Some(map.next_value_seed(ProjectsSeed { ids: &ids })?),
                other => {
                    return Err(de::Error::custom(format!(
                        "{other}: unknown key; the file has `defaults` and `projects`"
                    )))
                }
            }
        }
        Ok(Parsed {
            defaults: defaults.unwrap_or_default(),
            projects: projects.ok_or_else(|| de::Error::custom("`projects` is missing"))?,
        })
    }
}

/// `projects:`, a list of entries, each told its index for its errors.
struct ProjectsSeed<'a> {
    ids: &'a RefCell<HashSet<String>>,
}

impl<'de> DeserializeSeed<'de> for ProjectsSeed<'_> {
    type Value = Vec<Entry>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Entry>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ProjectsSeed<'_> {
    type Value = Vec<Entry>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of projects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Entry>, A::Error> {
        let mut entries = Vec::new();
        loop {
            let seed = EntrySeed {
                path: format!("projects[{}]", entries.len()),
                ids: self.ids,
            };
            match seq.next_element_seed(seed)? {
                Some(entry) => entries.push(entry),
                None => return Ok(entries),
            }
        }
    }
}

/// One entry: `defaults` or `projects[N]`.
struct EntrySeed<'a> {
    path: String,
    ids: &'a RefCell<HashSet<String>>,
}

impl EntrySeed<'_> {
    fn is_defaults(&self) -> bool {
        self.path == "defaults"
    }

    /// A seed that refuses the value of `key` in this entry, whatever it is, inside the
    /// value's visit: so that the error points at the key's line (an error raised between keys
    /// would point at the start of the entry). The value itself is never read into a message.
    fn refusal(&self, key: &str, problem: String) -> Refuse {
        Refuse(format!("{}.{key}: {problem}", self.path))
    }
}

impl<'de> DeserializeSeed<'de> for EntrySeed<'_> {
    type Value = Entry;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Entry, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed<'_> {
    type Value = Entry;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: a mapping of keys", self.path)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry, A::Error> {
        let mut entry = Entry::default();
        while let Some(key) = map.next_key::<String>()? {
            if entry.settings.read(&key, &self.path, &mut map)? {
                continue;
            }
            match key.as_str() {
                "id" => entry.id = Some(self.read_id(&mut map)?),
                "api_secret_file" | "api_secret_env" => {
                    if let Some(first) = &entry.secret {
                        let problem = format!(
                            "beside {}: give exactly one of api_secret_file and api_secret_env",
                            first.key()
                        );
                        return Err(refused(&mut map, self.refusal(&key, problem)));
                    }
                    entry.secret = Some(self.read_secret_source(&key, &mut map)?);
                }
                "api_secret" => {
                    return Err(refused(&mut map, self.refusal(&key, INLINE_SECRET.into())))
                }
                other => {
                    let problem = match closest_key(other) {
                        Some(key) => format!("unknown key (did you mean {key}?)"),
                        None => "unknown key (docs/configuration.md lists the keys)".to_owned(),
                    };
                    return Err(refused(&mut map, self.refusal(other, problem)));
                }
            }
        }
        Ok(entry)
    }
}

impl EntrySeed<'_> {
    fn read_id<'de, A: MapAccess<'de>>(&self, map: &mut A) -> Result<String, A::Error> {
        let defaults = self.is_defaults();
        let ids = self.ids;
        let parse = move |text: &str| -> Result<String, String> {
            if defaults {
                return Err("`id` names one project; it has no default".into());
            }
            let id = validate_project_id(text)?;
            if !ids.borrow_mut().insert(id.clone()) {
                return Err(format!("duplicate project id {id}"));
            }
            Ok(id)
        };
        map.next_value_seed(Checked {
            parse,
            path: &self.path,
            key: "id",
        })
    }

    fn read_secret_source<'de, A: MapAccess<'de>>(
        &self,
        key: &str,
        map: &mut A,
    ) -> Result<SecretSource, A::Error> {
        let file = key == "api_secret_file";
        let parse = move |text: &str| -> Result<SecretSource, String> {
            if file {
                return Ok(SecretSource::File(PathBuf::from(text)));
            }
            if text.is_empty() || text.contains('=') || text.contains('\0') {
                return Err("not an environment variable's name".into());
            }
            Ok(SecretSource::Env(text.to_owned()))
        };
        map.next_value_seed(Checked {
            parse,
            path: &self.path,
            key,
        })
    }
}

/// The key an unknown one was probably meant to be: the nearest of an entry's keys, at most a
/// third of its letters away. (Rather than listing every key, which would change with each new
/// setting and drown the one that matters.)
fn closest_key(unknown: &str) -> Option<&'static str> {
    let identity = ["id", "api_secret_file", "api_secret_env"];
    let keys = identity.into_iter().chain(DECLARED.iter().map(|d| d.key));
    keys.map(|key| (edit_distance(unknown, key), key))
        .filter(|(distance, key)| *distance <= key.len().max(3) / 3)
        .min()
        .map(|(_, key)| key)
}

/// Levenshtein distance: the fewest insertions, deletions and substitutions from `a` to `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substituted = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substituted.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::Duration;

    use crate::poller::Strategy;

    fn base() -> Settings {
        Settings {
            api_url: "http://127.0.0.1:1/v2".into(),
            ..Settings::default()
        }
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "SECRET_A" => Some("secret-a".into()),
            "SECRET_B" => Some("secret-b".into()),
            _ => None,
        }
    }

    /// Writes `yaml` to `name.yml` in a folder of its own and loads it. The folder goes with the
    /// returned guard.
    fn load(name: &str, yaml: &str) -> Result<Vec<ProjectConfig>, ConfigError> {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join(format!("{name}.yml"));
        std::fs::write(&path, yaml).expect("write");
        ConfigFile { path }.load(&base(), &env)
    }

    /// Asserts that loading `yaml` fails at `line` and that the message names `key` (its path).
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
             \x20   windows: 5m,1h\n    top_k: 0\n    change_overlap: 0s\n    verify_interval: 2h\n",
        )
        .expect("valid");
        assert_eq!(projects.len(), 2);
        let (one, two) = (&projects[0], &projects[1]);
        assert_eq!(one.id, "pro-1");
        assert_eq!(one.secret.expose(), "secret-a");
        assert_eq!(one.secret_source, SecretSource::Env("SECRET_A".into()));
        assert_eq!(one.settings.poll_interval, Duration::from_secs(120));
        assert_eq!(one.settings.strategy, Strategy::Filter);
        assert_eq!(one.settings.page_size, 100, "from the flags");
        assert_eq!(
            one.settings.api_url, "http://127.0.0.1:1/v2",
            "from the flags"
        );
        assert_eq!(two.secret.expose(), "secret-b");
        assert_eq!(two.settings.strategy, Strategy::Scan);
        assert_eq!(two.settings.page_size, 50);
        assert_eq!(two.settings.windows.durations().len(), 2);
        assert_eq!(two.settings.top_k, 0);
        assert_eq!(two.settings.change_overlap, Duration::ZERO);
        assert_eq!(two.settings.verify_interval, Duration::from_secs(7200));
        assert_eq!(two.settings.poll_interval, Duration::from_secs(120));
    }

    /// The default of setting `key`, as `/config` shows it.
    fn value_of(key: &str) -> serde_json::Value {
        Settings::default()
            .file_values()
            .into_iter()
            .find(|(declared, _)| *declared == key)
            .map(|(_, value)| value)
            .expect("declared")
    }

    /// What `/config` shows of a setting reads back, from a file, as the same value.
    #[test]
    fn every_declared_setting_is_a_key_of_the_file() {
        for declared in DECLARED {
            let shown = match value_of(declared.key) {
                serde_json::Value::Null => continue,
                serde_json::Value::String(text) => format!("'{text}'"),
                other => other.to_string(),
            };
            let yaml = format!(
                "projects:\n  - id: pro-1\n    api_secret_env: SECRET_A\n    {}: {shown}\n",
                declared.key
            );
            let projects = load("every-key", &yaml).unwrap_or_else(|e| panic!("{e}"));
            let read = projects[0].settings.file_values();
            let read = read.iter().find(|(key, _)| *key == declared.key);
            assert_eq!(
                read.map(|(_, value)| value),
                Some(&value_of(declared.key)),
                "{yaml}"
            );
        }
    }

    #[test]
    fn an_unknown_key_is_refused_with_its_line_and_path() {
        refused_at(
            "unknown",
            "projects:\n  - id: pro-1\n    api_secret_env: SECRET_A\n    poll_intervall: 1m\n",
            4,
            "projects[0].poll_intervall: unknown key (did you mean poll_interval?)",
        );
        assert_eq!(closest_key("pagesize"), Some("page_size"));
        assert_eq!(closest_key("colour"), None, "too far from any key");
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn a_duplicate_id_is_refused_at_the_second() {
        refused_at(
            "duplicate",
            "projects:\n  - id: pro-1\n    api_secret_env: SECRET_A\n  - id: pro-1\n    api_secret_env: SECRET_B\n",
            4,
            "projects[1].id: duplicate project id pro-1",
        );
    }

    #[test]
    fn a_secret_written_into_the_file_is_refused_with_its_key_and_not_repeated() {
        let problem = refused_at(
            "inline",
            "projects:\n  - id: pro-0\n    api_secret_env: SECRET_A\n  - id: pro-1\n    api_secret: corbado1_hunter2\n",
            5,
            "projects[1].api_secret: a secret must not be written into the file",
        );
        assert!(!problem.contains("hunter2"), "{problem}");
    }

    #[test]
    fn two_secret_sources_are_refused_at_the_second() {
        refused_at(
            "two-sources",
            "projects:\n  - id: pro-1\n    api_secret_env: SECRET_A\n    api_secret_file: /run/s\n",
            4,
            "projects[0].api_secret_file: beside api_secret_env",
        );
    }

    #[test]
    fn bad_values_are_refused_with_their_line_and_key_and_not_quoted() {
        for (yaml, line, key) in [
            (
                "projects:\n  - id: pro-1\n    api_secret_env: SECRET_A\n    poll_interval: 0s\n",
                4,
                "projects[0].poll_interval: must be greater than zero",
            ),
            (
                "projects:\n  - id: pro-1\n    api_secret_env: SECRET_A\n    strategy: guess\n",
                4,
                "projects[0].strategy: must be one of",
            ),
            (
                "projects:\n  - id: pro-1\n    api_secret_env: SECRET_A\n    page_size: 70000\n",
                4,
                "projects[0].page_size: must be a whole number from 1 to 1000",
            ),
            (
                "projects:\n  - id: 'pro:1'\n    api_secret_env: SECRET_A\n",
                2,
                "projects[0].id",
            ),
            ("defaults:\n  id: pro-1\nprojects: []\n", 2, "defaults.id"),
            (
                "projects:\n  - id: pro-1\n    api_url: ftp://x\n",
                3,
                "projects[0].api_url",
            ),
            (
                "defaults:\n  top_k: [1, 2]\nprojects: []\n",
                2,
                "defaults.top_k: expected a single value",
            ),
        ] {
            let problem = refused_at("values", yaml, line, key);
            for value in ["guess", "70000", "ftp://x"] {
                assert!(!problem.contains(value), "{problem}");
            }
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
    fn broken_yaml_and_a_missing_list_are_refused() {
        let error = load("broken", "projects:\n  - id: [pro-1\n").expect_err("refused");
        assert!(error.problem.contains("broken.yml:"), "{error}");
        let error = load("empty", "defaults: {}\n").expect_err("refused");
        assert!(error.problem.contains("`projects` is missing"), "{error}");
    }
}
