//! `migrate --online` of a partitioned table: changes decoded on the leaf partitions (pgoutput's
//! default) land in the target's partitions, a row whose partition key changes moves between
//! partitions (a DELETE on one leaf and an INSERT on another), a change of the distribution column
//! moves a row between shards, and the cutover is exact.

use std::time::Duration;

use crate::common::*;
use crate::online::{cutover_ok, log_of, setup_on, source_with, wait_following};
use citus_migrate_core::local::wait_until;

const PLAN: &str = r#"{
  "format_version": 1,
  "source": { "database": "src", "server_version": "15" },
  "shard_count": 4,
  "tables": [
    { "schema": "public", "name": "readings", "kind": "distributed", "distribution_column": "device" }
  ]
}"#;

const SCHEMA: &str = "
CREATE TABLE readings (device int NOT NULL, day date NOT NULL, value int, PRIMARY KEY (device, day))
  PARTITION BY RANGE (day);
CREATE TABLE readings_2026_01 PARTITION OF readings FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
CREATE TABLE readings_2026_02 PARTITION OF readings FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
INSERT INTO readings SELECT d, DATE '2026-01-01' + i, i FROM generate_series(1, 40) d, generate_series(0, 49) i;
";

fn same_rows(source: &LocalServer, cluster: &LocalCitus, db: &str) {
    for table in ["readings", "readings_2026_01", "readings_2026_02"] {
        let sql = format!(
            "SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY device, day), '')) FROM {table} t"
        );
        assert_eq!(
            source.psql("src", &sql).unwrap(),
            cluster.coordinator.psql(db, &sql).unwrap(),
            "{table}: source and target differ"
        );
    }
}

#[test]
fn online_migration_of_a_partitioned_table_moves_rows_between_partitions() {
    let test = "online_migration_of_a_partitioned_table_moves_rows_between_partitions";
    let Some(cluster) = citus_or_skip(test) else {
        return;
    };
    let s = setup_on(cluster, source_with(&[], SCHEMA), "parts", PLAN);
    let dir = s.work.path().join("w");
    let mut child = s.migrate("parts", &dir, &[], &[]);
    wait_following(&dir, &mut child);
    s.source
        .psql(
            "src",
            "INSERT INTO readings SELECT d, DATE '2026-02-20', -d FROM generate_series(41, 60) d ON CONFLICT DO NOTHING;
             UPDATE readings SET value = value + 1000 WHERE device % 3 = 0;
             -- The partition key changes: the row moves from January to February.
             UPDATE readings SET day = DATE '2026-02-27' WHERE day = DATE '2026-01-05' AND device <= 10;
             -- The distribution column changes: the row moves to another shard.
             UPDATE readings SET device = device + 100 WHERE device = 7;
             DELETE FROM readings WHERE device = 8 AND day < DATE '2026-01-10';",
        )
        .unwrap();
    cutover_ok(&s, "parts", &dir, &[]);
    assert!(child.wait().unwrap().success(), "{}", log_of(&dir));
    same_rows(&s.source, &s.cluster, "parts");
    assert_eq!(
        s.cluster
            .coordinator
            .psql(
                "parts",
                "SELECT count(*) FROM readings_2026_02 WHERE day = DATE '2026-02-27' AND device IN (1, 2, 3, 4, 5, 6, 8, 9, 10, 107)"
            )
            .unwrap(),
        "10"
    );

    // A partition added on the source while following: its rows are not published, so the run stops
    // and says so; abort then leaves nothing on the source.
    s.cluster.create_database("parts2").unwrap();
    let dir = s.work.path().join("w2");
    let mut child = s.migrate("parts2", &dir, &[], &[]);
    wait_following(&dir, &mut child);
    s.source
        .psql(
            "src",
            "CREATE TABLE readings_2026_03 PARTITION OF readings FOR VALUES FROM ('2026-03-01') TO ('2026-04-01');
             INSERT INTO readings VALUES (1, DATE '2026-03-02', 1);",
        )
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(60), || child
            .try_wait()
            .unwrap()
            .is_some()),
        "migrate kept following after a partition was added"
    );
    assert!(!child.wait().unwrap().success());
    let log = log_of(&dir);
    assert!(
        log.contains("a partition was added on the source during the online migration")
            && log.contains("public.readings_2026_03 (of public.readings)"),
        "{log}"
    );
    let out = s.abort(&dir);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(
        s.source
            .psql("src", "SELECT count(*) FROM pg_replication_slots")
            .unwrap(),
        "0"
    );
}
