//! `migrate --backup` through the real binary: a backup is taken only by the runs that ask for it,
//! only its owner can read it whatever the umask, and a `kill -9` of citus-migrate ends its pg_dump
//! (the backup's, and `generate`'s).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use citus_migrate_core::local::wait_until;

use crate::common::*;
use crate::migrate::{migrate, shop_and_empty_target, state, step_status};

/// The binary run by `sh` under umask 000, so that only what citus-migrate itself asks for limits
/// who may read its files.
fn migrate_under_umask_000(args: &[&str], dir: &Path, crash_in: Option<&str>) -> Output {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "umask 000 && exec \"$@\"", "sh"])
        .arg(env!("CARGO_BIN_EXE_citus-migrate"))
        .arg("migrate")
        .args(args)
        .arg("--work-dir")
        .arg(dir);
    if let Some(step) = crash_in {
        cmd.env("CITUS_MIGRATE_TEST_CRASH_IN_STEP", step);
    }
    cmd.output().unwrap()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn assert_owner_only(dir: &Path) {
    assert_eq!(mode(&dir.join("backup")), 0o700, "backup directory");
    assert_eq!(mode(&dir.join("backup/source.dump")), 0o600, "backup file");
}

fn backup_record(dir: &Path) -> serde_json::Value {
    state(dir)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "backup")
        .cloned()
        .unwrap_or_else(|| panic!("no backup step in {}", state(dir)))
}

fn log_count(dir: &Path, line: &str) -> usize {
    std::fs::read_to_string(dir.join("logs/migrate.log"))
        .unwrap()
        .matches(line)
        .count()
}

#[test]
fn a_backup_is_taken_only_by_runs_that_ask_and_only_its_owner_can_read_it() {
    let (_source, src, dst) = shop_and_empty_target();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("w");
    let sides = ["--skip-distribution", "--source", &src, "--target", &dst];

    // The backup's file is complete, the step not yet recorded: the run dies in the backup step.
    let out = migrate_under_umask_000(&[&sides[..], &["--backup"]].concat(), &dir, Some("backup"));
    assert_eq!(out.status.code(), None, "{}", stderr_of(&out));
    assert_eq!(step_status(&dir, "backup").as_deref(), Some("running"));
    assert_owner_only(&dir);
    // What a kill in the middle of pg_dump leaves behind.
    std::fs::write(dir.join("backup/source.dump.tmp"), "partial").unwrap();

    // A resume that does not ask for a backup does not take one, whatever the first run asked.
    let out = migrate(&src, &dst, &dir, &["--resume"]);
    let (text, err) = (stdout_of(&out), stderr_of(&out));
    assert_eq!(out.status.code(), Some(0), "{text}{err}");
    assert!(
        err.contains("backup: not finished by an earlier run, and this run was not asked for a backup: not taken"),
        "{err}"
    );
    assert!(
        text.contains("skipped (not finished by an earlier run"),
        "{text}"
    );
    let rec = backup_record(&dir);
    assert_eq!(
        (rec["status"].as_str(), rec["attempts"].as_u64()),
        (Some("skipped"), Some(1)),
        "{rec}"
    );
    assert!(
        !dir.join("backup/source.dump.tmp").exists(),
        "the partial file stayed"
    );
    assert_eq!(log_count(&dir, "step backup started"), 1);

    // A resume that asks for one takes it (here after every other step is done), owner-only again.
    std::fs::remove_file(dir.join("backup/source.dump")).unwrap();
    let out = migrate_under_umask_000(
        &[&sides[..], &["--resume", "--backup"]].concat(),
        &dir,
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout_of(&out),
        stderr_of(&out)
    );
    let rec = backup_record(&dir);
    assert_eq!(
        (rec["status"].as_str(), rec["attempts"].as_u64()),
        (Some("done"), Some(2)),
        "{rec}"
    );
    assert!(rec["bytes"].as_u64().unwrap() > 0, "{rec}");
    assert_owner_only(&dir);

    // A finished backup is not taken again, asked for or not.
    for extra in [&["--resume", "--backup"][..], &["--resume"][..]] {
        let out = migrate(&src, &dst, &dir, extra);
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {}", stderr_of(&out));
        assert!(
            stderr_of(&out).contains("backup: done in an earlier run, skipped"),
            "{extra:?}: {}",
            stderr_of(&out)
        );
        assert_eq!(backup_record(&dir)["attempts"], 2, "{extra:?}");
    }
    assert_eq!(log_count(&dir, "step backup started"), 2);
}

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
