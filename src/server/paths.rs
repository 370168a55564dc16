//! Where the exporter's routes live (`--web.route-prefix`) and where its links point
//! (`--web.external-url`), as Prometheus defines the two flags: the prefix defaults to the path
//! of the external URL, and links are made from the external URL's path, so that behind a proxy
//! that strips the prefix (`--web.route-prefix /`) the links still go through the proxy. The one
//! place that joins a prefix and a path.

use std::fmt;

/// The exporter's paths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// Prefix of every route, without a trailing `/`: empty at the root.
    prefix: String,
    /// Prefix of every link, without a trailing `/`: the external URL's path, else `prefix`.
    links: String,
    /// `--web.external-url` without a trailing `/`, if given.
    external: Option<String>,
    /// `--web.telemetry-path`, under the prefix.
    telemetry: String,
}

/// Why a prefix or an external URL was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct PathError(pub String);

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PathError {}

impl Paths {
    /// The paths at the root, with `telemetry` as the metrics path.
    pub fn root(telemetry: &str) -> Paths {
        Paths {
            prefix: String::new(),
            links: String::new(),
            external: None,
            telemetry: telemetry.to_owned(),
        }
    }

    /// From the flags: `route_prefix` (`--web.route-prefix`) and `external_url`
    /// (`--web.external-url`, already checked to be an http(s) URL).
    pub fn new(
        telemetry: &str,
        route_prefix: Option<&str>,
        external_url: Option<&reqwest::Url>,
    ) -> Result<Paths, PathError> {
        let external_path = external_url.map(|url| trimmed(url.path()));
        let prefix = match route_prefix {
            Some(prefix) => checked_prefix(prefix)?,
            None => external_path.clone().unwrap_or_default(),
        };
        Ok(Paths {
            links: external_path.unwrap_or_else(|| prefix.clone()),
            prefix,
            external: external_url.map(|url| url.as_str().trim_end_matches('/').to_owned()),
            telemetry: telemetry.to_owned(),
        })
    }

    /// The route of `path` (which starts with `/`).
    pub fn route(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }

    /// The route prefix: empty at the root, else `/…` without a trailing `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The link to `path` (which starts with `/`) on this exporter's pages.
    pub fn link(&self, path: &str) -> String {
        format!("{}{path}", self.links)
    }

    /// The telemetry path as a link.
    pub fn telemetry_link(&self) -> String {
        self.link(&self.telemetry)
    }

    /// The telemetry path as a route.
    pub fn telemetry_route(&self) -> String {
        self.route(&self.telemetry)
    }

    /// The path a request asked for, less the route prefix: what the routes are matched on.
    /// `None` for a path outside the prefix.
    pub fn within<'a>(&self, path: &'a str) -> Option<&'a str> {
        let rest = path.strip_prefix(self.prefix.as_str())?;
        (rest.is_empty() || rest.starts_with('/')).then_some(rest)
    }

    /// `--web.external-url`, without a trailing `/`, if given: where the runbook is reached
    /// from outside (`{external}/runbook`).
    pub fn external(&self) -> Option<&str> {
        self.external.as_deref()
    }
}

/// A path less its trailing slashes (`/` becomes empty).
fn trimmed(path: &str) -> String {
    path.trim_end_matches('/').to_owned()
}

/// `--web.route-prefix`: a plain path; `/` and the empty prefix mean the root.
fn checked_prefix(prefix: &str) -> Result<String, PathError> {
    let prefix = prefix.trim();
    if prefix
        .chars()
        .any(|c| c.is_whitespace() || c == '?' || c == '#' || c.is_control())
    {
        return Err(PathError("must be a plain path".into()));
    }
    let prefix = trimmed(prefix);
    if prefix.is_empty() {
        return Ok(prefix);
    }
    Ok(if prefix.starts_with('/') {
        prefix
    } else {
        format!("/{prefix}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> reqwest::Url {
        reqwest::Url::parse(text).expect("a URL")
    }

    #[test]
    fn the_prefix_defaults_to_the_external_urls_path() {
        let external = url("https://ops.example.com/corbado/");
        let paths = Paths::new("/metrics", None, Some(&external)).expect("valid");
        assert_eq!(paths.route("/config"), "/corbado/config");
        assert_eq!(paths.telemetry_route(), "/corbado/metrics");
        assert_eq!(paths.link("/logs"), "/corbado/logs");
        assert_eq!(paths.external(), Some("https://ops.example.com/corbado"));
    }

    #[test]
    fn a_proxy_that_strips_the_prefix_keeps_routes_at_the_root_and_links_under_it() {
        let external = url("https://ops.example.com/corbado");
        let paths = Paths::new("/metrics", Some("/"), Some(&external)).expect("valid");
        assert_eq!(paths.route("/config"), "/config");
        assert_eq!(paths.link("/config"), "/corbado/config");
    }

    #[test]
    fn prefixes_are_normalised_and_requests_matched_within_them() {
        for (given, expected) in [
            ("", ""),
            ("/", ""),
            ("x", "/x"),
            ("/x/", "/x"),
            ("/a/b", "/a/b"),
        ] {
            let paths = Paths::new("/metrics", Some(given), None).expect("valid");
            assert_eq!(paths.prefix(), expected, "{given:?}");
            assert_eq!(paths.link("/"), format!("{expected}/"));
        }
        assert!(Paths::new("/metrics", Some("/a b"), None).is_err());
        assert!(Paths::new("/metrics", Some("/a?b"), None).is_err());
        let paths = Paths::new("/metrics", Some("/corbado"), None).expect("valid");
        assert_eq!(paths.within("/corbado/-/healthy"), Some("/-/healthy"));
        assert_eq!(paths.within("/corbado"), Some(""));
        assert_eq!(paths.within("/corbadox/-/healthy"), None);
        assert_eq!(paths.within("/-/healthy"), None);
        assert_eq!(Paths::root("/metrics").within("/-/ready"), Some("/-/ready"));
    }
}
