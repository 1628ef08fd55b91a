//! PgCat in transaction pooling mode in front of the Citus coordinator: what works through PgBouncer
//! works through PgCat. PgCat is in no package registry: the tests look for a `pgcat` program
//! (`CITUS_MIGRATE_PGCAT`, `PATH`, `/usr/local/bin`) and print a skip line where there is none.

use citus_migrate_core::local::{pgcat_path, say_uncaptured, LocalPgCat};

use crate::common::*;
use crate::migrate::migrate;
use crate::standby::primary_and_standby;

/// A Citus cluster with database `db`, or `None` after a skip line naming what is missing.
fn citus_and_pgcat_or_skip(test: &str, db: &str) -> Option<LocalCitus> {
    if let Err(e) = pgcat_path() {
        say_uncaptured(&format!("skipped: {test}: {e}"));
        return None;
    }
    let cluster = citus_or_skip(test)?;
    cluster.create_database(db).unwrap();
    Some(cluster)
}

/// The done-when of the topologies: migrate from a hot standby of the source into Citus through PgCat,
/// verify exact (also against the primary), and the primary untouched by the copy: no connection of
/// ours in its log or in `pg_stat_activity` while the run lasts, no statement in `pg_stat_statements`
/// in the migrated database. The rows that go through the coordinator go as INSERT statements (PgCat
/// cannot pass on the end of a COPY, see `copy/insert.rs`), those of distributed tables straight to
/// the workers; analyze, copy and verify through PgCat on their own as well.
#[test]
fn migrate_from_a_hot_standby_into_citus_through_pgcat() {
    let test = "migrate_from_a_hot_standby_into_citus_through_pgcat";
    let Some(cluster) = citus_and_pgcat_or_skip(test, "shop") else {
        return;
    };
    // As a standby that serves long copies should: otherwise the primary's vacuum can cancel the
    // copy's snapshot on the standby (a recovery conflict after max_standby_streaming_delay).
    let (primary, standby) = primary_and_standby(&[("hot_standby_feedback", "on")]);
    let pgcat = LocalPgCat::start(&cluster.coordinator, &["shop"]).unwrap();
    let target = pgcat.url("shop");
    primary
        .psql("postgres", "SELECT pg_stat_statements_reset()")
        .unwrap();

    // The primary's sessions sampled while the migration runs.
    let running = std::sync::atomic::AtomicBool::new(true);
    let work = tempfile::tempdir().unwrap();
    let (out, seen) = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let mut seen = Vec::new();
            while running.load(std::sync::atomic::Ordering::Relaxed) {
                let ours = primary
                    .psql(
                        "postgres",
                        "SELECT string_agg(application_name || ' ' || coalesce(query, ''), '; ') \
                         FROM pg_stat_activity WHERE pid <> pg_backend_pid() \
                         AND (application_name LIKE 'citus-migrate%' OR datname = 'shop')",
                    )
                    .unwrap();
                if !ours.is_empty() {
                    seen.push(ours);
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            seen
        });
        let out = migrate(&standby.url("shop"), &target, work.path(), &[]);
        running.store(false, std::sync::atomic::Ordering::Relaxed);
        (out, watcher.join().unwrap())
    });
    let text = stdout_of(&out);
    assert_exit(&out, 0);
    assert!(text.contains("exactly the source's data"), "{text}");
    assert!(
        seen.is_empty(),
        "sessions on the primary during the run: {seen:?}"
    );
    let log = std::fs::read_to_string(primary.dir().join("server.log")).unwrap();
    assert!(
        !log.lines()
            .any(|l| l.contains("connection authorized") && l.contains("citus-migrate")),
        "the primary saw a connection of ours"
    );
    assert_eq!(
        primary
            .psql(
                "postgres",
                "SELECT count(*) FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid \
                 WHERE d.datname = 'shop'",
            )
            .unwrap(),
        "0",
        "statements ran on the primary's shop"
    );
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("copy/summary.json")).unwrap(),
    )
    .unwrap();
    let tables = summary["tables"].as_array().unwrap();
    assert!(
        tables.iter().any(|t| t["inserts"] == true)
            && tables.iter().any(|t| t["worker_direct"] == true),
        "{summary}"
    );
    assert!(
        tables
            .iter()
            .all(|t| (t["inserts"] == true) != (t["worker_direct"] == true)),
        "{summary}"
    );
    for source in [standby.url("shop"), primary.url("shop")] {
        let verify = bin()
            .args(["verify", "--source", &source, "--target", &target])
            .output()
            .unwrap();
        assert_exit(&verify, 0);
    }
    // analyze of the target through PgCat reads the distributed tables.
    let analyze = bin()
        .args(["analyze", "--source", &target, "--format", "json"])
        .output()
        .unwrap();
    assert_exit(&analyze, 0);
    let report: serde_json::Value = serde_json::from_slice(&analyze.stdout).unwrap();
    assert!(report["source"]["citus_version"].is_string(), "{report}");
}

/// `copy` through PgCat into a fresh distributed table, twice over the same pool (server connections
/// reused between clients), and a resume after the target was emptied is refused as with PgBouncer.
#[test]
fn copy_through_pgcat_in_transaction_pooling_mode() {
    let test = "copy_through_pgcat_in_transaction_pooling_mode";
    let Some(cluster) = citus_and_pgcat_or_skip(test, "items") else {
        return;
    };
    let source = server_with(
        "items",
        "CREATE TABLE items (id bigint PRIMARY KEY, body text);
         INSERT INTO items SELECT i, repeat(md5(i::text), 4) FROM generate_series(1, 30000) i;
         ANALYZE;",
    );
    cluster
        .coordinator
        .psql(
            "items",
            "CREATE TABLE items (id bigint PRIMARY KEY, body text);
             SELECT create_distributed_table('items', 'id');",
        )
        .unwrap();
    let pgcat = LocalPgCat::start(&cluster.coordinator, &["items"]).unwrap();
    for mode in [&[][..], &["--truncate"][..]] {
        let out = bin()
            .args([
                "copy",
                "--source",
                &source.url("items"),
                "--target",
                &pgcat.url("items"),
            ])
            .args(["--table", "items", "--jobs", "3", "--chunk-size", "256kB"])
            .args(mode)
            .output()
            .unwrap();
        assert_exit(&out, 0);
        assert_eq!(
            cluster
                .coordinator
                .psql("items", "SELECT count(*) FROM items")
                .unwrap(),
            "30000"
        );
    }
    let verify = bin()
        .args([
            "verify",
            "--source",
            &source.url("items"),
            "--target",
            &pgcat.url("items"),
        ])
        .output()
        .unwrap();
    assert_exit(&verify, 0);
}

/// Through PgCat the rows of tables that go through the coordinator (a reference table moved in COPY's
/// text format for its enum column, with tabs, newlines, backslashes, `\N` and NULLs in its values, an
/// identity column `GENERATED ALWAYS`; a local table moved in binary) go as INSERT statements: a run
/// killed part-way is resumed without a row twice, and the target holds exactly the source's rows.
#[test]
fn copy_through_pgcat_inserts_rows_through_the_coordinator_and_resumes() {
    let test = "copy_through_pgcat_inserts_rows_through_the_coordinator_and_resumes";
    let Some(cluster) = citus_and_pgcat_or_skip(test, "notes") else {
        return;
    };
    let schema = "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
         CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, m mood, body text,
             raw bytea, tags text[], doc jsonb, amount numeric, at timestamptz);
         CREATE TABLE codes (code text PRIMARY KEY, n int);";
    let source = server_with(
        "notes",
        &format!(
            "{schema}
             INSERT INTO notes (m, body, raw, tags, doc, amount, at)
             SELECT (ARRAY['sad', 'ok', 'happy']::mood[])[1 + i % 3],
                    CASE WHEN i % 7 = 0 THEN NULL ELSE E'tab\\there\\nline\\\\back\\\\N ' || i END,
                    decode(md5(i::text), 'hex'), ARRAY['a b', E'c\\td', NULL],
                    jsonb_build_object('i', i, 's', E'x\\ny'), i / 7.0,
                    '2020-01-01'::timestamptz + i * interval '1 minute'
             FROM generate_series(1, 20000) i;
             INSERT INTO codes SELECT 'c' || i, i FROM generate_series(1, 20000) i;
             ANALYZE;"
        ),
    );
    cluster
        .coordinator
        .psql(
            "notes",
            &format!("{schema} SELECT create_reference_table('notes');"),
        )
        .unwrap();
    let pgcat = LocalPgCat::start(&cluster.coordinator, &["notes"]).unwrap();
    let copy = |extra: &[&str]| {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_citus-migrate"));
        c.args(["copy", "--source", &source.url("notes"), "--target"])
            .arg(pgcat.url("notes"))
            .args(["--table", "notes", "--table", "codes", "--jobs", "2"])
            .args(["--chunk-size", "256kB", "--format", "json"])
            .args(extra);
        c
    };
    // A first run, slowed at every chunk's decision, is killed once a chunk committed.
    let mut first = copy(&[])
        .env("CITUS_MIGRATE_TEST_PAUSE_MS", "300")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    kill_after_a_committed_chunk(&mut first, &cluster.coordinator, "notes");

    let out = copy(&["--resume"]).output().unwrap();
    assert_exit(&out, 0);
    assert!(
        stderr_of(&out).contains("the target is PgCat"),
        "{}",
        stderr_of(&out)
    );
    let summary: serde_json::Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    for t in summary["tables"].as_array().unwrap() {
        assert_eq!(t["inserts"], true, "{summary}");
        let binary = t["table"].to_string().contains("codes");
        assert_eq!(t["binary"], binary, "{summary}");
    }
    assert!(
        summary["tables"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["skipped_chunks"].as_u64().unwrap() > 0),
        "the resume skipped nothing: {summary}"
    );
    for (table, n) in [("notes", "20000"), ("codes", "20000")] {
        assert_eq!(
            cluster
                .coordinator
                .psql("notes", &format!("SELECT count(*) FROM {table}"))
                .unwrap(),
            n
        );
    }
    // `copy` moves rows only (`migrate` sets the sequences).
    cluster
        .coordinator
        .psql("notes", "SELECT setval('notes_id_seq', 20000)")
        .unwrap();
    let verify = bin()
        .args(["verify", "--source", &source.url("notes"), "--target"])
        .arg(pgcat.url("notes"))
        .output()
        .unwrap();
    assert_exit(&verify, 0);
}

/// `import` (CSV) uses COPY only: through PgCat it stops with a clear error naming PgCat instead of
/// hanging, and imports nothing.
#[test]
fn import_through_pgcat_is_refused_with_a_reason() {
    let test = "import_through_pgcat_is_refused_with_a_reason";
    let Some(cluster) = citus_and_pgcat_or_skip(test, "items") else {
        return;
    };
    cluster
        .coordinator
        .psql(
            "items",
            "CREATE TABLE items (id bigint PRIMARY KEY, body text);
             SELECT create_reference_table('items');",
        )
        .unwrap();
    let pgcat = LocalPgCat::start(&cluster.coordinator, &["items"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("items.csv");
    std::fs::write(&csv, "id,body\n1,a\n2,b\n").unwrap();
    let out = bin()
        .args([
            "import",
            "--target",
            &pgcat.url("items"),
            "--table",
            "items",
            "--input",
        ])
        .arg(&csv)
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    assert_exit(&out, 1);
    assert!(
        stderr_of(&out).contains("the target is PgCat"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(
        cluster
            .coordinator
            .psql("items", "SELECT count(*) FROM items")
            .unwrap(),
        "0"
    );
}
