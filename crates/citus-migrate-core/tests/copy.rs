//! The library's copy entry point, [`copy_tables`], against real servers: a fresh copy, a resume after a
//! run that stopped part-way, and (on Citus) the path straight to the shards on the workers next to
//! the path through the coordinator. Every run is checked row for row against the source.

use std::sync::Mutex;

use citus_migrate_core::conninfo::ConnInfo;
use citus_migrate_core::copy::{copy_tables, CopyMode, CopyOptions, CopySummary};
use citus_migrate_core::ident::QualifiedName;
use citus_migrate_core::local::{citus_or_skip, LocalServer, ServerOptions};
use citus_migrate_core::progress::Progress;
use citus_migrate_core::Side;

/// `acct` has an integer key (chunked by key ranges) and moves in binary; `notes` has no key (chunked
/// by pages on plain PostgreSQL) and a `money` column, so it moves in text.
const SOURCE: &str = r#"
CREATE TABLE acct (id bigint PRIMARY KEY, filler text NOT NULL, at timestamptz, amount numeric);
INSERT INTO acct SELECT i, repeat(md5(i::text), 3), timestamptz '2024-01-01 00:00:00+00' + i * interval '7 minutes',
       i / 7.0 FROM generate_series(1, 20000) i;
CREATE TABLE notes (n int, "Note" text, price money);
INSERT INTO notes SELECT i, CASE WHEN i % 9 = 0 THEN NULL ELSE E'line\t' || i END, i * 1.25
FROM generate_series(1, 8000) i;
ANALYZE;
"#;

/// The same tables, columns in another order (they are matched by name).
const TARGET: &str = r#"
CREATE TABLE acct (amount numeric, at timestamptz, filler text NOT NULL, id bigint PRIMARY KEY);
CREATE TABLE notes (price money, "Note" text, n int);
"#;

/// Every row of both tables, in a fixed order and column order: equal on both sides only when the
/// target holds exactly the source's rows.
const ROWS: &str = "SELECT (SELECT count(*) || ' ' || md5(string_agg(concat_ws('|', id, filler, at, amount), ',' ORDER BY id)) FROM acct) \
     || ' ' || (SELECT count(*) || ' ' || md5(string_agg(concat_ws('|', n, \"Note\", price), ',' ORDER BY n)) FROM notes)";

/// Stops any chunk that holds row 15000 of `acct`: a data error, which is not retried (not checked
/// against the rows already there).
const STOP_AT_15000: &str = "ALTER TABLE acct ADD CONSTRAINT stop CHECK (id <> 15000) NOT VALID";

fn tables() -> Vec<QualifiedName> {
    vec![
        QualifiedName::new("public", "acct"),
        QualifiedName::new("public", "notes"),
    ]
}

fn options(jobs: usize, mode: CopyMode) -> CopyOptions {
    CopyOptions {
        jobs,
        chunk_bytes: Some(256 << 10),
        mode,
        ..CopyOptions::default()
    }
}

/// Keeps the run's messages (which path each table takes, retries) and counts the rows reported.
#[derive(Default)]
struct Recorder {
    messages: Mutex<Vec<String>>,
    rows: Mutex<u64>,
}

impl Progress for Recorder {
    fn advance(&self, _table: &QualifiedName, _bytes: u64, rows: u64) {
        *self.rows.lock().unwrap() += rows;
    }
    fn message(&self, text: &str) {
        self.messages.lock().unwrap().push(text.to_string());
    }
}

async fn copy(src: &ConnInfo, dst: &ConnInfo, opts: &CopyOptions) -> (CopySummary, Recorder) {
    let progress = Recorder::default();
    let summary = copy_tables(src, dst, &tables(), opts, &progress)
        .await
        .unwrap_or_else(|e| panic!("the copy failed: {e}"));
    (summary, progress)
}

/// Per table of the summary: `(name, rows, skipped_rows, binary, worker_direct)`.
fn per_table(s: &CopySummary) -> Vec<(String, u64, u64, bool, bool)> {
    s.tables
        .iter()
        .map(|t| {
            (
                t.table.name.clone(),
                t.rows,
                t.skipped_rows,
                t.binary,
                t.worker_direct,
            )
        })
        .collect()
}

/// A run into a target that rejects row 15000 of `acct` stops at that chunk (one stream, so the
/// chunks before it are committed and the ones after it are not started); once the target accepts
/// the row, `--resume` copies exactly what is missing. Returns the resumed run's summary.
async fn stop_part_way_then_resume(
    src: &ConnInfo,
    dst: &ConnInfo,
    first: CopyMode,
    psql_dst: impl Fn(&str) -> String,
) -> CopySummary {
    psql_dst(STOP_AT_15000);
    let error = copy_tables(
        src,
        dst,
        &tables(),
        &options(1, first),
        &Recorder::default(),
    )
    .await
    .expect_err("the target rejects a row");
    // A stopped run, typed: what stopped, why (the target's error), and that a resume continues it.
    assert!(
        matches!(
            &error,
            citus_migrate_core::Error::Stopped {
                remedy: citus_migrate_core::error::Remedy::ResumeCopy,
                source,
                ..
            } if source.side() == Some(citus_migrate_core::Side::Target)
        ),
        "{error:?}"
    );
    let error = error.to_string();
    assert!(
        error.contains("copying public.acct failed at chunk")
            && error.contains("stop")
            && !error.contains("--"),
        "{error}"
    );
    let committed: u32 = psql_dst(
        "SELECT count(*) FROM citus_migrate.copy_progress \
         WHERE table_name = 'acct' AND committed_at IS NOT NULL",
    )
    .parse()
    .unwrap();
    let below: String = psql_dst("SELECT count(*) || ' ' || coalesce(max(id), 0) FROM acct");
    let (rows_before, max_before) = below.split_once(' ').unwrap();
    assert!(
        committed > 0,
        "chunks before the rejected one were committed"
    );
    assert_eq!(
        max_before.parse::<i64>().unwrap(),
        rows_before.parse::<i64>().unwrap(),
        "the committed chunks are the first ones, complete: {below}"
    );
    assert!(rows_before.parse::<i64>().unwrap() < 15000, "{below}");
    assert_eq!(psql_dst("SELECT count(*) FROM notes"), "0");

    psql_dst("ALTER TABLE acct DROP CONSTRAINT stop");
    let (resumed, progress) = copy(src, dst, &options(2, CopyMode::Resume)).await;
    let acct = &resumed.tables[0];
    assert_eq!(acct.skipped_chunks, committed, "{resumed:?}");
    assert_eq!(acct.skipped_rows, rows_before.parse::<u64>().unwrap());
    assert_eq!(acct.skipped_rows + acct.rows, 20000, "{resumed:?}");
    assert_eq!(resumed.tables[1].rows, 8000);
    assert_eq!(resumed.rows, acct.rows + 8000);
    assert_eq!(*progress.rows.lock().unwrap(), resumed.rows);
    resumed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_copy_and_resume_after_a_stopped_run_into_postgresql() {
    let server = LocalServer::start(&ServerOptions::default()).unwrap();
    for (db, sql) in [("src", SOURCE), ("dst", TARGET), ("dst2", TARGET)] {
        server.create_database(db).unwrap();
        server.psql(db, sql).unwrap();
    }
    let conn = |side, db| ConnInfo::parse(side, &server.url(db)).unwrap();
    let src = conn(Side::Source, "src");
    let source_rows = server.psql("src", ROWS).unwrap();

    // Fresh: several chunks of each table, both moved, every row once.
    let (summary, progress) = copy(
        &src,
        &conn(Side::Target, "dst"),
        &options(2, CopyMode::Fresh),
    )
    .await;
    assert_eq!(server.psql("dst", ROWS).unwrap(), source_rows);
    assert_eq!(
        per_table(&summary),
        vec![
            ("acct".to_string(), 20000, 0, true, false),
            ("notes".to_string(), 8000, 0, false, false),
        ]
    );
    assert!(
        summary
            .tables
            .iter()
            .all(|t| t.chunks > 1 && t.chunks % 2 == 0),
        "{summary:?}"
    );
    assert_eq!(*progress.rows.lock().unwrap(), 28000);
    assert_eq!(
        server
            .psql(
                "dst",
                "SELECT count(*) FROM citus_migrate.copy_progress WHERE committed_at IS NULL"
            )
            .unwrap(),
        "0"
    );

    // Stopped part-way, then resumed.
    stop_part_way_then_resume(&src, &conn(Side::Target, "dst2"), CopyMode::Fresh, |sql| {
        server.psql("dst2", sql).unwrap()
    })
    .await;
    assert_eq!(server.psql("dst2", ROWS).unwrap(), source_rows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn straight_to_the_workers_fresh_and_resumed_on_citus() {
    let Some(cluster) = citus_or_skip("straight_to_the_workers_fresh_and_resumed_on_citus") else {
        return;
    };
    cluster.create_database("dst").unwrap();
    let coord = &cluster.coordinator;
    coord
        .psql(
            "dst",
            &format!(
                "{TARGET} SELECT create_distributed_table('acct', 'id'); SELECT create_reference_table('notes');"
            ),
        )
        .unwrap();
    let source = LocalServer::start(&ServerOptions::default()).unwrap();
    source.create_database("src").unwrap();
    source.psql("src", SOURCE).unwrap();
    let src = ConnInfo::parse(Side::Source, &source.url("src")).unwrap();
    let dst = ConnInfo::parse(Side::Target, &cluster.url("dst")).unwrap();
    let source_rows = source.psql("src", ROWS).unwrap();
    let nothing_prepared = |what: &str| {
        for node in std::iter::once(coord).chain(&cluster.workers) {
            assert_eq!(
                node.psql("dst", "SELECT count(*) FROM pg_prepared_xacts")
                    .unwrap(),
                "0",
                "{what}: prepared transactions left on port {}",
                node.port
            );
        }
    };
    // Every acct row in the shard Citus itself chooses for it.
    let misplaced = || {
        coord
            .psql(
                "dst",
                "SELECT sum(result::int) FROM run_command_on_shards('acct', $$SELECT count(*) FROM %1$s t \
                 WHERE shard_name('acct'::regclass, get_shard_id_for_distribution_column('acct', t.id)) <> '%1$s'$$)",
            )
            .unwrap()
    };

    // Fresh: acct (hash-distributed on a bigint) goes straight to its shards, notes (a reference
    // table) through the coordinator.
    let (summary, progress) = copy(&src, &dst, &options(2, CopyMode::Fresh)).await;
    assert_eq!(coord.psql("dst", ROWS).unwrap(), source_rows);
    assert_eq!(
        per_table(&summary),
        vec![
            ("acct".to_string(), 20000, 0, true, true),
            ("notes".to_string(), 8000, 0, false, false),
        ]
    );
    let messages = progress.messages.lock().unwrap().join("\n");
    assert!(
        messages.contains("public.acct: rows go straight to its 32 shards on 2 node(s)")
            && messages.contains("public.notes: rows go through the coordinator"),
        "{messages}"
    );
    assert_eq!(misplaced(), "0");
    nothing_prepared("fresh");

    // Emptied and started over (--truncate), stopped at a row the shards reject, resumed.
    let resumed = stop_part_way_then_resume(&src, &dst, CopyMode::Truncate, |sql| {
        coord.psql("dst", sql).unwrap()
    })
    .await;
    assert!(resumed.tables[0].worker_direct, "{resumed:?}");
    assert_eq!(coord.psql("dst", ROWS).unwrap(), source_rows);
    assert_eq!(misplaced(), "0");
    nothing_prepared("resumed");
}

/// The one listing of what a copy moves: named tables first, then each schema's tables largest first; a
/// partition listed with its partitioned parent moves with it (once); an unknown schema is a usage
/// problem of the source, a schema without tables a precondition on the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_to_copy_lists_named_tables_then_schemas_without_covered_partitions() {
    let server = LocalServer::start(&ServerOptions::default()).unwrap();
    server.create_database("src").unwrap();
    server
        .psql(
            "src",
            r#"CREATE SCHEMA shop; CREATE SCHEMA "Empty";
               CREATE TABLE shop.small (id int); CREATE TABLE shop.big (id int, pad text);
               INSERT INTO shop.big SELECT i, repeat('x', 200) FROM generate_series(1, 2000) i;
               CREATE TABLE public.ev (at date, n int) PARTITION BY RANGE (at);
               CREATE TABLE public.ev_2024 PARTITION OF public.ev FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
               CREATE TABLE public.other (id int);"#,
        )
        .unwrap();
    let src = ConnInfo::parse(Side::Source, &server.url("src")).unwrap();
    let q = |s: &str, n: &str| QualifiedName::new(s, n);
    let names = |v: Vec<QualifiedName>| v.iter().map(|t| t.to_string()).collect::<Vec<_>>();

    let listed = citus_migrate_core::copy::tables_to_copy(
        &src,
        &[
            q("public", "ev_2024"),
            q("public", "ev"),
            q("public", "other"),
        ],
        &["shop".to_string()],
    )
    .await
    .unwrap();
    assert_eq!(
        names(listed),
        ["public.ev", "public.other", "shop.big", "shop.small"]
    );

    let unknown = citus_migrate_core::copy::tables_to_copy(&src, &[], &["nope".to_string()])
        .await
        .unwrap_err();
    assert!(unknown.is_usage(), "{unknown}");
    assert!(
        unknown.to_string().contains("schema nope not found"),
        "{unknown}"
    );

    let empty = citus_migrate_core::copy::tables_to_copy(&src, &[], &["Empty".to_string()])
        .await
        .unwrap_err();
    assert_eq!(empty.side(), Some(Side::Source));
    assert_eq!(empty.to_string(), "source: no tables in schema \"Empty\"");
}
