//! `citus-migrate cluster` end to end on real Citus: the shop migrated onto a coordinator with two
//! workers, a third worker added with `--rebalance` (every row still there exactly once), refused
//! removal while it holds shards, drained and removed; a rebalance refused up front for a table
//! without a replica identity, with the fix; `check` passing, then failing with a worker stopped.

use crate::common::*;
use crate::migrate::{migrate, verify_equal};

fn cluster_cmd(target: &str, args: &[&str]) -> std::process::Output {
    bin()
        .arg("cluster")
        .args(args)
        .args(["--target", target])
        .env("CITUS_MIGRATE_PLAIN_PROGRESS", "1")
        .output()
        .unwrap()
}

fn status(target: &str) -> serde_json::Value {
    let out = cluster_cmd(target, &["status", "--format", "json"]);
    assert_exit(&out, 0);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The node at `port` in a status document.
fn node(status: &serde_json::Value, port: u16) -> Option<serde_json::Value> {
    status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["address"]["port"] == port)
        .cloned()
}

/// `cluster ARGS --target TARGET` started in the background, its output captured.
fn spawn_cluster_cmd(target: &str, args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_citus-migrate"))
        .arg("cluster")
        .args(args)
        .args(["--target", target])
        .env("CITUS_MIGRATE_PLAIN_PROGRESS", "1")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Ctrl-C (SIGINT) to `child`, then its output; it must end within a minute.
fn interrupt(mut child: std::process::Child) -> std::process::Output {
    let pid = child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(sent.success());
    let ended = citus_migrate_core::local::wait_until(std::time::Duration::from_secs(60), || {
        matches!(child.try_wait(), Ok(Some(_)))
    });
    if !ended {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        ended,
        "still running a minute after Ctrl-C: {}",
        stderr_of(&out)
    );
    out
}

/// A psql session on `server` running `sql` until it is killed (to hold a lock).
fn psql_session(server: &LocalServer, db: &str, sql: &str) -> std::process::Child {
    psql_command(server, db)
        .args(["-c", sql])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap()
}

/// Polls `f` (every half second, for up to two minutes) until it gives a value; `what` and the
/// cluster's last status say what did not come.
fn wait_for<T>(what: &str, target: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..240 {
        if let Some(v) = f() {
            return v;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    panic!("timed out waiting for {what}: {}", status(target));
}

#[test]
fn add_rebalance_drain_remove_and_check_on_citus() {
    let Some(mut cluster) = citus_or_skip("add_rebalance_drain_remove_and_check_on_citus") else {
        return;
    };
    let shop = server_with("shop", &fixture("shop.sql"));
    cluster.create_database("shop").unwrap();
    let work = tempfile::tempdir().unwrap();
    let plan = work.path().join("shop.plan.json");
    std::fs::write(&plan, fixture("shop.plan.json")).unwrap();
    let (source, target) = (shop.url("shop"), cluster.url("shop"));
    let out = migrate(
        &source,
        &target,
        &work.path().join("run"),
        &["--plan", plan.to_str().unwrap()],
    );
    assert_exit(&out, 0);

    // Before: coordinator and two workers, the shop's tables spread over the workers.
    let before = status(&target);
    assert_eq!(before["nodes"].as_array().unwrap().len(), 3, "{before}");
    let tables = before["tables"].as_array().unwrap();
    assert!(
        tables
            .iter()
            .any(|t| t["table"]["name"] == "Orders" && t["kind"] == "distributed"),
        "{before}"
    );
    let out = cluster_cmd(&target, &["status"]);
    assert_exit(&out, 0);
    let text = stdout_of(&out);
    assert!(
        text.contains("Imbalance") && text.contains("shop.currencies"),
        "{text}"
    );
    let out = cluster_cmd(&target, &["check"]);
    assert_exit(&out, 0);
    assert!(
        stdout_of(&out).contains("All checks passed."),
        "{}",
        stdout_of(&out)
    );

    // A third worker. shop.events has no primary key: the rebalance onto the new worker is refused
    // before anything moves, naming the table, with the fix and the other transfer modes.
    let mut spare = cluster.start_spare_worker(&["shop"]).unwrap();
    let addr = format!("127.0.0.1:{}", spare.port);
    let out = cluster_cmd(&target, &["add-node", &addr, "--rebalance"]);
    assert_exit(&out, 1);
    let err = stderr_of(&out);
    let fix = "ALTER TABLE shop.events REPLICA IDENTITY FULL;";
    assert!(
        err.contains(&format!("added {addr} as node"))
            && err.contains("have no primary key or REPLICA IDENTITY")
            && err.contains("shop.events")
            && err.contains(fix)
            && err.contains("--shard-transfer-mode block_writes")
            && err.contains("Nothing was moved"),
        "{err}"
    );
    let refused = status(&target);
    assert_eq!(
        node(&refused, spare.port).unwrap()["shards"],
        0,
        "{refused}"
    );
    assert!(refused["rebalance"].is_null(), "no job started: {refused}");
    // With a transfer mode that needs no replica identity, the plan goes through.
    let out = cluster_cmd(
        &target,
        &[
            "rebalance",
            "--dry-run",
            "--shard-transfer-mode",
            "block_writes",
        ],
    );
    assert_exit(&out, 0);
    let text = stdout_of(&out);
    assert!(
        text.contains("Rebalance plan:")
            && text.contains(&format!("-> {addr}"))
            && text.contains("Dry run"),
        "{text}"
    );
    let out = cluster_cmd(
        &target,
        &[
            "rebalance",
            "--dry-run",
            "--table",
            "shop.\"Orders\"",
            "--format",
            "json",
        ],
    );
    assert_exit(&out, 1);
    assert!(stderr_of(&out).contains(fix), "{}", stderr_of(&out));
    let out = cluster_cmd(&target, &["rebalance", "--table", "shop.nope"]);
    assert_exit(&out, 2);
    assert!(
        stderr_of(&out).contains("shop.nope is not a Citus table"),
        "{}",
        stderr_of(&out)
    );

    // The fix applied; the empty node removed and added again, with the rebalance this time.
    cluster.coordinator.psql("shop", fix).unwrap();
    let out = cluster_cmd(&target, &["remove-node", &addr]);
    assert_exit(&out, 0);
    let out = cluster_cmd(&target, &["add-node", &addr, "--rebalance"]);
    assert_exit(&out, 0);
    let text = stdout_of(&out);
    assert!(
        text.contains("Rebalance finished (background job"),
        "{text}{}",
        stderr_of(&out)
    );
    assert!(
        stderr_of(&out).contains("Rebalance plan:"),
        "{}",
        stderr_of(&out)
    );
    let after = status(&target);
    let third = node(&after, spare.port).expect("the third worker is listed");
    assert!(third["shards"].as_i64().unwrap() > 0, "{after}");
    assert_eq!(after["rebalance"]["state"], "finished", "{after}");
    verify_equal(&source, &target);
    let out = cluster_cmd(&target, &["check", "--format", "json"]);
    assert_exit(&out, 0);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["passed"], true, "{report}");

    // It holds shards: removing it is refused, saying to drain it first.
    let out = cluster_cmd(&target, &["remove-node", &addr]);
    assert_exit(&out, 1);
    let err = stderr_of(&out);
    assert!(
        err.contains("still holds") && err.contains(&format!("citus-migrate cluster drain {addr}")),
        "{err}"
    );
    // An unknown node is a usage error naming the nodes there are.
    let out = cluster_cmd(&target, &["drain", "127.0.0.1:1"]);
    assert_exit(&out, 2);
    assert!(
        stderr_of(&out).contains("no node 127.0.0.1:1"),
        "{}",
        stderr_of(&out)
    );

    // Drained, then removed: back to two workers, every row still there once.
    let out = cluster_cmd(&target, &["drain", &addr]);
    assert_exit(&out, 0);
    let drained = status(&target);
    let third = node(&drained, spare.port).unwrap();
    assert_eq!(third["shards"], 0, "{drained}");
    assert_eq!(third["should_have_shards"], false, "{drained}");
    let out = cluster_cmd(&target, &["remove-node", &addr]);
    assert_exit(&out, 0);
    assert!(node(&status(&target), spare.port).is_none());
    verify_equal(&source, &target);
    let out = cluster_cmd(&target, &["check"]);
    assert_exit(&out, 0);

    // Added again and rebalanced, with the moves of the store group held up by a lock on
    // shop.stores (a move takes ROW EXCLUSIVE on the co-located tables): Ctrl-C stops following, not
    // the rebalance, and says how to watch and stop it; `status --watch` shows the job running.
    let out = cluster_cmd(&target, &["add-node", &addr]);
    assert_exit(&out, 0);
    let finished_job = status(&target)["rebalance"]["job_id"].clone();
    let mut lock = psql_session(
        &cluster.coordinator,
        "shop",
        "BEGIN; LOCK TABLE shop.stores IN SHARE MODE; SELECT pg_sleep(600);",
    );
    wait_for("the lock on shop.stores", &target, || {
        let held = cluster
            .coordinator
            .psql(
                "shop",
                "SELECT count(*) FROM pg_locks WHERE relation = 'shop.stores'::regclass AND mode = 'ShareLock' AND granted",
            )
            .unwrap();
        (held == "1").then_some(())
    });
    let follower = spawn_cluster_cmd(&target, &["rebalance"]);
    let running = wait_for("the rebalance to run", &target, || {
        let s = status(&target);
        (s["rebalance"]["job_id"] != finished_job && s["rebalance"]["state"] == "running")
            .then_some(s)
    });
    let watch = spawn_cluster_cmd(&target, &["status", "--watch", "1", "--format", "json"]);
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let watched = interrupt(watch);
    assert_exit(&watched, 0);
    let docs: Vec<serde_json::Value> = stdout_of(&watched)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(docs.len() >= 2, "{}", stdout_of(&watched));
    assert_eq!(
        docs[0]["rebalance"]["state"],
        "running",
        "{}",
        stdout_of(&watched)
    );
    // The new worker goes down and the moves are let go: they fail, and the follower shows Citus's
    // error of every failed attempt (Citus retries them).
    spare.stop();
    // The lock's session ends (its backend would outlive a killed psql until its sleep ends).
    cluster
        .coordinator
        .psql(
            "shop",
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE relation = 'shop.stores'::regclass AND mode = 'ShareLock' AND granted",
        )
        .unwrap();
    let _ = lock.wait();
    let job = running["rebalance"]["job_id"].as_i64().unwrap();
    for _ in 0..240 {
        let retried = cluster
            .coordinator
            .psql(
                "shop",
                &format!("SELECT count(*) FROM pg_dist_background_task WHERE job_id = {job} AND coalesce(retry_count, 0) > 0"),
            )
            .unwrap();
        if retried != "0" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    std::thread::sleep(std::time::Duration::from_millis(2000));
    let followed = interrupt(follower);
    assert_exit(&followed, 1);
    let err = stderr_of(&followed);
    assert!(
        err.contains("Rebalance plan:")
            && err.contains(&format!("rebalance job {job}: task runnable (retried 1): SELECT pg_catalog.citus_move_shard_placement("))
            && err.contains("ERROR:")
            && err.contains("the rebalance goes on in the background")
            && err.contains("citus-migrate cluster status --watch")
            && err.contains("SELECT citus_rebalance_stop();"),
        "{err}"
    );
    spare.restart().unwrap();
    let s = status(&target);
    assert_eq!(s["rebalance"], running["rebalance"], "still running: {s}");
    let s = wait_for("the rebalance to end", &target, || {
        let s = status(&target);
        (s["rebalance"]["state"] != "running").then_some(s)
    });
    assert_eq!(s["rebalance"]["state"], "finished", "{s}");
    assert!(
        node(&s, spare.port).unwrap()["shards"].as_i64().unwrap() > 0,
        "{s}"
    );
    verify_equal(&source, &target);

    // A worker stopped: check fails, naming it.
    let stopped = format!("127.0.0.1:{}", cluster.workers[1].port);
    cluster.workers[1].stop();
    let out = cluster_cmd(&target, &["check"]);
    assert_exit(&out, 1);
    let text = stdout_of(&out);
    assert!(
        text.contains("FAIL  workers_reachable")
            && text.contains(&format!("worker {stopped} is not reachable")),
        "{text}{}",
        stderr_of(&out)
    );
    assert!(
        stderr_of(&out).contains("cluster check failed: "),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn not_a_coordinator_and_no_citus_are_clear_errors() {
    let plain = server_with("postgres", "SELECT 1");
    let out = cluster_cmd(&plain.url("postgres"), &["status"]);
    assert_exit(&out, 1);
    assert!(
        stderr_of(&out).contains("has no citus extension"),
        "{}",
        stderr_of(&out)
    );
    let out = cluster_cmd(&plain.url("postgres"), &["add-node", "nonsense"]);
    assert_exit(&out, 2);
    assert!(
        stderr_of(&out).contains("write HOST:PORT"),
        "{}",
        stderr_of(&out)
    );
    let Some(cluster) = citus_or_skip("not_a_coordinator_and_no_citus_are_clear_errors") else {
        return;
    };
    let out = cluster_cmd(&cluster.workers[0].url("postgres"), &["check"]);
    assert_exit(&out, 1);
    assert!(
        stderr_of(&out).contains("not the Citus coordinator"),
        "{}",
        stderr_of(&out)
    );
}
