//! Reading the source from a streaming hot standby: `migrate` from the standby into real Citus, verify
//! exact, and the primary never sees a connection of ours (its log records every connection with its
//! application name).

use crate::common::*;
use crate::migrate::migrate;

/// A primary that logs every connection and counts every statement (`pg_stat_statements`, its view in
/// the database `postgres`), with the shop fixture in `shop`, and its hot standby caught up (with
/// `standby_settings`).
pub(crate) fn primary_and_standby(standby_settings: &[(&str, &str)]) -> (LocalServer, LocalServer) {
    let primary = LocalServer::start(&ServerOptions {
        settings: vec![
            ("log_connections".into(), "on".into()),
            (
                "shared_preload_libraries".into(),
                "pg_stat_statements".into(),
            ),
        ],
        ..ServerOptions::default()
    })
    .unwrap();
    primary
        .psql("postgres", "CREATE EXTENSION pg_stat_statements")
        .unwrap();
    primary.create_database("shop").unwrap();
    primary.psql("shop", &fixture("shop.sql")).unwrap();
    let standby = primary.start_standby(standby_settings).unwrap();
    standby.catch_up_with(&primary).unwrap();
    (primary, standby)
}

/// An independent verify of the target against `source` (the primary itself): exit 0.
fn verify_exact(source: &str, target: &str) {
    let out = bin()
        .args(["verify", "--source", source, "--target", target])
        .output()
        .unwrap();
    assert_exit(&out, 0);
}

/// The connections the primary's log recorded with our application name.
fn our_connections(primary: &LocalServer) -> Vec<String> {
    std::fs::read_to_string(primary.dir().join("server.log"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("connection authorized") && l.contains("citus-migrate"))
        .map(String::from)
        .collect()
}

#[test]
fn migrate_from_a_hot_standby_leaves_the_primary_alone() {
    let Some(cluster) = citus_or_skip("migrate_from_a_hot_standby_leaves_the_primary_alone") else {
        return;
    };
    let (primary, standby) = primary_and_standby(&[]);
    assert_eq!(
        standby.psql("shop", "SELECT pg_is_in_recovery()").unwrap(),
        "t"
    );
    let analyze = bin()
        .args(["analyze", "--source", &standby.url("shop")])
        .output()
        .unwrap();
    assert_exit(&analyze, 0);
    assert!(
        stdout_of(&analyze)
            .contains("The source is a hot standby: 0 bytes of received WAL not yet replayed"),
        "{}",
        stdout_of(&analyze)
    );
    cluster.create_database("shop").unwrap();
    let work = tempfile::tempdir().unwrap();
    let out = migrate(&standby.url("shop"), &cluster.url("shop"), work.path(), &[]);
    let text = stdout_of(&out);
    assert_exit(&out, 0);
    assert!(
        text.contains("Verification: the target holds exactly the source's data."),
        "{text}"
    );
    assert!(
        stderr_of(&out).contains("warning: the source is a hot standby"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(our_connections(&primary), Vec::<String>::new());
    // An independent check against the primary itself: the standby held what the primary holds.
    verify_exact(&primary.url("shop"), &cluster.url("shop"));
    assert!(!our_connections(&primary).is_empty());
}

/// A standby that applies WAL two seconds late: with --source-primary, migrate waits until it has
/// replayed the primary's last writes (made just before the run) and reads the sequences on the
/// primary; the target then holds the primary's rows. A primary that is not the standby's is refused.
#[test]
fn a_lagging_standby_is_waited_for_when_its_primary_is_given() {
    let Some(cluster) = citus_or_skip("a_lagging_standby_is_waited_for_when_its_primary_is_given")
    else {
        return;
    };
    let (primary, standby) = primary_and_standby(&[("recovery_min_apply_delay", "'2s'")]);
    let stranger = server_with("postgres", "SELECT 1");
    cluster.create_database("shop").unwrap();
    let work = tempfile::tempdir().unwrap();

    let wrong = migrate(
        &standby.url("shop"),
        &cluster.url("shop"),
        &work.path().join("wrong"),
        &["--source-primary", &stranger.url("postgres")],
    );
    assert_exit(&wrong, 1);
    assert!(
        stderr_of(&wrong).contains("is not the source standby's primary"),
        "{}",
        stderr_of(&wrong)
    );

    // The last writes before the run: new customers (a sequence moves) the standby has not applied yet.
    primary
        .psql(
            "shop",
            "INSERT INTO shop.customers (store_id, email, \"Full Name\") \
             SELECT (SELECT min(store_id) FROM shop.stores), 'late' || i || '@example.com', 'late ' || i \
             FROM generate_series(1, 50) i",
        )
        .unwrap();
    let out = migrate(
        &standby.url("shop"),
        &cluster.url("shop"),
        &work.path().join("run"),
        &["--source-primary", &primary.url("shop")],
    );
    assert_exit(&out, 0);
    assert!(
        stderr_of(&out).contains("has replayed its primary's WAL up to"),
        "{}",
        stderr_of(&out)
    );
    let count = "SELECT count(*) FROM shop.customers WHERE \"Full Name\" LIKE 'late %'";
    assert_eq!(cluster.coordinator.psql("shop", count).unwrap(), "50");
    verify_exact(&primary.url("shop"), &cluster.url("shop"));
}

/// Citus workers with streaming standbys registered as secondaries (`noderole = 'secondary'`): the
/// copy straight to the shards writes to the primaries only (a standby would refuse a write, failing
/// the run), and verify reads the primaries. The standbys then hold the same rows by replication.
#[test]
fn worker_direct_copy_writes_only_to_primaries_when_workers_have_secondaries() {
    let Some(cluster) =
        citus_or_skip("worker_direct_copy_writes_only_to_primaries_when_workers_have_secondaries")
    else {
        return;
    };
    cluster.create_database("shop").unwrap();
    let standbys: Vec<LocalServer> = cluster
        .workers
        .iter()
        .map(|w| w.start_standby(&[]).unwrap())
        .collect();
    for (w, s) in cluster.workers.iter().zip(&standbys) {
        cluster
            .coordinator
            .psql(
                "shop",
                &format!(
                    "SELECT citus_add_secondary_node('127.0.0.1', {}, '127.0.0.1', {})",
                    s.port, w.port
                ),
            )
            .unwrap();
    }
    assert_eq!(
        cluster
            .coordinator
            .psql(
                "shop",
                "SELECT count(*) FROM pg_dist_node WHERE noderole = 'secondary'"
            )
            .unwrap(),
        "2"
    );
    let source = server_with("shop", &fixture("shop.sql"));
    let work = tempfile::tempdir().unwrap();
    let out = migrate(&source.url("shop"), &cluster.url("shop"), work.path(), &[]);
    assert_exit(&out, 0);
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(work.path().join("copy/summary.json")).unwrap(),
    )
    .unwrap();
    let direct = summary["tables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["worker_direct"] == true)
        .count();
    assert!(
        direct > 0,
        "no table went straight to the workers: {summary}"
    );
    // The standbys replayed the primaries' shards: same rows on both sides of each pair.
    // Shards are hidden from other applications' catalog queries on a worker unless asked for.
    let shard_rows = "SET citus.override_table_visibility = off; SELECT coalesce(sum(n), 0) FROM (SELECT (xpath('/row/c/text()', \
        query_to_xml(format('SELECT count(*) AS c FROM %s', c.oid::regclass), false, true, '')))[1]::text::int8 AS n \
        FROM pg_class c JOIN pg_namespace ns ON ns.oid = c.relnamespace \
        WHERE ns.nspname = 'shop' AND c.relkind = 'r' AND c.relname ~ '_[0-9]+$') x";
    for (w, s) in cluster.workers.iter().zip(&standbys) {
        s.catch_up_with(w).unwrap();
        let on_primary = w.psql("shop", shard_rows).unwrap();
        assert_ne!(on_primary, "0");
        assert_eq!(s.psql("shop", shard_rows).unwrap(), on_primary);
    }
}
