//! `copy --resume` against what other sessions did meanwhile: two resumes racing for the same chunks
//! on real Citus (the loser leaves nothing prepared), and a target table emptied by hand since.

use std::process::{Command, Stdio};

use crate::common::*;

const CHECKSUM: &str =
    "SELECT count(*) || ' ' || md5(string_agg(id || filler, ',' ORDER BY id)) FROM acct";

fn copy_args<'a>(src: &'a str, dst: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    crate::crash::copy_args(src, dst, &["acct"], "128kB", extra)
}

#[test]
fn racing_resumes_on_citus_copy_each_chunk_once_and_leave_nothing_prepared() {
    let Some(cluster) =
        citus_or_skip("racing_resumes_on_citus_copy_each_chunk_once_and_leave_nothing_prepared")
    else {
        return;
    };
    cluster.create_database("dst").unwrap();
    cluster
        .coordinator
        .psql(
            "dst",
            "CREATE TABLE acct (id bigint PRIMARY KEY, filler text NOT NULL); \
             SELECT create_distributed_table('acct', 'id');",
        )
        .unwrap();
    let source = server_with("src", crate::copy::RESUME_SOURCE);
    let (src, dst) = (source.url("src"), cluster.url("dst"));

    // A first run records the plan and is killed early.
    let mut first = Command::new(env!("CARGO_BIN_EXE_citus-migrate"))
        .args(copy_args(&src, &dst, &[]))
        .env("CITUS_MIGRATE_TEST_PAUSE_MS", "300")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    kill_after_a_committed_chunk(&mut first, &cluster.coordinator, "dst");

    // Three resumes at once, slowed at every chunk's decision so that they collide on chunks.
    let racers: Vec<_> = (0..3)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_citus-migrate"))
                .args(copy_args(&src, &dst, &["--resume", "--format", "json"]))
                .env("CITUS_MIGRATE_TEST_PAUSE_MS", "30")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut by_runs = 0;
    for racer in racers {
        let out = racer.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a racing resume failed: {}",
            stderr_of(&out)
        );
        let summary: serde_json::Value = serde_json::from_str(&stdout_of(&out)).unwrap();
        by_runs += summary["rows"].as_u64().unwrap();
    }
    assert_eq!(
        cluster.coordinator.psql("dst", CHECKSUM).unwrap(),
        source.psql("src", CHECKSUM).unwrap()
    );
    assert!(
        by_runs <= 60000,
        "rows reported copied by the racers: {by_runs}"
    );
    for w in &cluster.workers {
        assert_eq!(
            w.psql("dst", "SELECT count(*) FROM pg_prepared_xacts")
                .unwrap(),
            "0",
            "a racing run left a prepared transaction"
        );
    }
}

#[test]
fn resume_into_a_table_emptied_by_hand_says_so() {
    let source = server_with("src", crate::copy::RESUME_SOURCE);
    let target = server_with(
        "dst",
        "CREATE TABLE acct (id bigint PRIMARY KEY, filler text NOT NULL);",
    );
    let (src, dst) = (source.url("src"), target.url("dst"));
    let out = bin().args(copy_args(&src, &dst, &[])).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    target.psql("dst", "TRUNCATE acct").unwrap();

    let out = bin()
        .args(copy_args(&src, &dst, &["--resume"]))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("acct") && err.contains("emptied") && err.contains("--truncate"),
        "{err}"
    );
    assert_eq!(
        target.psql("dst", "SELECT count(*) FROM acct").unwrap(),
        "0"
    );

    let out = bin()
        .args(copy_args(&src, &dst, &["--truncate"]))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(
        target.psql("dst", CHECKSUM).unwrap(),
        source.psql("src", CHECKSUM).unwrap()
    );
}
