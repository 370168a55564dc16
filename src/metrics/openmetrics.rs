//! OpenMetrics 1.0.0 text, written from the families the `prometheus` crate gathers: that crate
//! writes only the 0.0.4 text format, and Prometheus asks every target for OpenMetrics first. The
//! smallest encoder that serves: a counter's family drops `_total`, the per-user distribution (a
//! snapshot, not observations that accumulate) is a `gaugehistogram` with `_gcount` and `_gsum`,
//! a name that ends in a unit gets `# UNIT`, and label values and HELP are escaped as
//! OpenMetrics escapes them. `# EOF` is the caller's, after every part is merged
//! ([`crate::metrics::merge_expositions`] keys families on `# HELP`, which this writes first).
//!
//! `_created` samples of counters and histograms come only with `--web.enable-created-samples`:
//! a Prometheus without the `created-timestamp-zero-ingestion` feature (the default) stores each
//! as a series of its own, so by default the page holds exactly the series of the text format.
//! Each part of the page is written with them or without them as the page asks ([`encode_with`]).

use std::fmt::Write as _;

use prometheus::proto::{LabelPair, Metric, MetricFamily, MetricType};

/// `Content-Type` of OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The families that are snapshots rather than accumulated observations.
const GAUGE_HISTOGRAMS: [&str; 1] = ["corbado_active_sessions_per_user"];

/// Units a family name may end in, as OpenMetrics writes them.
const UNITS: [&str; 2] = ["seconds", "bytes"];

/// `families` as OpenMetrics text, without `# EOF`; `_created` samples (at `created_s`) only
/// when it is `Some`.
pub fn encode_with(families: &[MetricFamily], created_s: Option<f64>) -> String {
    let mut out = String::new();
    for family in families {
        family_text(&mut out, family, created_s);
    }
    out
}

fn family_text(out: &mut String, family: &MetricFamily, created_s: Option<f64>) {
    let name = family.name();
    let kind = family.get_field_type();
    let (om_name, om_type) = match kind {
        MetricType::COUNTER => (name.strip_suffix("_total").unwrap_or(name), "counter"),
        MetricType::GAUGE => (name, "gauge"),
        MetricType::HISTOGRAM if GAUGE_HISTOGRAMS.contains(&name) => (name, "gaugehistogram"),
        MetricType::HISTOGRAM => (name, "histogram"),
        MetricType::SUMMARY => (name, "summary"),
        MetricType::UNTYPED => (name, "unknown"),
    };
    let _ = writeln!(out, "# HELP {om_name} {}", escape(family.help()));
    let _ = writeln!(out, "# TYPE {om_name} {om_type}");
    if let Some(unit) = UNITS.iter().find(|u| om_name.ends_with(&format!("_{u}"))) {
        let _ = writeln!(out, "# UNIT {om_name} {unit}");
    }
    for metric in family.get_metric() {
        let labels = metric.get_label();
        match kind {
            MetricType::COUNTER => {
                sample(
                    out,
                    om_name,
                    "_total",
                    labels,
                    None,
                    metric.get_counter().get_value(),
                );
                if let Some(created_s) = created_s {
                    sample(out, om_name, "_created", labels, None, created_s);
                }
            }
            MetricType::GAUGE => sample(
                out,
                om_name,
                "",
                labels,
                None,
                metric.get_gauge().get_value(),
            ),
            MetricType::HISTOGRAM => histogram(out, om_name, om_type, metric, created_s),
            // This exporter makes neither.
            MetricType::SUMMARY | MetricType::UNTYPED => {}
        }
    }
}

fn histogram(out: &mut String, name: &str, om_type: &str, metric: &Metric, created_s: Option<f64>) {
    let labels = metric.get_label();
    let histogram = metric.get_histogram();
    let mut infinite = false;
    for bucket in histogram.get_bucket() {
        let bound = bucket.upper_bound();
        infinite |= bound == f64::INFINITY;
        let le = number(bound);
        let count = bucket.cumulative_count() as f64;
        sample(out, name, "_bucket", labels, Some(&le), count);
    }
    let count = histogram.get_sample_count() as f64;
    if !infinite {
        sample(out, name, "_bucket", labels, Some("+Inf"), count);
    }
    let sum = histogram.get_sample_sum();
    if om_type == "gaugehistogram" {
        sample(out, name, "_gcount", labels, None, count);
        sample(out, name, "_gsum", labels, None, sum);
    } else {
        sample(out, name, "_count", labels, None, count);
        sample(out, name, "_sum", labels, None, sum);
        if let Some(created_s) = created_s {
            sample(out, name, "_created", labels, None, created_s);
        }
    }
}

/// One sample line: `name` + `suffix`, its labels (and `le`), its value.
fn sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &[LabelPair],
    le: Option<&str>,
    value: f64,
) {
    out.push_str(name);
    out.push_str(suffix);
    let pairs = labels
        .iter()
        .map(|l| (l.name(), l.value()))
        .chain(le.map(|le| ("le", le)));
    let mut first = true;
    for (label, value) in pairs {
        out.push(if first { '{' } else { ',' });
        first = false;
        let _ = write!(out, "{label}=\"{}\"", escape(value));
    }
    if !first {
        out.push('}');
    }
    let _ = writeln!(out, " {}", number(value));
}

/// A number as OpenMetrics writes it: integers without a fraction, `+Inf`, `-Inf`, `NaN`.
fn number(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value == f64::INFINITY {
        "+Inf".to_owned()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// Escapes `\`, a line feed and `"`, as OpenMetrics wants in label values and HELP.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            '"' => escaped.push_str("\\\""),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge, Registry};

    #[test]
    fn counters_histograms_and_units_are_written_as_openmetrics_has_them() {
        let registry = Registry::new();
        let counter = IntCounter::new("x_requests_total", "Requests \"made\".").expect("counter");
        counter.inc_by(3);
        let gauge = IntGauge::new("x_duration_seconds", "A\\B").expect("gauge");
        gauge.set(2);
        let histogram = Histogram::with_opts(
            HistogramOpts::new("x_latency_seconds", "Latency.").buckets(vec![0.5, 1.0]),
        )
        .expect("histogram");
        histogram.observe(0.25);
        for collector in [
            Box::new(counter) as Box<dyn prometheus::core::Collector>,
            Box::new(gauge),
            Box::new(histogram),
        ] {
            registry.register(collector).expect("register");
        }
        let text = encode_with(&registry.gather(), Some(1_700_000_000.0));
        assert_eq!(
            text,
            "# HELP x_duration_seconds A\\\\B\n# TYPE x_duration_seconds gauge\n\
             # UNIT x_duration_seconds seconds\nx_duration_seconds 2\n\
             # HELP x_latency_seconds Latency.\n# TYPE x_latency_seconds histogram\n\
             # UNIT x_latency_seconds seconds\n\
             x_latency_seconds_bucket{le=\"0.5\"} 1\nx_latency_seconds_bucket{le=\"1\"} 1\n\
             x_latency_seconds_bucket{le=\"+Inf\"} 1\nx_latency_seconds_count 1\n\
             x_latency_seconds_sum 0.25\nx_latency_seconds_created 1700000000\n\
             # HELP x_requests Requests \\\"made\\\".\n# TYPE x_requests counter\n\
             x_requests_total 3\nx_requests_created 1700000000\n"
        );
        // Without `_created`: the same lines but those.
        let plain = encode_with(&registry.gather(), None);
        assert!(!plain.contains("_created"), "{plain}");
        assert_eq!(plain.lines().count(), text.lines().count() - 2);
    }
}
