//! `citus-migrate migrate` end to end through the real binary: two fixture schemas onto real Citus with
//! exact verification, a crash in and after every step then `--resume`, a real `kill -9` during the
//! copy, and the refusals (non-empty work dir, unparsable or contradictory plan).

use std::path::Path;
use std::process::Output;

use crate::common::*;

pub(crate) fn migrate(source: &str, target: &str, dir: &Path, extra: &[&str]) -> Output {
    bin()
        .args([
            "migrate",
            "--source",
            source,
            "--target",
            target,
            "--work-dir",
        ])
        .arg(dir)
        .args(["--jobs", "2", "--chunk-size", "1MB"])
        .args(extra)
        .output()
        .unwrap()
}

pub(crate) fn verify_equal(source: &str, target: &str) {
    let out = bin()
        .args(["verify", "--source", source, "--target", target])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "independent verify: {}{}",
        stdout_of(&out),
        stderr_of(&out)
    );
}

pub(crate) fn state(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("state.json")).unwrap()).unwrap()
}

pub(crate) fn step_status(dir: &Path, step: &str) -> Option<String> {
    state(dir)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == step)
        .map(|s| s["status"].as_str().unwrap().to_string())
}

/// A plan fixture written into `dir`: the plan as a person who knows the application would edit it
/// (`shop.plan.json`, `demo/plan.json`).
fn plan_file(dir: &tempfile::TempDir, name: &str) -> String {
    let path = dir.path().join(name.replace('/', "-"));
    std::fs::write(&path, fixture(name)).unwrap();
    path.display().to_string()
}

/// The shop fixture in database `shop`, and an empty database `dst` on the same server; their URLs.
pub(crate) fn shop_and_empty_target() -> (LocalServer, String, String) {
    let server = server_with("shop", &fixture("shop.sql"));
    server.create_database("dst").unwrap();
    let (src, dst) = (server.url("shop"), server.url("dst"));
    (server, src, dst)
}

fn demo_source(scale: &str) -> LocalServer {
    let server = server_with("src", &fixture("demo/schema.sql"));
    server
        .psql(
            "src",
            &format!("SET demo.scale = '{scale}';\n{}", fixture("demo/data.sql")),
        )
        .unwrap();
    server
}

#[test]
fn migrates_the_demo_and_the_shop_onto_citus_exactly() {
    let Some(cluster) = citus_or_skip("migrates_the_demo_and_the_shop_onto_citus_exactly") else {
        return;
    };
    let demo = demo_source("0.01");
    let shop = server_with("shop", &fixture("shop.sql"));
    let work = tempfile::tempdir().unwrap();
    for (name, source) in [("demo", demo.url("src")), ("shop", shop.url("shop"))] {
        cluster.create_database(name).unwrap();
        let dir = work.path().join(name);
        let plan = plan_file(
            &work,
            if name == "shop" {
                "shop.plan.json"
            } else {
                "demo/plan.json"
            },
        );
        let out = migrate(
            &source,
            &cluster.url(name),
            &dir,
            &["--backup", "--plan", &plan],
        );
        let text = stdout_of(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {text}{}",
            stderr_of(&out)
        );
        assert!(
            text.contains("Verification: the target holds exactly the source's data."),
            "{text}"
        );
        for step in [
            "backup",
            "plan",
            "pre-data",
            "distribute",
            "copy",
            "post-data",
            "sequences",
            "analyze",
            "verify",
        ] {
            assert_eq!(
                step_status(&dir, step).as_deref(),
                Some("done"),
                "{name}: step {step}: {}",
                state(&dir)
            );
            assert!(text.contains(step), "{text}");
        }
        for f in ["plan.json", "backup/source.dump", "logs/migrate.log"] {
            assert!(dir.join(f).exists(), "{name}: {f} missing");
        }
        assert!(std::fs::read_dir(dir.join("sql")).unwrap().count() > 0);
        verify_equal(&source, &cluster.url(name));
        // The layout on the target is the plan's, as verify --plan checks it.
        let out = bin()
            .args([
                "verify",
                "--format",
                "json",
                "--plan",
                &plan,
                "--source",
                &source,
                "--target",
                &cluster.url(name),
            ])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}{}",
            stdout_of(&out),
            stderr_of(&out)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let layout = v["layout"].as_array().unwrap();
        assert!(
            layout.len() >= 5 && layout.iter().all(|l| l["equal"] == true),
            "{layout:?}"
        );
        // The distributed tables are really distributed.
        let n = cluster
            .coordinator
            .psql(
                name,
                "SELECT count(*) FROM citus_tables WHERE citus_table_type = 'distributed'",
            )
            .unwrap();
        assert!(
            n.parse::<i32>().unwrap() >= 2,
            "{name}: {n} distributed tables"
        );
    }
    // The demo's tenants: impressions are co-located with companies.
    let same = cluster
        .coordinator
        .psql("demo", "SELECT count(DISTINCT colocation_id) FROM citus_tables WHERE table_name::text IN ('companies', 'impressions', 'clicks')")
        .unwrap();
    assert_eq!(same, "1");
    // JSON summary.
    let dir = work.path().join("demo");
    let out = migrate(
        &demo.url("src"),
        &cluster.url("demo"),
        &dir,
        &["--resume", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["equal"], true);
    assert_eq!(v["resumed"], true);
    assert_eq!(v["steps"].as_array().unwrap().len(), 9);
}

/// Crashes (the test hook aborts the process like a kill) in the middle of `steps`, each on its own
/// target database, then resumes and checks the copy is exact.
fn crash_and_resume(test: &str, steps: &[&str], var: &str) {
    let Some(cluster) = citus_or_skip(test) else {
        return;
    };
    let source = demo_source("0.005");
    let work = tempfile::tempdir().unwrap();
    let plan = plan_file(&work, "demo/plan.json");
    for step in steps {
        let db = format!("t_{}", step.replace('-', "_"));
        cluster.create_database(&db).unwrap();
        let dir = work.path().join(&db);
        let out = bin()
            .args([
                "migrate",
                "--source",
                &source.url("src"),
                "--target",
                &cluster.url(&db),
                "--jobs",
                "2",
                "--chunk-size",
                "1MB",
                "--backup",
                "--plan",
                &plan,
                "--work-dir",
            ])
            .arg(&dir)
            .env(var, step)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            None,
            "{step}: the test hook should have aborted the run: {}",
            stderr_of(&out)
        );
        let status = step_status(&dir, step);
        if var.ends_with("IN_STEP") {
            assert_eq!(
                status.as_deref(),
                Some("running"),
                "{step}: {}",
                state(&dir)
            );
        } else {
            assert_eq!(status.as_deref(), Some("done"), "{step}: {}", state(&dir));
        }
        // Without --resume the work dir is refused.
        let out = migrate(&source.url("src"), &cluster.url(&db), &dir, &[]);
        assert_eq!(out.status.code(), Some(2), "{step}");
        assert!(
            stderr_of(&out).contains("pass --resume"),
            "{}",
            stderr_of(&out)
        );

        // The same command with --resume, as the failure message says (a backup is taken only by
        // runs that ask for one).
        let out = migrate(
            &source.url("src"),
            &cluster.url(&db),
            &dir,
            &["--resume", "--backup"],
        );
        let text = stdout_of(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{step}: resume failed: {text}{}",
            stderr_of(&out)
        );
        assert!(text.contains("exactly the source's data"), "{step}: {text}");
        verify_equal(&source.url("src"), &cluster.url(&db));
        let st = state(&dir);
        let rec = st["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == *step)
            .unwrap()
            .clone();
        let expected_attempts = if var.ends_with("IN_STEP") { 2 } else { 1 };
        assert_eq!(rec["attempts"], expected_attempts, "{step}: {st}");
    }
}

#[test]
fn crash_in_early_steps_then_resume() {
    crash_and_resume(
        "crash_in_early_steps_then_resume",
        &["backup", "plan", "pre-data", "distribute", "copy"],
        "CITUS_MIGRATE_TEST_CRASH_IN_STEP",
    );
}

#[test]
fn crash_in_late_steps_then_resume() {
    crash_and_resume(
        "crash_in_late_steps_then_resume",
        &["post-data", "sequences", "analyze", "verify"],
        "CITUS_MIGRATE_TEST_CRASH_IN_STEP",
    );
}

#[test]
fn crash_right_after_steps_then_resume() {
    crash_and_resume(
        "crash_right_after_steps_then_resume",
        &["distribute", "copy", "post-data"],
        "CITUS_MIGRATE_TEST_CRASH_AFTER_STEP",
    );
}

#[test]
fn kill_9_during_the_copy_then_resume() {
    let Some(cluster) = citus_or_skip("kill_9_during_the_copy_then_resume") else {
        return;
    };
    let source = demo_source("0.1");
    cluster.create_database("k").unwrap();
    let work = tempfile::tempdir().unwrap();
    let plan = plan_file(&work, "demo/plan.json");
    let dir = work.path().join("w");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_citus-migrate"))
        .args([
            "migrate",
            "--source",
            &source.url("src"),
            "--target",
            &cluster.url("k"),
            "--jobs",
            "2",
            "--chunk-size",
            "1MB",
            "--plan",
            &plan,
            "--work-dir",
        ])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let copying =
        citus_migrate_core::local::wait_until(std::time::Duration::from_secs(120), || {
            dir.join("state.json").exists()
                && step_status(&dir, "copy").as_deref() == Some("running")
        });
    assert!(
        copying,
        "the copy step never started: {:?}",
        std::fs::read_to_string(dir.join("state.json"))
    );
    std::thread::sleep(std::time::Duration::from_millis(700));
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert_eq!(status.code(), None, "the run ended before the kill");
    let out = migrate(&source.url("src"), &cluster.url("k"), &dir, &["--resume"]);
    let text = stdout_of(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "resume after kill -9: {text}{}",
        stderr_of(&out)
    );
    assert!(text.contains("exactly the source's data"), "{text}");
    verify_equal(&source.url("src"), &cluster.url("k"));
}

#[test]
fn plain_target_rehearsal_and_refusals() {
    let source = server_with("shop", &fixture("shop.sql"));
    source.create_database("dst").unwrap();
    let work = tempfile::tempdir().unwrap();

    // An unparsable plan file.
    let bad = work.path().join("bad.json");
    std::fs::write(&bad, "{\"format_version\": 1, \"tables\": [ oops ]}").unwrap();
    let out = migrate(
        &source.url("shop"),
        &source.url("dst"),
        &work.path().join("a"),
        &["--plan", bad.to_str().unwrap(), "--skip-distribution"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("bad.json") && err.contains("line 1"), "{err}");
    let out = bin()
        .args([
            "verify",
            "--plan",
            bad.to_str().unwrap(),
            "--source",
            &source.url("shop"),
            "--target",
            &source.url("dst"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("bad.json"), "{}", stderr_of(&out));

    // A contradictory plan: distributed on a column the table does not have.
    let contradictory = work.path().join("contradictory.json");
    std::fs::write(
        &contradictory,
        r#"{"format_version": 1, "source": {"database": "shop"}, "shard_count": 4, "tables": [
            {"schema": "shop", "name": "stores", "kind": "distributed", "distribution_column": "no_such_column", "colocation_group": "g"}]}"#,
    )
    .unwrap();
    let out = migrate(
        &source.url("shop"),
        &source.url("dst"),
        &work.path().join("b"),
        &[
            "--plan",
            contradictory.to_str().unwrap(),
            "--skip-distribution",
        ],
    );
    assert_ne!(out.status.code(), Some(0));
    let err = stderr_of(&out);
    assert!(
        err.contains("no_such_column") && err.contains("step plan"),
        "{err}"
    );
    // Nothing was created on the target.
    assert_eq!(
        source
            .psql(
                "dst",
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'shop'"
            )
            .unwrap(),
        "0"
    );

    // A source whose advised plan has blockers stops in step plan, listing them with their fixes.
    // (The shop's advised plan has none since the advisor no longer pairs tables whose keys would
    // have to change; fixtures/blockers.sql is made of blockers.)
    source.create_database("legacy").unwrap();
    source.psql("legacy", &fixture("blockers.sql")).unwrap();
    let out = migrate(
        &source.url("legacy"),
        &source.url("dst"),
        &work.path().join("c0"),
        &["--skip-distribution"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("migrate stopped in step plan")
            && err.contains("blocker")
            && err.contains("fix:"),
        "{err}"
    );
    // A plain PostgreSQL target: everything but the distribution runs, and the copy is exact.
    let plan = plan_file(&work, "shop.plan.json");
    // A plain PostgreSQL target without --skip-distribution: refused before anything is created.
    let out = migrate(
        &source.url("shop"),
        &source.url("dst"),
        &work.path().join("nocitus"),
        &["--plan", &plan],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("target: database \"dst\" has no citus extension")
            && err.contains("--skip-distribution"),
        "{err}"
    );
    assert_eq!(
        source
            .psql(
                "dst",
                "SELECT count(*) FROM pg_tables WHERE schemaname = 'shop'"
            )
            .unwrap(),
        "0"
    );
    let out = bin()
        .args([
            "generate",
            "--format",
            "json",
            "--plan",
            &plan,
            "--source",
            &source.url("shop"),
            "--out-dir",
        ])
        .arg(work.path().join("gen"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (
            v["distributed"].as_u64(),
            v["reference"].as_u64(),
            v["colocation_groups"].as_u64()
        ),
        (Some(4), Some(1), Some(1)),
        "{v}"
    );
    assert_eq!(v["files"].as_array().unwrap().len(), 5, "{v}");
    let dir = work.path().join("c");
    let out = migrate(
        &source.url("shop"),
        &source.url("dst"),
        &dir,
        &["--skip-distribution", "--plan", &plan],
    );
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr_of(&out));
    assert_eq!(step_status(&dir, "distribute").as_deref(), Some("skipped"));
    assert!(text.contains("shown, not run"), "{text}");
    verify_equal(&source.url("shop"), &source.url("dst"));

    // A second fresh run into the same target is refused before touching it.
    let out = migrate(
        &source.url("shop"),
        &source.url("dst"),
        &work.path().join("d"),
        &["--skip-distribution", "--plan", &plan],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("target: the target already has"),
        "{}",
        stderr_of(&out)
    );

    // Verification that finds a difference fails the run (exit 1, every difference listed) and stays
    // open: once the target is fixed, --resume verifies again.
    source.create_database("dst2").unwrap();
    let dir2 = work.path().join("f");
    let out = bin()
        .args([
            "migrate",
            "--skip-distribution",
            "--plan",
            &plan,
            "--source",
            &source.url("shop"),
            "--target",
            &source.url("dst2"),
            "--work-dir",
        ])
        .arg(&dir2)
        .env("CITUS_MIGRATE_TEST_CRASH_AFTER_STEP", "analyze")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), None, "{}", stderr_of(&out));
    source
        .psql(
            "dst2",
            "DELETE FROM shop.events WHERE store_id = 3 AND at = '2024-01-01 00:00:00+00'",
        )
        .unwrap();
    let out = migrate(
        &source.url("shop"),
        &source.url("dst2"),
        &dir2,
        &["--resume"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    assert!(
        text.contains("Verification FAILED: 1 difference(s)"),
        "{text}{}",
        stderr_of(&out)
    );
    assert!(
        text.contains("5,003 rows on the source, 5,000 on the target (-3)"),
        "{text}"
    );
    assert!(
        stderr_of(&out).contains("verification found 1 difference(s)"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(step_status(&dir2, "verify").as_deref(), Some("running"));
    source
        .psql("dst2", "INSERT INTO shop.events SELECT 3, 'view', '2024-01-01 00:00:00+00', NULL FROM generate_series(1, 3)")
        .unwrap();
    let out = migrate(
        &source.url("shop"),
        &source.url("dst2"),
        &dir2,
        &["--resume"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout_of(&out),
        stderr_of(&out)
    );
    assert_eq!(step_status(&dir2, "verify").as_deref(), Some("done"));

    // --resume of a directory that holds no run, and of a run with another source.
    let out = migrate(
        &source.url("shop"),
        &source.url("dst"),
        &work.path().join("e"),
        &["--resume"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("no migration to resume"),
        "{}",
        stderr_of(&out)
    );
    let out = migrate(&source.url("dst"), &source.url("dst"), &dir, &["--resume"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("the work directory is for"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn migrate_through_pgbouncer_leaves_no_session_state_in_the_pool() {
    let Some(cluster) =
        citus_or_skip("migrate_through_pgbouncer_leaves_no_session_state_in_the_pool")
    else {
        return;
    };
    let source = demo_source("0.005");
    cluster.create_database("pooled").unwrap();
    let bouncer = citus_migrate_core::local::LocalPgBouncer::start(&cluster.coordinator).unwrap();
    let work = tempfile::tempdir().unwrap();
    let plan = plan_file(&work, "demo/plan.json");
    let target = bouncer.url("pooled");
    let out = migrate(
        &source.url("src"),
        &target,
        &work.path().join("w"),
        &["--plan", &plan],
    );
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr_of(&out));
    assert!(text.contains("exactly the source's data"), "{text}");
    verify_equal(&source.url("src"), &target);

    // pg_dump's scripts set search_path to '' and more; run as transaction-local settings, nothing of
    // that may stay on the pooled server connections that other clients get next.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut clients = Vec::new();
        for _ in 0..12 {
            let (c, conn) = tokio_postgres::connect(&target, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            c.batch_execute("BEGIN").await.unwrap();
            clients.push(c);
        }
        for c in &clients {
            let rows = c.simple_query("SHOW search_path").await.unwrap();
            let value = rows
                .iter()
                .find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
                    _ => None,
                })
                .unwrap();
            assert_eq!(
                value, "\"$user\", public",
                "a pooled connection kept a session setting"
            );
            c.batch_execute("COMMIT").await.unwrap();
        }
    });
}

/// `migrate --table`: the selected tables' schemas are created on the target (pg_dump leaves them out
/// of a dump by table), `*` matches a newline in a name as in pg_dump, a partitioned table comes with
/// its partitions, and a plan with a shard count Citus refuses stops the run naming the file and the
/// range. `generate` with the same selection writes the same schemas into 01-pre-data.sql and counts
/// the tables as migrate's plan step does (a partition follows its parent, it is no local table).
#[test]
fn migrate_by_table_patterns() {
    let source = server_with(
        "src",
        "CREATE SCHEMA \"Sales Dept\";\
         CREATE TABLE \"Sales Dept\".orders (id int PRIMARY KEY, note text);\
         INSERT INTO \"Sales Dept\".orders SELECT i, 'o' || i FROM generate_series(1, 500) i;\
         CREATE TABLE \"Sales Dept\".\"line\nbreak\" (id int PRIMARY KEY, v text);\
         INSERT INTO \"Sales Dept\".\"line\nbreak\" SELECT i, 'v' || i FROM generate_series(1, 40) i;\
         CREATE SCHEMA logs;\
         CREATE TABLE logs.events (id int, at date, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);\
         CREATE TABLE logs.events_2024 PARTITION OF logs.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');\
         CREATE TABLE logs.events_2025 PARTITION OF logs.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');\
         INSERT INTO logs.events SELECT i, date '2024-11-01' + (i % 120) FROM generate_series(1, 300) i;\
         CREATE TABLE logs.skipped (id int);\
         INSERT INTO logs.skipped VALUES (1);",
    );
    source.create_database("dst").unwrap();
    let (src, dst) = (source.url("src"), source.url("dst"));
    let work = tempfile::tempdir().unwrap();
    let selection = [
        "--table",
        "\"Sales Dept\".orders",
        "--table",
        "\"Sales Dept\".line*",
        "--table",
        "logs.events",
    ];

    for (bad, shown) in [("64001", "64001"), ("0", "0"), ("-8", "-8")] {
        let plan = work.path().join(format!("plan{bad}.json"));
        std::fs::write(
            &plan,
            format!(
                r#"{{"format_version": 1, "source": {{"database": "src"}}, "shard_count": {bad}, "tables": [
                {{"schema": "logs", "name": "events", "kind": "distributed", "distribution_column": "id"}}]}}"#
            ),
        )
        .unwrap();
        let mut extra = vec!["--skip-distribution", "--plan", plan.to_str().unwrap()];
        extra.extend(selection);
        let out = migrate(&src, &dst, &work.path().join(format!("bad{bad}")), &extra);
        assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
        let err = stderr_of(&out);
        assert!(
            err.contains(&format!(
                "plan {}: shard_count {shown} is out of range: Citus allows 1 to 64000 shards",
                plan.display()
            )),
            "{err}"
        );
    }
    assert_eq!(
        source
            .psql(
                "dst",
                "SELECT count(*) FROM pg_class WHERE relname = 'events'"
            )
            .unwrap(),
        "0"
    );

    let dir = work.path().join("run");
    let mut extra = vec!["--skip-distribution"];
    extra.extend(selection);
    let out = migrate(&src, &dst, &dir, &extra);
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr_of(&out));
    assert!(
        text.contains("Verification: the target holds exactly the source's data."),
        "{text}"
    );
    // Everything selected is there with its rows, nothing else.
    assert_eq!(
        source
            .psql(
                "dst",
                "SELECT (SELECT count(*) FROM \"Sales Dept\".orders) || ' ' \
                 || (SELECT count(*) FROM \"Sales Dept\".\"line\nbreak\") || ' ' \
                 || (SELECT count(*) FROM ONLY logs.events_2024) || ' ' \
                 || (SELECT count(*) FROM ONLY logs.events_2025) || ' ' \
                 || (to_regclass('logs.skipped') IS NULL)"
            )
            .unwrap(),
        "500 40 182 118 true"
    );
    let plan_step = state(&dir)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "plan")
        .unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_string();
    let gen = work.path().join("gen");
    let out = bin()
        .args([
            "generate",
            "--format",
            "json",
            "--source",
            &src,
            "--out-dir",
        ])
        .arg(&gen)
        .args(selection)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let counts = ["distributed", "reference", "local"].map(|k| v[k].as_u64().unwrap());
    assert_eq!(counts.iter().sum::<u64>(), 3, "{v}");
    assert_eq!(
        plan_step,
        format!(
            "advised by citus-migrate: {} distributed, {} reference, {} local",
            counts[0], counts[1], counts[2]
        )
    );
    source.create_database("gen01").unwrap();
    let pre_data = std::fs::read_to_string(gen.join("01-pre-data.sql")).unwrap();
    source.psql("gen01", &pre_data).unwrap();
    assert_eq!(
        source
            .psql(
                "gen01",
                "SELECT string_agg(q, ' ' ORDER BY q COLLATE \"C\") FROM (SELECT n.nspname || '.' || c.relname AS q FROM pg_class c \
                 JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') \
                 AND n.nspname IN ('Sales Dept', 'logs')) t"
            )
            .unwrap(),
        "Sales Dept.line\nbreak Sales Dept.orders logs.events logs.events_2024 logs.events_2025"
    );
    let out = bin()
        .args([
            "verify", "--format", "json", "--source", &src, "--target", &dst,
        ])
        .args(selection)
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(
        verified_tables(&out),
        (
            vec![
                "Sales Dept.line\nbreak".to_string(),
                "Sales Dept.orders".into(),
                "logs.events_2024".into(),
                "logs.events_2025".into()
            ],
            840
        )
    );
}

#[test]
fn a_resume_reports_what_it_copied_apart_from_earlier_runs() {
    let (source, src, dst) = shop_and_empty_target();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("w");
    // Killed in the copy once a table is committed.
    let out = bin()
        .args([
            "migrate",
            "--skip-distribution",
            "--source",
            &src,
            "--target",
            &dst,
        ])
        .arg("--work-dir")
        .arg(&dir)
        .env("CITUS_MIGRATE_TEST_CRASH_IN_STEP", "copy")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), None, "{}", stderr_of(&out));
    let committed = |what: &str| -> u64 {
        source
            .psql(
                "dst",
                &format!("SELECT COALESCE(sum({what}), 0) FROM citus_migrate.copy_progress WHERE committed_at IS NOT NULL"),
            )
            .unwrap()
            .parse()
            .unwrap()
    };
    let (earlier_rows, earlier_bytes) = (committed("rows"), committed("bytes"));
    assert!(earlier_rows > 0, "nothing was committed before the crash");

    // The resume copies the rest: its own figures, and the total with the earlier run's.
    let out = migrate(&src, &dst, &dir, &["--resume", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (all_rows, all_bytes) = (committed("rows"), committed("bytes"));
    assert_eq!(
        [
            &v["rows"],
            &v["bytes"],
            &v["copied_rows"],
            &v["copied_bytes"]
        ]
        .map(|n| n.as_u64()),
        [
            all_rows,
            all_bytes,
            all_rows - earlier_rows,
            all_bytes - earlier_bytes
        ]
        .map(Some),
        "{v}"
    );
    assert!(v["copied_rows"].as_u64() > Some(0), "{v}");

    // A resume that finds the copy done copies nothing, and says so.
    let out = migrate(&src, &dst, &dir, &["--resume"]);
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr_of(&out));
    let all = format!(
        "; {} rows ({}) had been copied by earlier runs;",
        citus_migrate_core::util::thousands(all_rows as i64),
        citus_migrate_core::util::human_bytes(all_bytes as i64)
    );
    assert!(
        text.contains("\n0 rows (0 bytes) copied by this run, which took ") && text.contains(&all),
        "{text}"
    );
}
