//! The WAL an online migration's slot retains on the source: while a long transaction on the source
//! holds the slot's restart point back and WAL piles up, the running `migrate --online` warns before
//! the source would invalidate the slot (`max_slot_wal_keep_size`), and `status` shows how much room
//! is left; once the transaction commits, its rows are applied and the cutover is exact.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::*;
use citus_migrate_core::local::wait_until;

const PLAN: &str = r#"{
  "format_version": 1,
  "source": { "database": "src", "server_version": "15" },
  "shard_count": 4,
  "tables": [
    { "schema": "public", "name": "items", "kind": "distributed", "distribution_column": "id" }
  ]
}"#;

#[test]
fn online_warns_before_the_slot_outgrows_max_slot_wal_keep_size() {
    let test = "online_warns_before_the_slot_outgrows_max_slot_wal_keep_size";
    let Some(cluster) = citus_or_skip(test) else {
        return;
    };
    cluster.create_database("walkeep").unwrap();
    let source = LocalServer::start(&ServerOptions {
        settings: vec![
            ("wal_level".into(), "logical".into()),
            ("max_slot_wal_keep_size".into(), "64MB".into()),
        ],
        ..ServerOptions::default()
    })
    .unwrap();
    source.create_database("src").unwrap();
    source
        .psql(
            "src",
            "CREATE TABLE items (id int PRIMARY KEY, v text);
             INSERT INTO items SELECT i, 'v' || i FROM generate_series(1, 1000) i;",
        )
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let plan = work.path().join("plan.json");
    std::fs::write(&plan, PLAN).unwrap();
    let (src, dst) = (source.url("src"), cluster.url("walkeep"));
    let (dir, log_path) = (work.path().join("w"), work.path().join("migrate.log"));
    let mut child = spawn_following(&src, &dst, &dir, &plan, &log_path);
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    // A transaction that stays open on the source: decoding must keep the WAL from its first change.
    let mut held = Command::new(source.bindir().join("psql"))
        .args(["-X", "-q", &src])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = held.stdin.take().unwrap();
    writeln!(stdin, "BEGIN; INSERT INTO items VALUES (-1, 'held');").unwrap();
    stdin.flush().unwrap();
    assert!(wait_until(Duration::from_secs(30), || source
        .psql(
            "src",
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'"
        )
        .unwrap()
        == "1"));
    // 40 MB of WAL that changes no table (non-transactional messages pgoutput does not send).
    source
        .psql(
            "src",
            "SELECT count(pg_logical_emit_message(false, 'filler', repeat('x', 1048576))) FROM generate_series(1, 40)",
        )
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(60), || log()
            .contains("max_slot_wal_keep_size allows")),
        "no warning about the retained WAL: {}",
        log()
    );
    let warning = log();
    assert!(
        warning.contains("warning: the replication slot retains")
            && warning.contains("the source invalidates the slot")
            && warning.contains("A long transaction on the source holds it back"),
        "{warning}"
    );
    let status = bin()
        .args(["status", "--work-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(status.status.code(), Some(0), "{}", stderr_of(&status));
    assert!(
        stdout_of(&status).contains("before the source invalidates the slot"),
        "{}",
        stdout_of(&status)
    );
    // The transaction commits: its row is applied, the slot's WAL is released, the cutover is exact.
    writeln!(stdin, "COMMIT;").unwrap();
    drop(stdin);
    assert!(held.wait().unwrap().success());
    let out = bin()
        .args(["cutover", "--source", &src, "--target", &dst, "--work-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}\n{}",
        stdout_of(&out),
        stderr_of(&out),
        log()
    );
    assert!(child.wait().unwrap().success(), "{}", log());
    assert_eq!(
        cluster
            .coordinator
            .psql("walkeep", "SELECT v FROM items WHERE id = -1")
            .unwrap(),
        "held"
    );
    assert_eq!(
        source
            .psql("src", "SELECT count(*) FROM pg_replication_slots")
            .unwrap(),
        "0"
    );
}

/// `migrate --online` with `plan` in the background, its progress in `log`; returns once it follows.
pub(crate) fn spawn_following(src: &str, dst: &str, dir: &Path, plan: &Path, log: &Path) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_citus-migrate"))
        .args([
            "migrate",
            "--online",
            "--source",
            src,
            "--target",
            dst,
            "--work-dir",
        ])
        .arg(dir)
        .arg("--plan")
        .arg(plan)
        .env("CITUS_MIGRATE_PLAIN_PROGRESS", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    let following = wait_until(Duration::from_secs(240), || {
        dir.join("online/status.json").exists() || child.try_wait().unwrap().is_some()
    });
    assert!(
        following && child.try_wait().unwrap().is_none(),
        "not following: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
    child
}
