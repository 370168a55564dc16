//! Documentation that cannot drift: the tables of `docs/` that describe flags, config keys and
//! metrics are generated here from the code (clap's command, the settings' declarations, a
//! scrape with every family), and the console examples of the docs are run against the binary.
//! Every relative link of the README and the docs must lead to a file. A difference fails the
//! test; `CORBADO_BLESS_DOCS=1 cargo test --test it docs::` rewrites the generated tables in
//! place (console examples are never rewritten: a changed message is for a person to read).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::CommandFactory as _;
use corbado_exporter::config::settings::DECLARED;
use corbado_exporter::config::{Cli, SECRET_ENV};

use crate::helpers::{exporter, scratch_dir};

/// The docs folder of this checkout.
fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs")
}

/// Replaces (with `CORBADO_BLESS_DOCS=1`) or checks the text between the markers of `name` in
/// `file`: `<!-- BEGIN GENERATED: name -->` and `<!-- END GENERATED: name -->`.
fn generated(file: &str, name: &str, table: &str) {
    let path = docs().join(file);
    let text = std::fs::read_to_string(&path).expect("the docs page");
    let (begin, end) = (
        format!("<!-- BEGIN GENERATED: {name} -->\n"),
        format!("<!-- END GENERATED: {name} -->"),
    );
    let start = text.find(&begin).expect("the begin marker") + begin.len();
    let stop = start + text[start..].find(&end).expect("the end marker");
    if std::env::var("CORBADO_BLESS_DOCS").as_deref() == Ok("1") {
        let updated = format!("{}{table}{}", &text[..start], &text[stop..]);
        std::fs::write(&path, updated).expect("rewrite the docs page");
        return;
    }
    assert!(
        text[start..stop] == *table,
        "docs/{file}, table {name}, differs from the code; rewrite it with \
         `CORBADO_BLESS_DOCS=1 cargo test --test it docs::`\n--- docs ---\n{}\n--- code ---\n{table}",
        &text[start..stop]
    );
}

/// A markdown cell: pipes escaped, lines joined.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// Every flag of the exporter, from clap: flag, environment variable, default, config file key,
/// and help.
fn flags_table() -> String {
    let command = Cli::command();
    let mut table =
        String::from("| flag | env | default | file key | meaning |\n|---|---|---|---|---|\n");
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        let takes_value = arg.get_action().takes_values();
        let flag = match arg.get_value_names() {
            Some(names) if takes_value => format!("`--{long} {}`", names[0]),
            _ => format!("`--{long}`"),
        };
        let env = arg
            .get_env()
            .map(|e| format!("`{}`", e.to_string_lossy()))
            .unwrap_or_default();
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|d| d.to_string_lossy().into_owned())
            .filter(|d| !d.is_empty())
            .collect();
        let default = match (defaults.is_empty(), takes_value) {
            (false, _) => format!("`{}`", defaults.join(",")),
            (true, false) => "off".to_owned(),
            (true, true) => String::new(),
        };
        let key = DECLARED
            .iter()
            .find(|d| d.flag == format!("--{long}"))
            .map(|d| format!("`{}`", d.key))
            .unwrap_or_default();
        let help = arg
            .get_long_help()
            .or(arg.get_help())
            .map(|h| cell(&h.to_string()))
            .unwrap_or_default();
        table.push_str(&format!(
            "| {flag} | {env} | {default} | {key} | {help} |\n"
        ));
    }
    table.push_str(&format!(
        "| (no flag: never on the command line) | `{SECRET_ENV}` | | | the API secret of the \
         flags' project |\n"
    ));
    table
}

/// The settings a project of `--config.file` may set, from their declarations.
fn keys_list() -> String {
    let keys: Vec<String> = DECLARED.iter().map(|d| format!("`{}`", d.key)).collect();
    format!(
        "Besides `id` and exactly one of `api_secret_file` and `api_secret_env`, a project (or \
         `defaults:`) may set: {}.\n",
        keys.join(", ")
    )
}

/// One family of a scrape: its name, type, help and label names.
#[derive(Default)]
struct Family {
    name: String,
    kind: String,
    help: String,
    labels: BTreeSet<String>,
    per_project: bool,
}

/// The families of a text-format page, in its order.
fn families(page: &str) -> Vec<Family> {
    let mut families: Vec<Family> = Vec::new();
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            families.push(Family {
                name: name.to_owned(),
                help: help.to_owned(),
                ..Family::default()
            });
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let (Some(family), Some((_, kind))) = (families.last_mut(), rest.split_once(' ')) {
                kind.clone_into(&mut family.kind);
            }
        } else if let (Some(family), Some((_, labels))) =
            (families.last_mut(), line.split_once('{'))
        {
            for pair in labels.split(',') {
                let Some((label, _)) = pair.split_once('=') else {
                    continue;
                };
                match label {
                    "project_id" => family.per_project = true,
                    "le" => {}
                    other => {
                        family.labels.insert(other.to_owned());
                    }
                }
            }
        }
    }
    families
}

/// Every family of the exporter, from a scrape with all of them.
fn metrics_table(page: &str) -> String {
    let mut table = String::from("| name | type | labels | help |\n|---|---|---|---|\n");
    for family in families(page) {
        let mut labels: Vec<String> = family.labels.iter().map(|l| format!("`{l}`")).collect();
        if !family.per_project {
            labels.push("(no `project_id`)".into());
        }
        table.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            family.name,
            family.kind,
            labels.join(", "),
            cell(&family.help)
        ));
    }
    table
}

#[test]
fn the_flag_and_key_tables_are_those_of_the_code() {
    generated("configuration.md", "flags", &flags_table());
    generated("configuration.md", "keys", &keys_list());
}

#[tokio::test]
async fn the_metrics_table_is_that_of_a_scrape_with_every_family() {
    let page = crate::promtool::scrape_with_every_family().await;
    generated("metrics.md", "metrics", &metrics_table(&page));
}

/// Digits masked and spaces collapsed: for examples whose figures vary from run to run.
fn masked(text: &str) -> String {
    let mut out = String::new();
    let mut in_number = false;
    for c in text.chars() {
        let digit = c.is_ascii_digit() || (in_number && c == '.');
        if digit && !in_number {
            out.push('N');
        }
        if !digit {
            out.push(c);
        }
        in_number = digit;
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A console example of the docs: the arguments after `$ corbado-exporter`, what it prints,
/// and whether its figures vary.
struct Example {
    args: Vec<String>,
    output: String,
    figures_vary: bool,
}

/// The files (`<!-- file: NAME -->` before a fenced block) and the console examples
/// (`<!-- run -->` or `<!-- run: figures vary -->` before a fenced block) of a docs page.
fn examples(page: &str) -> (Vec<(String, String)>, Vec<Example>) {
    let (mut files, mut runs) = (Vec::new(), Vec::new());
    let mut lines = page.lines().peekable();
    while let Some(line) = lines.next() {
        let marker = line.trim();
        let kind = if let Some(name) = marker
            .strip_prefix("<!-- file: ")
            .and_then(|m| m.strip_suffix(" -->"))
        {
            Some(Ok(name.to_owned()))
        } else if marker.starts_with("<!-- run") {
            Some(Err(marker.contains("figures vary")))
        } else {
            None
        };
        let Some(kind) = kind else { continue };
        assert!(
            lines.next().is_some_and(|l| l.starts_with("```")),
            "a fence after {marker}"
        );
        let block: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.starts_with("```"))
            .collect();
        match kind {
            Ok(name) => files.push((name, block.join("\n") + "\n")),
            Err(figures_vary) => {
                let command = block[0]
                    .strip_prefix("$ corbado-exporter")
                    .expect("a command");
                runs.push(Example {
                    args: command.split_whitespace().map(str::to_owned).collect(),
                    output: block[1..].join("\n"),
                    figures_vary,
                });
            }
        }
    }
    (files, runs)
}

#[test]
fn the_console_examples_of_the_docs_are_what_the_binary_prints() {
    let mut checked = 0;
    for page in ["configuration.md", "operations.md"] {
        let text = std::fs::read_to_string(docs().join(page)).expect("the docs page");
        let (files, runs) = examples(&text);
        let scratch = scratch_dir(&format!("docs-{page}"));
        let dir = scratch.path();
        for (name, content) in &files {
            std::fs::write(dir.join(name), content).expect("an example file");
        }
        for example in runs {
            let args: Vec<&str> = example.args.iter().map(String::as_str).collect();
            let output = exporter(&args).current_dir(dir).output().expect("runs");
            let printed = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            let (printed, expected) = if example.figures_vary {
                (masked(&printed), masked(&example.output))
            } else {
                (printed.trim_end().to_owned(), example.output.clone())
            };
            assert_eq!(printed, expected, "docs/{page}: corbado-exporter {args:?}");
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} console examples found");
}

/// The relative links of one Markdown page (`[text](target)`, anchors dropped, URLs left out).
fn relative_links(page: &str) -> Vec<&str> {
    page.split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .map(|target| target.split('#').next().unwrap_or_default())
        .filter(|target| !target.is_empty() && !target.contains("://") && !target.contains(' '))
        .collect()
}

#[test]
fn every_relative_link_of_the_readme_and_the_docs_leads_to_a_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    for entry in std::fs::read_dir(docs()).expect("the docs folder") {
        let path = entry.expect("an entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).expect("a page");
        let folder = page.parent().expect("a page has a folder");
        for target in relative_links(&text) {
            checked += 1;
            if !folder.join(target).exists() {
                broken.push(format!("{}: {target}", page.display()));
            }
        }
    }
    assert!(broken.is_empty(), "links to nothing: {broken:#?}");
    assert!(checked >= 10, "only {checked} relative links found");
}
