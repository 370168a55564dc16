//! The YAML every file of the exporter is read with (`--config.file`, `--web.config.file`) and
//! `/config` is written with, and how its errors read: the line and column, and the parser's
//! words, never a quote of the file (which may hold a secret).

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a YAML text could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// 1-based line and column, where the parser knows them.
    pub at: Option<(u64, u64)>,
    pub message: String,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.at {
            Some((line, column)) => write!(f, "line {line} column {column}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Reads `text` as a `T`.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        let at = e.location().map(|l| (l.line(), l.column()));
        let message = e.without_snippet().to_string();
        // The message may end with its own "at line L, column C"; the location is kept apart.
        let message = match at {
            Some((line, column)) => [
                format!(" at line {line}, column {column}"),
                format!(" at line {line} column {column}"),
            ]
            .iter()
            .find_map(|suffix| message.strip_suffix(suffix.as_str()))
            .unwrap_or(&message)
            .to_owned(),
            None => message,
        };
        YamlError { at, message }
    })
}

/// Writes `value` as YAML.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, String> {
    serde_saphyr::to_string(value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn errors_keep_the_line_and_column_and_quote_nothing() {
        #[derive(serde::Deserialize, Debug)]
        #[serde(deny_unknown_fields)]
        struct Doc {
            #[allow(dead_code)]
            name: String,
        }
        let error = from_str::<Doc>("name: a\npassword: hunter2\n").expect_err("unknown field");
        assert_eq!(error.at.map(|(line, _)| line), Some(2), "{error}");
        assert!(error.message.contains("password"), "{error}");
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn a_billion_laughs_is_refused_at_once() {
        let mut text = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        let names = ["b", "c", "d", "e", "f", "g", "h", "i"];
        let mut previous = "a";
        for name in names {
            text.push_str(&format!(
                "{name}: &{name} [*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous},*{previous}]\n"
            ));
            previous = name;
        }
        // 9^9 = 387,420,489 strings if every alias were expanded. The parser must stop at its
        // node budget (250,000) instead: that, not a wall-clock figure, is what makes the
        // refusal immediate on any machine.
        let error = match from_str::<BTreeMap<String, serde_json_like::Any>>(&text) {
            Ok(_) => panic!("9^9 expansions must be refused"),
            Err(error) => error,
        };
        assert!(error.message.contains("budget breached"), "{error}");
        assert!(error.message.contains("Nodes"), "{error}");
        assert!(error.at.is_some(), "{error}");
    }

    /// Anything at all, so that the parser expands every alias it is given.
    mod serde_json_like {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        #[allow(dead_code)]
        pub enum Any {
            Text(String),
            List(Vec<Any>),
        }
    }
}
