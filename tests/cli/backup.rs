//! `migrate --backup` through the real binary: a `kill -9` of citus-migrate ends its pg_dump (the
//! backup's, and `generate`'s).

use std::process::{Command, Stdio};
use std::time::Duration;

use citus_migrate_core::local::wait_until;

use crate::common::*;
use crate::migrate::shop_and_empty_target;

/// A process's parent pid, state letter and start time (`/proc/PID/stat`), or `None` when it is gone.
fn proc_stat(pid: u32) -> Option<(u32, char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name in parentheses (which may hold anything): state, ppid, …, starttime.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    Some((
        fields[1].parse().ok()?,
        fields[0].chars().next()?,
        fields[19].parse().ok()?,
    ))
}

/// The `pg_dump` processes whose parent is `parent`, with their start times.
fn pg_dump_children(parent: u32) -> Vec<(u32, u64)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "pg_dump")
        })
        .filter_map(|pid| {
            let (ppid, _, start) = proc_stat(pid)?;
            (ppid == parent).then_some((pid, start))
        })
        .collect()
}

/// Still running: there, the same process (start time), and not a zombie waiting to be reaped.
fn running(pid: u32, start: u64) -> bool {
    proc_stat(pid).is_some_and(|(_, state, s)| s == start && state != 'Z')
}

#[test]
fn kill_9_of_citus_migrate_ends_its_pg_dump() {
    let (source, src, dst) = shop_and_empty_target();
    // pg_dump of a whole database reads the catalog of large objects, which nothing else of
    // citus-migrate reads: while this transaction holds it locked, pg_dump waits there.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let locker = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&src, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute(
                "BEGIN; LOCK TABLE pg_catalog.pg_largeobject_metadata IN ACCESS EXCLUSIVE MODE",
            )
            .await
            .unwrap();
        client
    });
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("w");
    let out_dir = work.path().join("gen");
    let runs: [(&str, Vec<&std::ffi::OsStr>); 2] = [
        (
            "migrate --backup",
            vec![
                "migrate".as_ref(),
                "--backup".as_ref(),
                "--skip-distribution".as_ref(),
                "--target".as_ref(),
                dst.as_ref(),
                "--work-dir".as_ref(),
                dir.as_os_str(),
            ],
        ),
        (
            "generate",
            vec![
                "generate".as_ref(),
                "--out-dir".as_ref(),
                out_dir.as_os_str(),
            ],
        ),
    ];
    for (what, args) in runs {
        let mut child = Command::new(env!("CARGO_BIN_EXE_citus-migrate"))
            .args(args)
            .args(["--source", &src])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // generate runs two pg_dumps (pre-data and post-data) at once; each comes to wait.
        let expected = if what == "generate" { 2 } else { 1 };
        let mut dumps = Vec::new();
        let waiting = wait_until(Duration::from_secs(60), || {
            dumps = pg_dump_children(child.id());
            dumps.len() == expected
                && source
                    .psql(
                        "postgres",
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE '% pg_dump' AND wait_event_type = 'Lock'",
                    )
                    .unwrap()
                    == expected.to_string()
        });
        if !waiting {
            let _ = child.kill();
            let activity = source.psql("postgres", "SELECT application_name, state, wait_event_type, wait_event, query FROM pg_stat_activity WHERE backend_type = 'client backend'").unwrap();
            panic!("{what}: the pg_dumps of citus-migrate did not come to wait for the lock ({dumps:?}):\n{activity}");
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let ended = wait_until(Duration::from_secs(10), || {
            dumps.iter().all(|&(pid, start)| !running(pid, start))
        });
        for &(pid, start) in &dumps {
            if running(pid, start) {
                // Not left behind by the failing test.
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
        assert!(
            ended,
            "{what}: pg_dump ({dumps:?}) outlived the kill -9 of citus-migrate"
        );
        // Their server processes wait for the lock until they notice; the next run's must be alone.
        source
            .psql(
                "postgres",
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name LIKE '% pg_dump'",
            )
            .unwrap();
        let gone = wait_until(Duration::from_secs(10), || {
            source
                .psql(
                    "postgres",
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE '% pg_dump'",
                )
                .unwrap()
                == "0"
        });
        assert!(gone, "the server processes of the killed pg_dumps stayed");
    }
    drop(locker);
}
