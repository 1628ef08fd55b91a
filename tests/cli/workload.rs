//! `--workload` end to end: analyze and generate with the application's queries (a SQL file, a CSV
//! export, the source's pg_stat_statements), the what-if of an edited plan, and verify's measured
//! routing on a real Citus cluster (with --strict).

use crate::common::*;
use crate::corpus::{corpus_dir, load};

fn tenant_source() -> LocalServer {
    let server = LocalServer::start(&ServerOptions {
        settings: vec![(
            "shared_preload_libraries".into(),
            "pg_stat_statements".into(),
        )],
        ..Default::default()
    })
    .unwrap();
    load(
        &server,
        "ads",
        &corpus_dir().join("citus_docs_multi_tenant"),
        "0.1",
    );
    server
}

/// Runs the binary with `args` and checks its exit code.
fn run(args: &[&str], code: i32) -> std::process::Output {
    let out = bin().args(args).output().unwrap();
    assert_exit(&out, code);
    out
}

fn path(p: impl AsRef<std::path::Path>) -> String {
    p.as_ref().display().to_string()
}

fn workload_file(name: &str) -> String {
    corpus_dir()
        .join(name)
        .join("workload.sql")
        .display()
        .to_string()
}

#[test]
fn analyze_reports_the_routing_of_a_workload_file() {
    let server = tenant_source();
    let w = workload_file("citus_docs_multi_tenant");
    let out = run(
        &[
            "analyze",
            "--format",
            "json",
            "--source",
            &server.url("ads"),
            "--workload",
            &w,
        ],
        0,
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let wl = &v["workload"];
    let queries = wl["queries"].as_array().unwrap();
    assert_eq!(queries.len(), 18);
    for q in queries {
        for field in ["query", "calls", "weight", "routing", "tables", "reason"] {
            assert!(!q[field].is_null(), "{field} missing in {q}");
        }
    }
    let first = &queries[0];
    assert_eq!(first["routing"], "router", "{first}");
    assert_eq!(first["calls"], 20000);
    assert_eq!(first["tables"], serde_json::json!(["public.campaigns"]));
    let single = wl["single_shard_share"].as_f64().unwrap();
    let colocated = wl["colocated_share"].as_f64().unwrap();
    assert!(
        single > 0.99 && colocated > 0.0 && single + colocated <= 1.0 + 1e-9,
        "{wl}"
    );
    // The join that leaves out the tenant holds the plan back, with what would change it.
    let back = wl["holding_back"].as_array().unwrap();
    assert_eq!(back.len(), 1, "{back:?}");
    assert_eq!(back[0]["routing"], "repartition");
    assert!(
        back[0]["reason"]
            .as_str()
            .unwrap()
            .contains("not joined on their distribution columns"),
        "{}",
        back[0]
    );

    let text = run(
        &["analyze", "--source", &server.url("ads"), "--workload", &w],
        0,
    );
    let text = stdout_of(&text);
    assert!(
        text.contains("Workload: 18 queries; single-shard"),
        "{text}"
    );
    assert!(text.contains("Holding the plan back:"), "{text}");
}

#[test]
fn analyze_reads_pg_stat_statements_and_says_how_to_get_it() {
    let server = tenant_source();
    // Without the extension: a clear error with the fix, exit 1.
    let out = run(
        &[
            "analyze",
            "--source",
            &server.url("ads"),
            "--workload",
            "pg_stat_statements",
        ],
        1,
    );
    let err = stderr_of(&out);
    assert!(
        err.contains("source: the extension pg_stat_statements is not installed")
            && err.contains("CREATE EXTENSION pg_stat_statements"),
        "{err}"
    );

    // With it, after the application ran: the statements as pg_stat_statements normalized them.
    server
        .psql(
            "ads",
            "CREATE EXTENSION pg_stat_statements; SELECT pg_stat_statements_reset();
             SELECT name FROM campaigns WHERE company_id = 3;
             SELECT name FROM campaigns WHERE company_id = 4;
             SELECT count(*) FROM clicks c JOIN ads a ON a.company_id = c.company_id AND a.id = c.ad_id WHERE c.company_id = 7;
             SELECT count(*) FROM clicks;",
        )
        .unwrap();
    let out = run(
        &[
            "analyze",
            "--format",
            "json",
            "--source",
            &server.url("ads"),
            "--workload",
            "pg_stat_statements",
        ],
        0,
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let queries = v["workload"]["queries"].as_array().unwrap();
    let find = |needle: &str| {
        queries
            .iter()
            .find(|q| q["query"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("{needle} not in {queries:?}"))
    };
    let campaigns = find("FROM campaigns WHERE company_id = $1");
    assert_eq!(campaigns["calls"], 2);
    assert_eq!(campaigns["routing"], "router");
    assert_eq!(find("JOIN ads a")["routing"], "router");
    assert_eq!(
        find("SELECT count(*) FROM clicks")["routing"],
        "multi_shard"
    );
}

#[test]
fn generate_takes_a_csv_workload_and_shows_an_edited_plan_as_a_what_if() {
    let server = tenant_source();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("w.csv");
    std::fs::write(
        &csv,
        "query,calls,total_exec_time\n\"SELECT * FROM ads WHERE company_id = $1 AND id = $2\",900,450.0\n\"SELECT count(*) FROM clicks WHERE ad_id = $1\",100,800.0\nnot sql at all,5,1.0\n",
    )
    .unwrap();
    let out_dir = dir.path().join("out");
    let out = run(
        &[
            "generate",
            "--format",
            "json",
            "--source",
            &server.url("ads"),
            "--workload",
            &path(&csv),
            "--out-dir",
            &path(&out_dir),
        ],
        0,
    );
    assert!(
        stderr_of(&out).contains("1 statement(s) of the workload could not be read"),
        "{}",
        stderr_of(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let wl = &v["workload"];
    // Weights are the total time: the router lookup 450 ms, the scan of every shard 800 ms.
    assert!(
        (wl["single_shard_share"].as_f64().unwrap() - 450.0 / 1250.0).abs() < 1e-9,
        "{wl}"
    );
    assert!(
        (wl["colocated_share"].as_f64().unwrap() - 800.0 / 1250.0).abs() < 1e-9,
        "{wl}"
    );
    assert_eq!(wl["unparsed"].as_array().unwrap().len(), 1);
    assert!(
        wl["queries"][1]["fix"]
            .as_str()
            .unwrap()
            .contains("on ad_id: distributed on that column"),
        "{wl}"
    );

    // What-if: clicks made a reference table in an edited plan (its foreign key dropped first, as
    // the plan's checks ask).
    server
        .psql(
            "ads",
            "ALTER TABLE clicks DROP CONSTRAINT clicks_company_id_ad_id_fkey",
        )
        .unwrap();
    let plan_path = out_dir.join("plan.json");
    let mut plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_path).unwrap()).unwrap();
    for t in plan["tables"].as_array_mut().unwrap() {
        if t["name"] == "clicks" {
            let o = t.as_object_mut().unwrap();
            o.insert("kind".into(), "reference".into());
            o.remove("distribution_column");
            o.remove("colocation_group");
        }
    }
    let edited = dir.path().join("edited.json");
    std::fs::write(&edited, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
    let out = run(
        &[
            "generate",
            "--source",
            &server.url("ads"),
            "--workload",
            &path(&csv),
            "--plan",
            &path(&edited),
            "--out-dir",
            &path(dir.path().join("out2")),
        ],
        0,
    );
    let text = stdout_of(&out);
    assert!(
        text.contains("What-if: this plan routes 100.0% of the workload's weight to one shard and 0.0% co-located; the advised plan 36.0% and 64.0%."),
        "{text}"
    );
}

#[test]
fn verify_measures_the_routing_on_citus() {
    let Some(cluster) = citus_or_skip("verify_measures_the_routing_on_citus") else {
        return;
    };
    let source = LocalServer::start(&ServerOptions::default()).unwrap();
    load(&source, "tpcc", &corpus_dir().join("tpcc_hammerdb"), "0.05");
    cluster.create_database("tpcc").unwrap();
    let work = tempfile::tempdir().unwrap();
    run(
        &[
            "migrate",
            "--source",
            &source.url("tpcc"),
            "--target",
            &cluster.url("tpcc"),
            "--jobs",
            "2",
            "--work-dir",
            &path(work.path().join("w")),
        ],
        0,
    );

    let w = workload_file("tpcc_hammerdb");
    let out = run(
        &[
            "verify",
            "--source",
            &source.url("tpcc"),
            "--target",
            &cluster.url("tpcc"),
            "--workload",
            &w,
            "--strict",
        ],
        0,
    );
    let text = stdout_of(&out);
    assert!(
        text.contains("agree on 24 of 24 queries (100.0%)"),
        "{text}"
    );

    // A query of a table that is not on the target (left out of the migration): EXPLAIN fails, no
    // routing is measured, and --strict says so.
    let dir = tempfile::tempdir().unwrap();
    let limited = dir.path().join("limited.sql");
    std::fs::write(
        &limited,
        "SELECT count(*) FROM audit_log WHERE id = $1;\nSELECT w_name FROM warehouse WHERE w_id = $1;\n",
    )
    .unwrap();
    let out = run(
        &[
            "verify",
            "--format",
            "json",
            "--source",
            &source.url("tpcc"),
            "--target",
            &cluster.url("tpcc"),
            "--workload",
            &path(&limited),
            "--strict",
        ],
        1,
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["disagreements"], 1, "{v}");
    assert!(v["queries"][0]["measured"].is_null(), "{v}");
    assert!(
        v["queries"][0]["evidence"]
            .as_str()
            .unwrap()
            .contains("audit_log"),
        "{v}"
    );
    assert_eq!(v["queries"][1]["measured"], "router", "{v}");
    assert_eq!(v["queries"][1]["task_count"], 1, "{v}");
    assert!(
        stderr_of(&out).contains("differs from the prediction for 1 of 2 queries"),
        "{}",
        stderr_of(&out)
    );
}
