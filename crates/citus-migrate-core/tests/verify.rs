//! `verify` against real servers: equal data compares equal whatever the session defaults; a changed
//! byte, a missing row, a duplicated row, a missing table, a sequence left behind and a wrong Citus
//! layout are each caught and named.

use citus_migrate_core::conninfo::ConnInfo;
use citus_migrate_core::ident::QualifiedName;
use citus_migrate_core::local::{citus_or_skip, LocalServer, ServerOptions};
use citus_migrate_core::progress::NoProgress;
use citus_migrate_core::verify::{
    verify, DifferenceKind, ExpectedLayout, LayoutKind, VerifyOptions, VerifyReport,
};
use citus_migrate_core::Side;

const SCHEMA: &str = r#"
CREATE TABLE events (
    id bigserial PRIMARY KEY,
    tenant_id int NOT NULL,
    "Label" text,
    at timestamptz,
    ratio float8,
    amount numeric(12,3),
    raw bytea,
    span interval,
    doc jsonb,
    tags text[],
    price money,
    flag boolean,
    total numeric GENERATED ALWAYS AS (amount * 2) STORED
);
CREATE TABLE logs (line text, n int);
"#;

const DATA: &str = r#"
INSERT INTO events (tenant_id, "Label", at, ratio, amount, raw, span, doc, tags, price, flag)
SELECT i % 7, CASE WHEN i % 5 = 0 THEN NULL ELSE 'label ' || i END,
       timestamptz '2024-03-01 12:00:00+00' + i * interval '37 minutes',
       i / 3.0, i * 1.125, decode(md5(i::text), 'hex'), i * interval '1 day 3 hours',
       jsonb_build_object('i', i, 'sq', i * i), ARRAY['a' || i, NULL, 'b'], i * 1.5, i % 2 = 0
FROM generate_series(1, 3000) i;
INSERT INTO logs SELECT 'line ' || i, i FROM generate_series(1, 500) i;
INSERT INTO logs VALUES ('dup', 1), ('dup', 1);
"#;

fn conn(server: &LocalServer, side: Side, db: &str) -> ConnInfo {
    ConnInfo::parse(side, &server.url(db)).unwrap()
}

/// One server with databases `src` and `dst` holding SCHEMA; DATA in `src`, and in `dst` too when
/// `data_in_target`.
fn src_and_dst(data_in_target: bool) -> LocalServer {
    let server = LocalServer::start(&ServerOptions::default()).unwrap();
    for db in ["src", "dst"] {
        server.create_database(db).unwrap();
        server.psql(db, SCHEMA).unwrap();
        if db == "src" || data_in_target {
            server.psql(db, DATA).unwrap();
        }
    }
    server
}

fn name(table: &str) -> String {
    QualifiedName::new("public", table).to_string()
}

fn opts() -> VerifyOptions {
    VerifyOptions {
        jobs: 2,
        check_sequences: true,
        ..Default::default()
    }
}

async fn run(server: &LocalServer, target: &ConnInfo, o: &VerifyOptions) -> VerifyReport {
    verify(&conn(server, Side::Source, "src"), target, o, &NoProgress)
        .await
        .unwrap()
}

/// Each difference as `object: message [range]`, one a line (the CLI renders the whole report).
fn differences(r: &VerifyReport) -> String {
    r.differences
        .iter()
        .map(|d| {
            format!(
                "{}: {} [{}]\n",
                d.object,
                d.message,
                d.range.as_deref().unwrap_or("")
            )
        })
        .collect()
}

fn kinds(r: &VerifyReport) -> Vec<(DifferenceKind, String)> {
    r.differences
        .iter()
        .map(|d| (d.kind, d.object.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catches_a_changed_byte_a_missing_row_and_a_duplicate() {
    let server = src_and_dst(true);
    // Different session defaults on the target: renderings must still match.
    server
        .psql("postgres", "ALTER DATABASE dst SET TimeZone = 'Asia/Tokyo'; ALTER DATABASE dst SET DateStyle = 'SQL, DMY'; ALTER DATABASE dst SET extra_float_digits = -2; ALTER DATABASE dst SET bytea_output = 'escape'; ALTER DATABASE dst SET IntervalStyle = 'iso_8601'")
        .unwrap();
    let target = conn(&server, Side::Target, "dst");
    let r = run(&server, &target, &opts()).await;
    assert!(r.equal, "{}", differences(&r));
    assert_eq!(r.tables.len(), 2);
    assert_eq!(
        r.tables
            .iter()
            .find(|t| t.table.name == "events")
            .unwrap()
            .source_rows,
        3000
    );
    assert_eq!(r.tables.iter().map(|t| t.source_rows).sum::<i64>(), 3502);
    assert!(r.differences.is_empty(), "{}", differences(&r));

    assert_eq!(
        r.hash,
        citus_migrate_core::verify::RowHash::Hashtextextended
    );
    // The portable md5 variant agrees on equal data and catches the change below too.
    let md5_of = |db: &'static str| {
        let info = conn(
            &server,
            if db == "src" {
                Side::Source
            } else {
                Side::Target
            },
            db,
        );
        async move {
            let c = citus_migrate_core::connect::connect(&info).await.unwrap();
            let cols: Vec<String> = [
                "Label",
                "amount",
                "at",
                "doc",
                "flag",
                "id",
                "price",
                "ratio",
                "raw",
                "span",
                "tags",
                "tenant_id",
                "total",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            citus_migrate_core::verify::checksum(
                &c,
                info.side,
                citus_migrate_core::verify::RowHash::Md5,
                &QualifiedName::new("public", "events"),
                &cols,
                None,
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(md5_of("src").await, md5_of("dst").await);

    // One byte of one bytea value.
    server
        .psql(
            "dst",
            "UPDATE events SET raw = set_byte(raw, 3, get_byte(raw, 3) # 1) WHERE id = 1234",
        )
        .unwrap();
    let r = run(&server, &target, &opts()).await;
    assert_eq!(
        kinds(&r),
        vec![(DifferenceKind::Content, name("events"))],
        "{}",
        differences(&r)
    );
    assert!(
        differences(&r).contains("different contents"),
        "{}",
        differences(&r)
    );
    server
        .psql(
            "dst",
            "UPDATE events SET raw = set_byte(raw, 3, get_byte(raw, 3) # 1) WHERE id = 1234",
        )
        .unwrap();

    // One character of a text value, upper vs lower case.
    server
        .psql(
            "dst",
            "UPDATE events SET \"Label\" = 'Label 17' WHERE id = 17",
        )
        .unwrap();
    let r = run(&server, &target, &opts()).await;
    assert_eq!(
        kinds(&r),
        vec![(DifferenceKind::Content, name("events"))],
        "{}",
        differences(&r)
    );
    server
        .psql(
            "dst",
            "UPDATE events SET \"Label\" = 'label 17' WHERE id = 17",
        )
        .unwrap();

    // A missing row.
    server
        .psql("dst", "DELETE FROM logs WHERE n = 250")
        .unwrap();
    let r = run(&server, &target, &opts()).await;
    assert_eq!(
        kinds(&r),
        vec![(DifferenceKind::RowCount, name("logs"))],
        "{}",
        differences(&r)
    );
    assert!(
        differences(&r).contains("502 rows on the source, 501 on the target (-1)"),
        "{}",
        differences(&r)
    );

    // The missing row comes back twice: a duplicate. Then a duplicate that keeps the count: a row
    // duplicated while another is missing.
    server
        .psql(
            "dst",
            "INSERT INTO logs VALUES ('line 250', 250), ('line 250', 250)",
        )
        .unwrap();
    let r = run(&server, &target, &opts()).await;
    assert_eq!(
        kinds(&r),
        vec![(DifferenceKind::RowCount, name("logs"))],
        "{}",
        differences(&r)
    );
    server
        .psql("dst", "DELETE FROM logs WHERE n = 251")
        .unwrap();
    let r = run(&server, &target, &opts()).await;
    assert_eq!(
        kinds(&r),
        vec![(DifferenceKind::Content, name("logs"))],
        "{}",
        differences(&r)
    );
    // The source's own duplicate pair ('dup', 1) x2 on the target as one row plus another row:
    server.psql("dst", "DELETE FROM logs WHERE n IN (250, 1); INSERT INTO logs VALUES ('line 250', 250), ('line 251', 251), ('line 1', 1), ('dup', 1), ('dup', 1)").unwrap();
    let r = run(&server, &target, &opts()).await;
    assert!(r.equal, "{}", differences(&r));

    // Sequence behind the source, a missing table, and a column of a different name.
    server
        .psql("src", "SELECT setval('events_id_seq', 5000)")
        .unwrap();
    server
        .psql("dst", "SELECT setval('events_id_seq', 4000)")
        .unwrap();
    server.psql("dst", "DROP TABLE logs").unwrap();
    let r = run(&server, &target, &opts()).await;
    let k = kinds(&r);
    assert!(
        k.contains(&(DifferenceKind::Sequence, name("events_id_seq"))),
        "{k:?}"
    );
    assert!(
        k.contains(&(DifferenceKind::MissingTable, name("logs"))),
        "{k:?}"
    );
    assert!(
        differences(&r).contains("behind the source's 5000"),
        "{}",
        differences(&r)
    );
    let json: serde_json::Value = serde_json::from_str(&r.to_json().unwrap()).unwrap();
    assert_eq!(json["equal"], false);
    assert_eq!(json["differences"].as_array().unwrap().len(), 2);

    // Only the selected tables count.
    let mut o = opts();
    o.filters =
        citus_migrate_core::filter::Selection::new(&[], &["events".into()], &[], &[]).unwrap();
    server
        .psql("dst", "SELECT setval('events_id_seq', 5000)")
        .unwrap();
    let r = run(&server, &target, &o).await;
    assert!(r.equal, "{}", differences(&r));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_name_where_the_difference_is() {
    let server = src_and_dst(true);
    server
        .psql(
            "dst",
            "UPDATE events SET ratio = ratio + 1e-12 WHERE id = 2500",
        )
        .unwrap();
    let mut o = opts();
    let ranges = (0..3)
        .map(|i| citus_migrate_core::verify::Range {
            predicate: Some(format!(
                "id >= {} AND id < {}",
                i * 1000 + 1,
                (i + 1) * 1000 + 1
            )),
        })
        .collect();
    o.ranges
        .insert(QualifiedName::new("public", "events"), ranges);
    let r = run(&server, &conn(&server, Side::Target, "dst"), &o).await;
    assert_eq!(r.differences.len(), 1, "{}", differences(&r));
    assert_eq!(
        r.differences[0].range.as_deref(),
        Some("id >= 2001 AND id < 3001")
    );
    let events = r.tables.iter().find(|t| t.table.name == "events").unwrap();
    assert_eq!(
        events.ranges.iter().map(|x| x.equal).collect::<Vec<_>>(),
        vec![true, true, false]
    );
    assert_eq!(events.source_rows, 3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn citus_target_with_other_worker_defaults_and_layout() {
    let Some(cluster) = citus_or_skip("citus_target_with_other_worker_defaults_and_layout") else {
        return;
    };
    let source = LocalServer::start(&ServerOptions::default()).unwrap();
    source.create_database("src").unwrap();
    source.psql("src", SCHEMA).unwrap();
    source.psql("src", DATA).unwrap();
    source.psql("src", "CREATE TABLE kinds (id int PRIMARY KEY, name text); INSERT INTO kinds VALUES (1, 'a'), (2, 'b')").unwrap();
    cluster.create_database("dst").unwrap();
    // Workers render timestamps and floats differently by default; the pinned settings must reach them.
    for w in &cluster.workers {
        w.psql("postgres", "ALTER SYSTEM SET TimeZone = 'America/Los_Angeles'; ALTER SYSTEM SET extra_float_digits = -3; ALTER SYSTEM SET DateStyle = 'German'; SELECT pg_reload_conf()").unwrap();
    }
    cluster.coordinator.psql("dst", SCHEMA).unwrap();
    cluster
        .coordinator
        .psql(
            "dst",
            "ALTER TABLE events DROP CONSTRAINT events_pkey; ALTER TABLE events ADD PRIMARY KEY (tenant_id, id);\
             SELECT create_distributed_table('events', 'tenant_id');\
             SELECT create_distributed_table('logs', 'n', colocate_with => 'none');\
             CREATE TABLE kinds (id int PRIMARY KEY, name text); SELECT create_reference_table('kinds');",
        )
        .unwrap();
    cluster.coordinator.psql("dst", DATA).unwrap();
    cluster
        .coordinator
        .psql(
            "dst",
            "INSERT INTO kinds VALUES (1, 'a'), (2, 'b'); SELECT setval('events_id_seq', 3000)",
        )
        .unwrap();

    let target = ConnInfo::parse(Side::Target, &cluster.url("dst")).unwrap();
    let q = |n: &str| QualifiedName::new("public", n);
    let mut o = opts();
    o.expected_layout = Some(vec![
        ExpectedLayout {
            table: q("events"),
            kind: LayoutKind::Distributed {
                column: "tenant_id".into(),
                colocate_with: None,
            },
        },
        ExpectedLayout {
            table: q("kinds"),
            kind: LayoutKind::Reference,
        },
    ]);
    let src = ConnInfo::parse(Side::Source, &source.url("src")).unwrap();
    let r = verify(&src, &target, &o, &NoProgress).await.unwrap();
    assert!(r.equal, "{}", differences(&r));
    assert_eq!(r.layout.len(), 2);

    // A changed byte inside a shard on a worker is caught through the coordinator.
    cluster
        .coordinator
        .psql(
            "dst",
            "UPDATE events SET amount = amount + 0.001 WHERE id = 42",
        )
        .unwrap();
    // And a layout that is not what the plan says: logs co-located with events, on tenant_id.
    o.expected_layout.as_mut().unwrap().push(ExpectedLayout {
        table: q("logs"),
        kind: LayoutKind::Distributed {
            column: "n".into(),
            colocate_with: Some(q("events")),
        },
    });
    let r = verify(&src, &target, &o, &NoProgress).await.unwrap();
    let k = kinds(&r);
    assert_eq!(k.len(), 2, "{}", differences(&r));
    assert!(
        k.contains(&(DifferenceKind::Content, name("events"))),
        "{k:?}"
    );
    assert!(k.contains(&(DifferenceKind::Layout, name("logs"))), "{k:?}");
    assert!(
        differences(&r).contains(&format!("expected co-located with {}", name("events"))),
        "{}",
        differences(&r)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uses_the_key_ranges_the_copy_recorded() {
    use citus_migrate_core::copy::{copy_tables, CopyOptions};
    let server = src_and_dst(false);
    let (src, dst) = (
        conn(&server, Side::Source, "src"),
        conn(&server, Side::Target, "dst"),
    );
    let tables = vec![
        QualifiedName::new("public", "events"),
        QualifiedName::new("public", "logs"),
    ];
    let copy_opts = CopyOptions {
        jobs: 2,
        chunk_bytes: Some(64 << 10),
        ..CopyOptions::default()
    };
    copy_tables(&src, &dst, &tables, &copy_opts, &NoProgress)
        .await
        .unwrap();
    server
        .psql("dst", "SELECT setval('events_id_seq', 3000)")
        .unwrap();

    let mut o = opts();
    o.copy_ranges = true;
    let r = verify(&src, &dst, &o, &NoProgress).await.unwrap();
    assert!(r.equal, "{}", differences(&r));
    let events = r.tables.iter().find(|t| t.table.name == "events").unwrap();
    assert!(
        events.ranges.len() > 1,
        "events was copied in key ranges: {:?}",
        events.ranges
    );
    assert!(
        events
            .ranges
            .iter()
            .all(|x| x.range.as_deref().is_some_and(|p| p.contains("id"))),
        "{:?}",
        events.ranges
    );
    // logs has no key: the copy split it by pages, which mean nothing on the target: compared whole.
    let logs = r.tables.iter().find(|t| t.table.name == "logs").unwrap();
    assert_eq!(logs.ranges.len(), 1);
    assert_eq!(logs.ranges[0].range, None);

    server
        .psql("dst", "UPDATE events SET tags = ARRAY['x'] WHERE id = 2999")
        .unwrap();
    let r = verify(&src, &dst, &o, &NoProgress).await.unwrap();
    assert_eq!(r.differences.len(), 1, "{}", differences(&r));
    let range = r.differences[0]
        .range
        .clone()
        .expect("the difference names its range");
    let hit = server
        .psql(
            "dst",
            &format!("SELECT count(*) FROM events WHERE id = 2999 AND ({range})"),
        )
        .unwrap();
    assert_eq!(hit, "1", "the named range {range} holds the changed row");
}
