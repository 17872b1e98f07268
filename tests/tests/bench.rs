//! `certnet-testnet demo` and `bench` on real processes, small: the demo runs through every checked
//! step; a 3-node gossip bench and a 200-record verify bench produce their table, JSON and SVG; a
//! 2-node `certnet-testnet hostile` run reports every phase.
//! Figures are never asserted (timings belong in BENCHMARKS.md), only that they exist and that
//! nothing was lost.

use serde_json::Value;

use crate::federation::one_at_a_time;
use crate::util::{TestDir, ok};

fn figure(report: &Value, key: &str) -> f64 {
    report["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == key)
        .and_then(|f| f["value"].as_f64())
        .unwrap_or_else(|| panic!("no figure {key} in {report}"))
}

#[test]
fn demo_runs_through_every_step_and_cleans_up() {
    let _one = one_at_a_time();
    let dir = TestDir::new();
    let work = dir.testnet_dir().join("demo");
    let work_arg = work.display().to_string();
    let out = dir.testnet(&["demo", "--work-dir", &work_arg]).success();
    for step in 1..=7 {
        assert!(
            out.stdout.contains(&format!("Step {step}/7")),
            "step {step} missing:\n{}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("the partition holds"), "{}", out.stdout);
    assert!(
        out.stdout.contains("revoked (false positive"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("OK: 7 entries"), "{}", out.stdout);
    assert!(
        out.stdout.contains("/ui/ (sign in with the token in"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("→ exit 1"), "{}", out.stdout);
    // Success removes the work directory, nodes and all.
    assert!(!work.exists(), "{} left behind", work.display());
}

#[test]
fn tiny_gossip_bench_writes_table_json_and_svg() {
    let _one = one_at_a_time();
    let dir = TestDir::new();
    let out_dir = dir.testnet_dir().join("out");
    let json = out_dir.join("gossip.json");
    let svg = out_dir.join("plots");
    ok(std::fs::create_dir_all(&out_dir));
    let (json_arg, svg_arg) = (json.display().to_string(), svg.display().to_string());
    let work_arg = dir.testnet_dir().join("work").display().to_string();
    let out = dir
        .testnet(&[
            "bench",
            "gossip",
            "--nodes",
            "3",
            "--rate",
            "20",
            "--duration",
            "3",
            "--json",
            &json_arg,
            "--svg",
            &svg_arg,
            "--work-dir",
            &work_arg,
        ])
        .success();
    for row in [
        "certnet-testnet bench gossip (duration_s=3, nodes=3, rate_per_s=20)",
        "publish → every node, p50",
        "publish → each other node, p99",
        "delivered (record × other node)",
        "targets:",
    ] {
        assert!(out.stdout.contains(row), "{row:?} missing:\n{}", out.stdout);
    }
    let report: Value = ok(serde_json::from_str(&ok(std::fs::read_to_string(&json))));
    assert_eq!(report["schema"], "certnet-bench/1");
    assert_eq!(report["scenario"], "gossip");
    assert_eq!(report["parameters"]["nodes"], 3);
    assert_eq!(figure(&report, "records_acked"), 60.0);
    // Every acknowledged record reached both other nodes.
    assert_eq!(figure(&report, "delivery_pct"), 100.0);
    assert!(figure(&report, "latency_every_max_ms") >= figure(&report, "latency_every_p50_ms"));
    let lines = report["series"][0]["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 3);
    let plot = ok(std::fs::read_to_string(svg.join("gossip-latency-cdf.svg")));
    assert!(plot.starts_with("<svg"));
    assert!(plot.contains("to every node (slowest)"));
}

#[test]
fn tiny_verify_bench_audits_a_real_export() {
    let _one = one_at_a_time();
    let dir = TestDir::new();
    let json = dir.testnet_dir().with_extension("json");
    let json_arg = json.display().to_string();
    let work_arg = dir.testnet_dir().join("work").display().to_string();
    let out = dir
        .testnet(&[
            "bench",
            "verify",
            "--records",
            "200",
            "--json",
            &json_arg,
            "--work-dir",
            &work_arg,
        ])
        .success();
    assert!(out.stdout.contains("certnet verify rate"), "{}", out.stdout);
    let report: Value = ok(serde_json::from_str(&ok(std::fs::read_to_string(&json))));
    assert_eq!(report["scenario"], "verify");
    assert!(figure(&report, "raw_verify_rate") > 0.0);
    assert!(figure(&report, "verify_rate") > 0.0);
    assert_eq!(report["targets"].as_array().unwrap().len(), 1);
}

#[test]
fn tiny_hostile_run_reports_every_phase_and_the_nodes_reaction() {
    let _one = one_at_a_time();
    let dir = TestDir::new();
    let json = dir.testnet_dir().with_extension("json");
    let json_arg = json.display().to_string();
    let work_arg = dir.testnet_dir().join("work").display().to_string();
    let out = dir
        .testnet(&[
            "hostile",
            "--nodes",
            "2",
            "--rate",
            "10",
            "--duration",
            "3",
            "--attack",
            "forged-heads,garbage",
            "--json",
            &json_arg,
            "--work-dir",
            &work_arg,
        ])
        .success();
    for row in [
        "certnet-testnet bench hostile",
        "quiet: honest publish → every node, p99",
        "forged-heads: publish answered, p99",
        "garbage: records rejected as invalid (all nodes)",
        "targets:",
    ] {
        assert!(out.stdout.contains(row), "{row:?} missing:\n{}", out.stdout);
    }
    let report: Value = ok(serde_json::from_str(&ok(std::fs::read_to_string(&json))));
    assert_eq!(report["scenario"], "hostile");
    assert_eq!(report["parameters"]["attacks"], "forged-heads,garbage");
    // Every honest record reached the other node in every phase; nobody waited on a forged head.
    for phase in ["quiet", "forged_heads", "garbage"] {
        assert_eq!(
            figure(&report, &format!("{phase}_delivery_pct")),
            100.0,
            "{phase}"
        );
    }
    assert!(figure(&report, "forged_heads_offences") >= 1.0);
    assert!(figure(&report, "garbage_attacker_sent") > 0.0);
    let forged = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["what"] == "publishes while a member forges heads")
        .unwrap();
    assert_eq!(forged["met"], true, "{forged}");
}
