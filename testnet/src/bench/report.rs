//! What a benchmark run produced, in one shape for every scenario: figures, targets, notes and the
//! series behind its plots; rendered as a table, written as JSON (schema [`SCHEMA`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The JSON schema id: bumped when a field changes meaning or goes away.
pub const SCHEMA: &str = "certnet-bench/1";

/// One benchmark run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// `ingest`, `gossip`, `catchup`, `verify` or `soak`.
    pub scenario: String,
    /// When the run started, ms since the Unix epoch.
    pub started_unix_ms: u64,
    /// The machine it ran on.
    pub machine: Machine,
    /// The `certnet` binary the nodes ran.
    pub certnet_bin: String,
    /// What was asked (nodes, rate, duration, records, seed…).
    pub parameters: BTreeMap<String, Value>,
    /// What was measured, in table order.
    pub figures: Vec<Figure>,
    /// The targets and whether this run met them.
    pub targets: Vec<Target>,
    /// How the figures were measured, and anything odd seen.
    pub notes: Vec<String>,
    /// Data of the plots (`--svg`).
    pub series: Vec<Series>,
}

/// The machine a run measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// Cores available to this process.
    pub cpus: usize,
    /// CPU model from /proc/cpuinfo, if found.
    pub cpu_model: Option<String>,
}

impl Machine {
    /// This machine.
    pub fn this() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            });
        Self { cpus, cpu_model }
    }
}

/// One measured figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// Stable key, e.g. `latency_all_nodes_p99_ms`.
    pub key: String,
    /// For people, e.g. `publish → all nodes, p99`.
    pub label: String,
    /// The value.
    pub value: f64,
    /// Its unit: `ms`, `s`, `records/s`, `%`, `records`…
    pub unit: String,
}

/// One target of the issue, checked against this run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// What is compared, e.g. `publish → all nodes p50`.
    pub what: String,
    /// The target, e.g. `< 20 ms`.
    pub target: String,
    /// What this run measured, with its unit.
    pub measured: String,
    /// Whether the run met it.
    pub met: bool,
}

/// The data of one plot: lines of (x, y) points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// File-name part, e.g. `latency-cdf`.
    pub name: String,
    /// Plot title.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Draw x on a log scale.
    pub x_log: bool,
    /// The lines.
    pub lines: Vec<Line>,
}

/// One labelled line of a plot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Line {
    /// Legend label.
    pub label: String,
    /// (x, y) points in x order.
    pub points: Vec<(f64, f64)>,
}

impl Report {
    /// An empty report of `scenario`, started now.
    pub fn new(scenario: &str, certnet_bin: &std::path::Path) -> Self {
        Self {
            schema: SCHEMA.to_owned(),
            scenario: scenario.to_owned(),
            started_unix_ms: crate::bench::now_us() / 1000,
            machine: Machine::this(),
            certnet_bin: certnet_bin.display().to_string(),
            parameters: BTreeMap::new(),
            figures: Vec::new(),
            targets: Vec::new(),
            notes: Vec::new(),
            series: Vec::new(),
        }
    }

    /// Records a parameter.
    pub fn param(&mut self, key: &str, value: impl Into<Value>) {
        self.parameters.insert(key.to_owned(), value.into());
    }

    /// Adds a figure.
    pub fn figure(&mut self, key: &str, label: &str, value: f64, unit: &str) {
        self.figures.push(Figure {
            key: key.to_owned(),
            label: label.to_owned(),
            value,
            unit: unit.to_owned(),
        });
    }

    /// The value of the figure `key`.
    pub fn value(&self, key: &str) -> Option<f64> {
        self.figures.iter().find(|f| f.key == key).map(|f| f.value)
    }

    /// Adds a target check.
    pub fn target(&mut self, what: &str, target: &str, measured: String, met: bool) {
        self.targets.push(Target {
            what: what.to_owned(),
            target: target.to_owned(),
            measured,
            met,
        });
    }

    /// Adds a note.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// The report as a readable table: parameters, figures, targets, notes.
    pub fn table(&self) -> String {
        let mut out = format!("certnet-testnet bench {}", self.scenario);
        let params: Vec<String> = self
            .parameters
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                Value::Number(n) if n.is_f64() => {
                    format!("{k}={}", format_value(n.as_f64().unwrap_or(f64::NAN)))
                }
                other => format!("{k}={other}"),
            })
            .collect();
        if !params.is_empty() {
            let _ = write!(out, " ({})", params.join(", "));
        }
        let _ = write!(
            out,
            "\nmachine: {} cpus{}\n\n",
            self.machine.cpus,
            self.machine
                .cpu_model
                .as_ref()
                .map(|m| format!(", {m}"))
                .unwrap_or_default()
        );
        let rows: Vec<[String; 2]> = self
            .figures
            .iter()
            .map(|f| {
                [
                    f.label.clone(),
                    format!("{} {}", format_value(f.value), f.unit),
                ]
            })
            .collect();
        let width = rows.iter().map(|r| r[0].chars().count()).max().unwrap_or(0);
        let vwidth = rows.iter().map(|r| r[1].chars().count()).max().unwrap_or(0);
        for [label, value] in &rows {
            let _ = writeln!(out, "  {label:<width$}  {value:>vwidth$}");
        }
        if !self.targets.is_empty() {
            out.push_str("\ntargets:\n");
            for t in &self.targets {
                let _ = writeln!(
                    out,
                    "  {:<4} {}: {} (target {})",
                    if t.met { "MET" } else { "MISS" },
                    t.what,
                    t.measured,
                    t.target
                );
            }
        }
        if !self.notes.is_empty() {
            out.push_str("\nnotes:\n");
            for n in &self.notes {
                let _ = writeln!(out, "  - {n}");
            }
        }
        out.trim_end().to_owned()
    }
}

/// A figure's value with sensible digits: integers as they are (with thousands separators from
/// 10,000), others with 3 significant-ish digits.
pub fn format_value(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return group_thousands(&format!("{v:.0}"));
    }
    let a = v.abs();
    let text = if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    group_thousands(&text)
}

fn group_thousands(text: &str) -> String {
    let (sign, rest) = text.strip_prefix('-').map_or(("", text), |r| ("-", r));
    let (int, frac) = rest
        .split_once('.')
        .map_or((rest, None), |(i, f)| (i, Some(f)));
    if int.len() < 5 {
        return text.to_owned();
    }
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn values_are_formatted_for_people() {
        assert_eq!(format_value(12.0), "12");
        assert_eq!(format_value(25_000.0), "25,000");
        assert_eq!(format_value(1234.0), "1234");
        assert_eq!(format_value(4.56789), "4.57");
        assert_eq!(format_value(0.01234), "0.012");
        assert_eq!(format_value(153.27), "153.3");
        assert_eq!(format_value(16_721.6), "16,722");
        assert_eq!(format_value(-20_000.0), "-20,000");
    }

    #[test]
    fn json_round_trips_and_the_table_shows_everything() {
        let mut r = Report::new("gossip", std::path::Path::new("/bin/certnet"));
        r.param("nodes", 3);
        r.param("rate", 20.0);
        r.figure("latency_p50_ms", "publish → all nodes, p50", 4.2, "ms");
        r.target("p50", "< 20 ms", "4.20 ms".into(), true);
        r.note("latency = receiver added_us − send time");
        r.series.push(Series {
            name: "latency-cdf".into(),
            title: "t".into(),
            x_label: "ms".into(),
            y_label: "fraction".into(),
            x_log: false,
            lines: vec![Line {
                label: "all".into(),
                points: vec![(1.0, 0.5), (2.0, 1.0)],
            }],
        });
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["schema"], SCHEMA);
        assert_eq!(json["figures"][0]["key"], "latency_p50_ms");
        assert_eq!(json["targets"][0]["met"], true);
        assert_eq!(json["series"][0]["lines"][0]["points"][1][0], 2.0);
        let back: Report = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
        let table = r.table();
        assert!(table.contains("nodes=3, rate=20"), "{table}");
        assert!(
            table.contains("publish → all nodes, p50  4.20 ms"),
            "{table}"
        );
        assert!(
            table.contains("MET  p50: 4.20 ms (target < 20 ms)"),
            "{table}"
        );
        assert!(table.contains("- latency = receiver"), "{table}");
        assert_eq!(r.value("latency_p50_ms"), Some(4.2));
    }
}
