//! Servers crash, not only the tool: the Citus coordinator or a worker is killed with `kill -9` (every
//! process of it, as a power cut would) in the middle of `copy` and `migrate`, on servers that run
//! with `synchronous_commit = off` and a lazy WAL writer (so an asynchronous commit is lost in such a
//! crash), then restarted; `--resume` must end with every row exactly once and no prepared
//! transaction left anywhere.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use citus_migrate_core::local::wait_until;

use crate::common::*;
use crate::copy::{CHECKSUMS, RESUME_SOURCE, RESUME_TARGET};

fn target_sql() -> String {
    format!(
        "{RESUME_TARGET} SELECT create_distributed_table('acct', 'id'); \
         SELECT create_distributed_table('nokey', 'n');"
    )
}

/// A coordinator and two workers whose commits are asynchronous and whose WAL writer waits 10 s: a
/// commit that nobody flushed is lost when the server is killed within that time.
fn lazy_cluster(test: &str) -> Option<LocalCitus> {
    if let Err(why) = citus_migrate_core::local::citus_available() {
        citus_migrate_core::local::say_uncaptured(&format!("skipped: {test}: {why}"));
        return None;
    }
    let settings = [
        ("synchronous_commit", "off"),
        ("wal_writer_delay", "10s"),
        ("wal_writer_flush_after", "1GB"),
    ];
    let opts = ServerOptions {
        settings: settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    };
    Some(LocalCitus::start_with(2, &opts).expect("start a local Citus cluster"))
}

fn spawn(args: &[&str], pause_ms: u64) -> Child {
    Command::new(env!("CARGO_BIN_EXE_citus-migrate"))
        .args(args)
        .env("CITUS_MIGRATE_TEST_PAUSE_MS", pause_ms.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// `copy` of the two tables in chunks of `chunk` with two streams, and `extra`.
pub(crate) fn copy_args<'a>(
    src: &'a str,
    dst: &'a str,
    tables: &[&'a str],
    chunk: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec!["copy", "--source", src, "--target", dst];
    for t in tables {
        args.extend(["--table", t]);
    }
    args.extend(["--chunk-size", chunk, "--jobs", "2"]);
    args.extend_from_slice(extra);
    args
}

const BOTH: [&str; 2] = ["acct", "nokey"];

/// Committed chunks as the coordinator shows them now (asynchronous commits included).
fn committed_chunks(cluster: &LocalCitus) -> i64 {
    cluster
        .coordinator
        .psql(
            "dst",
            "SELECT count(*) FROM citus_migrate.copy_progress WHERE committed_at IS NOT NULL",
        )
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Waits until `chunks` chunks are committed, with the tool still running.
fn wait_for_chunks(child: &mut Child, cluster: &LocalCitus, chunks: i64) {
    let ok = wait_until(Duration::from_secs(120), || {
        committed_chunks(cluster) >= chunks || child.try_wait().unwrap().is_some()
    });
    if let Some(status) = child.try_wait().unwrap() {
        let mut err = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
        panic!("the run ended ({status}) before {chunks} chunks were committed: {err}");
    }
    assert!(ok, "the run did not reach {chunks} committed chunks");
}

/// Every row once, nothing prepared on any node.
fn assert_exact(cluster: &LocalCitus, source: &LocalServer, what: &str) {
    assert_eq!(
        cluster.coordinator.psql("dst", CHECKSUMS).unwrap(),
        source.psql("src", CHECKSUMS).unwrap(),
        "{what}: the target does not hold exactly the source's rows"
    );
    for node in std::iter::once(&cluster.coordinator).chain(&cluster.workers) {
        assert_eq!(
            node.psql("dst", "SELECT count(*) FROM pg_prepared_xacts")
                .unwrap(),
            "0",
            "{what}: prepared transactions left on port {}",
            node.port
        );
    }
}

fn resume_copy(src: &str, dst: &str, extra: &[&str], what: &str) {
    let mut args = copy_args(src, dst, &BOTH, "256kB", &["--resume"]);
    args.extend_from_slice(extra);
    let out = bin()
        .args(&args)
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{what}: the resume failed: {}",
        stderr_of(&out)
    );
}

#[test]
fn coordinator_and_worker_crashes_during_copy_then_resume_is_exactly_once() {
    let test = "coordinator_and_worker_crashes_during_copy_then_resume_is_exactly_once";
    let Some(mut cluster) = lazy_cluster(test) else {
        return;
    };
    cluster.create_database("dst").unwrap();
    cluster.coordinator.psql("dst", &target_sql()).unwrap();
    let source = server_with("src", RESUME_SOURCE);
    let (src, dst) = (source.url("src"), cluster.url("dst"));

    for (what, extra) in [
        ("worker-direct", &[][..]),
        ("through the coordinator", &["--via-coordinator"][..]),
    ] {
        // The coordinator crashes right after some chunks committed (their decisions were not yet
        // flushed by the lazy WAL writer, unless the tool made them durable), and again mid-chunk.
        for (pause, after) in [(300, 3), (40, 5)] {
            let mut args = copy_args(&src, &dst, &BOTH, "256kB", &["--truncate"]);
            args.extend_from_slice(extra);
            let mut child = spawn(&args, pause);
            wait_for_chunks(&mut child, &cluster, after);
            cluster.coordinator.crash().unwrap();
            child.kill().unwrap();
            child.wait().unwrap();
            cluster.coordinator.restart().unwrap();
            resume_copy(&src, &dst, extra, &format!("{what}, coordinator crash"));
            assert_exact(&cluster, &source, &format!("{what}, coordinator crash"));
        }

        // A worker crashes in the middle and comes back a moment later: the run either gets through
        // with its retries or stops; a resume finishes, exactly.
        let mut args = copy_args(
            &src,
            &dst,
            &BOTH,
            "256kB",
            &["--truncate", "--max-retries", "2"],
        );
        args.extend_from_slice(extra);
        let mut child = spawn(&args, 100);
        wait_for_chunks(&mut child, &cluster, 3);
        cluster.workers[0].crash().unwrap();
        std::thread::sleep(Duration::from_millis(300));
        cluster.workers[0].restart().unwrap();
        let _ = child.wait().unwrap();
        resume_copy(&src, &dst, extra, &format!("{what}, worker crash"));
        assert_exact(&cluster, &source, &format!("{what}, worker crash"));

        // The tool and the coordinator die together while the decision of a worker-direct chunk
        // waits for its COMMIT (the pause sits between the bookkeeping mark and COMMIT).
        let mut args = copy_args(&src, &dst, &BOTH, "256kB", &["--truncate"]);
        args.extend_from_slice(extra);
        let mut child = spawn(&args, 400);
        wait_for_chunks(&mut child, &cluster, 2);
        std::thread::sleep(Duration::from_millis(200));
        child.kill().unwrap();
        cluster.coordinator.crash().unwrap();
        child.wait().unwrap();
        cluster.coordinator.restart().unwrap();
        resume_copy(&src, &dst, extra, &format!("{what}, tool and coordinator"));
        assert_exact(&cluster, &source, &format!("{what}, tool and coordinator"));
    }
}

#[test]
fn coordinator_crash_during_migrate_then_resume_is_exactly_once() {
    let test = "coordinator_crash_during_migrate_then_resume_is_exactly_once";
    let Some(mut cluster) = lazy_cluster(test) else {
        return;
    };
    cluster.create_database("dst").unwrap();
    let source = server_with("src", RESUME_SOURCE);
    let (src, dst) = (source.url("src"), cluster.url("dst"));
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("w");
    let dir_s = dir.display().to_string();
    let args = [
        "migrate",
        "--source",
        &src,
        "--target",
        &dst,
        "--work-dir",
        &dir_s,
        "--jobs",
        "2",
        "--chunk-size",
        "256kB",
    ];
    let mut child = spawn(&args, 300);
    wait_for_chunks(&mut child, &cluster, 3);
    cluster.coordinator.crash().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    cluster.coordinator.restart().unwrap();
    let mut resume = args.to_vec();
    resume.push("--resume");

    // The resumed run loses a worker in the middle of its copy, which comes back a moment later.
    let before = committed_chunks(&cluster);
    let mut child = spawn(&resume, 300);
    wait_for_chunks(&mut child, &cluster, before + 3);
    cluster.workers[1].crash().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    cluster.workers[1].restart().unwrap();
    let _ = child.wait().unwrap();

    let out = bin()
        .args(&resume)
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "resume after a coordinator and a worker crash: {}{}",
        stdout_of(&out),
        stderr_of(&out)
    );
    assert_exact(&cluster, &source, "migrate");
}

#[test]
fn a_target_without_fsync_is_warned_about() {
    let target = LocalServer::start(&ServerOptions {
        settings: vec![("fsync".into(), "off".into())],
        ..Default::default()
    })
    .unwrap();
    target.create_database("dst").unwrap();
    target
        .psql("dst", "CREATE TABLE acct (id bigint PRIMARY KEY, filler text NOT NULL); CREATE TABLE nokey (v text NOT NULL, n int);")
        .unwrap();
    let source = server_with("src", RESUME_SOURCE);
    let out = bin()
        .args(copy_args(
            &source.url("src"),
            &target.url("dst"),
            &BOTH,
            "256kB",
            &[],
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("fsync = off on the target server"), "{err}");
}
