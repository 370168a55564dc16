//! The macro that turns the one declaration of the per-project settings ([`super::settings`])
//! into everything that needs them: the typed [`super::Settings`] (clap's flags too, with their
//! help, env var, default and parser), the keys of a `--config.file` entry with their layering,
//! the settings as `/config` shows them, and the list the docs' tables are generated from.
//!
//! Why a `macro_rules!` and not a crate: clap's `Args` derive alone gives the flags, and serde's
//! derive alone gives the file, but neither lets the other's parser run, and a derived serde
//! struct cannot name the key and the project (`projects[1].page_size`) in an error while
//! keeping the line and column. `figment` layers providers well, but reads YAML through
//! `serde_yaml` (archived) and loses the position of a refused value; `clap-serde-derive`
//! makes the flags optional for serde, but leaves the value checks to be written twice. A
//! declarative macro of ~100 lines costs no dependency and keeps every check in one parser per
//! setting ([`super::values`]).

/// A setting as declared: what the docs' tables and `/config` read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Declared {
    /// The config file's key (and the field of [`super::Settings`]).
    pub key: &'static str,
    /// The flag, with its leading `--`.
    pub flag: &'static str,
    pub env: Option<&'static str>,
    /// As the flag takes it; empty for none.
    pub default: &'static str,
}

/// Declares the per-project settings; see [`super::settings`] for its one use.
macro_rules! declare_settings {
    (
        $(
            $(#[doc = $doc:literal])*
            $field:ident: $ty:ty {
                flag: $flag:literal,
                $(env: $env:literal,)?
                default: $default:expr,
                value_name: $value_name:literal,
                parse: $parse:expr $(,)?
            }
        ),* $(,)?
    ) => {
        /// A project's settings besides its ID and secret: the flags' values, or a config file's
        /// keys over them. Declared once, in `config/settings.rs`; its fields are clap's flags.
        #[derive(Clone, Debug, PartialEq, clap::Args)]
        pub struct Settings {
            $(
                $(#[doc = $doc])*
                #[arg(
                    long = $flag,
                    $(env = $env,)?
                    default_value = $default,
                    hide_default_value = $default.is_empty(),
                    value_parser = $parse,
                    value_name = $value_name
                )]
                pub $field: $ty,
            )*
        }

        /// Every setting, in the order declared.
        pub const DECLARED: &[$crate::config::declare::Declared] = &[
            $(
                $crate::config::declare::Declared {
                    key: stringify!($field),
                    flag: concat!("--", $flag),
                    env: declare_settings!(@env $($env)?),
                    default: $default,
                },
            )*
        ];

        /// The settings one entry of a `--config.file` (a project, or `defaults:`) sets.
        #[derive(Clone, Debug, Default)]
        pub struct SettingKeys {
            $(pub $field: Option<$ty>,)*
        }

        impl SettingKeys {
            /// Reads the value of `key` from `map` when `key` is a setting's, checked by that
            /// setting's parser; `Ok(false)` when it is not a setting's key. `path` (such as
            /// `projects[1]`) is what an error names, with the key.
            pub fn read<'de, A: serde::de::MapAccess<'de>>(
                &mut self,
                key: &str,
                path: &str,
                map: &mut A,
            ) -> Result<bool, A::Error> {
                match key {
                    $(
                        stringify!($field) => {
                            let parse: fn(&str) -> Result<$ty, String> = $parse;
                            let seed = $crate::config::file::Checked { parse, path, key };
                            self.$field = Some(map.next_value_seed(seed)?);
                            Ok(true)
                        }
                    )*
                    _ => Ok(false),
                }
            }

            /// These keys over `defaults` over `base` (the flags, or the built-in defaults).
            pub fn resolve(&self, defaults: &SettingKeys, base: &Settings) -> Settings {
                Settings {
                    $(
                        $field: self.$field.clone()
                            .or_else(|| defaults.$field.clone())
                            .unwrap_or_else(|| base.$field.clone()),
                    )*
                }
            }
        }

        impl Settings {
            /// Every setting as a config file would hold it, in the order declared.
            pub fn file_values(&self) -> Vec<(&'static str, serde_json::Value)> {
                use $crate::config::values::FileValue as _;
                vec![$((stringify!($field), self.$field.file_value()),)*]
            }
        }

        impl Default for Settings {
            /// The built-in defaults, parsed by the same parsers as the flags (a unit test
            /// proves that each declared default parses).
            fn default() -> Self {
                Settings {
                    $(
                        $field: {
                            let parse: fn(&str) -> Result<$ty, String> = $parse;
                            parse($default).expect(concat!("the declared default of ", $flag))
                        },
                    )*
                }
            }
        }
    };
    (@env $env:literal) => { Some($env) };
    (@env) => { None };
}

pub(crate) use declare_settings;
