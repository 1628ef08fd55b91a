//! The WAL an online migration's slot retains on the source: while a long transaction on the source
//! holds the slot's restart point back and WAL piles up, the running `migrate --online` warns before
//! the source would invalidate the slot (`max_slot_wal_keep_size`), and `status` shows how much room
//! is left; once the transaction commits, its rows are applied and the cutover is exact.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::*;
use crate::online::{cutover_ok, log_of, setup_on, source_with, wait_following};
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
    let source = source_with(
        &[("max_slot_wal_keep_size", "64MB")],
        "CREATE TABLE items (id int PRIMARY KEY, v text);
         INSERT INTO items SELECT i, 'v' || i FROM generate_series(1, 1000) i;",
    );
    let s = setup_on(cluster, source, "walkeep", PLAN);
    let (source, src) = (&s.source, s.source.url("src"));
    let dir = s.work.path().join("w");
    let mut child = s.migrate("walkeep", &dir, &[], &[]);
    wait_following(&dir, &mut child);
    let log = || log_of(&dir);
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
    cutover_ok(&s, "walkeep", &dir, &[]);
    assert!(child.wait().unwrap().success(), "{}", log());
    assert_eq!(
        s.cluster
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
