//! `citus-migrate copy`, `export` and `import` against real servers: faithful types, exactly-once
//! resume after kill -9, retried backend terminations, refusals, hostile names, PgBouncer, Citus.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use citus_migrate_core::local::{say_uncaptured, wait_until};

use crate::common::*;

/// The types of the fixture, then its table with the columns in another order (matched by name).
const TARGET_NASTY: &str = r#"
CREATE TYPE mood AS ENUM ('sad', 'ok', 'with space', 'quote''s', 'ünï');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE TYPE pair AS (a int, b text);
CREATE TABLE nasty (
    doubled int GENERATED ALWAYS AS (id * 2) STORED,
    bx box, pt point, cash money, flag boolean, bits bit varying(20), mac macaddr, net cidr, ip inet, u uuid,
    tq tsquery, tsv tsvector, x xml, carr pair[], comp pair, dom posint, m mood, jb jsonb, j json,
    mr int4multirange, tsr tstzrange, r int4range, tarr text[], arr int[], iv interval, tmtz timetz, tm time,
    d date, tstz timestamptz, ts timestamp, f8 double precision, f4 real, n numeric, b bytea,
    vc varchar(12), ch char(4), t text,
    id int PRIMARY KEY
);
"#;

const NASTY_COLUMNS: &str = "id, t, ch, vc, b, n, f4, f8, ts, tstz, d, tm, tmtz, iv, arr, tarr, r, tsr, mr, j, jb, m, dom, \
     comp, carr, x, tsv, tq, u, ip, net, mac, bits, flag, cash, pt, bx, doubled";

/// The table's rows in COPY text form, in a fixed column order: equal strings mean identical data.
fn nasty_dump(server: &LocalServer, db: &str) -> String {
    server
        .psql(
            db,
            &format!("SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 3; SET TimeZone = 'UTC'; COPY (SELECT {NASTY_COLUMNS} FROM nasty ORDER BY id) TO STDOUT"),
        )
        .unwrap()
}

/// One server with a source database `src` (the nasty fixture) and an empty target database `dst`.
fn nasty_pair() -> LocalServer {
    let server = server_with("src", &fixture("copy_types.sql"));
    server.create_database("dst").unwrap();
    server.psql("dst", TARGET_NASTY).unwrap();
    server
}

fn copy_cmd(source: &str, target: &str) -> assert_cmd::Command {
    let mut cmd = bin();
    cmd.args(["copy", "--source", source, "--target", target]);
    cmd
}

#[test]
fn copies_every_type_byte_identical_and_matches_columns_by_name() {
    let server = nasty_pair();
    let out = copy_cmd(&server.url("src"), &server.url("dst"))
        .args([
            "--table",
            "nasty",
            "--chunk-size",
            "16kB",
            "--jobs",
            "3",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let summary: serde_json::Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    let t = &summary["tables"][0];
    assert_eq!(t["rows"], 2017);
    assert!(
        t["chunks"].as_u64().unwrap() > 1,
        "several chunks expected: {summary}"
    );
    let src = nasty_dump(&server, "src");
    assert!(
        src.contains("\\\\N") && src.contains("😀"),
        "fixture sanity: {src:.200}"
    );
    assert_eq!(nasty_dump(&server, "dst"), src);
    // Every chunk is recorded as committed, with the row counts adding up.
    let recorded = server
        .psql(
            "dst",
            "SELECT sum(rows), bool_and(committed_at IS NOT NULL) FROM citus_migrate.copy_progress",
        )
        .unwrap();
    assert_eq!(recorded, "2017|t");
}

/// The columns of `nasty` whose types binary COPY carries between servers (built-in, no OIDs inside).
const BINARY_COLUMNS: &str =
    "id, t, ch, vc, b, n, f4, f8, ts, tstz, d, tm, tmtz, iv, arr, tarr, j, jb, u, ip, net, mac, bits, flag";

/// `nasty`'s binary-safe columns as table `plain` on the source, and on the target in another order
/// with `extra` SQL after the CREATE (e.g. distributing it).
fn binary_pair_sql(extra: &str) -> (String, String) {
    (
        format!("CREATE TABLE plain AS SELECT {BINARY_COLUMNS} FROM nasty; ALTER TABLE plain ADD PRIMARY KEY (id);"),
        format!(
            "CREATE TABLE plain AS SELECT flag, bits, mac, net, ip, u, jb, j, tarr, arr, iv, tmtz, tm, d, tstz, ts, \
             f8, f4, n, b, vc, ch, t, id FROM nasty LIMIT 0; ALTER TABLE plain ADD PRIMARY KEY (id); {extra}"
        ),
    )
}

/// Rows of distributed table `table` (distributed on `id`) that sit in another shard than the one
/// Citus itself chooses for them.
fn misplaced_rows(coordinator: &LocalServer, table: &str) -> i64 {
    coordinator
        .psql(
            "dst",
            &format!(
                "SELECT sum(result::int) FROM run_command_on_shards('{table}', $$SELECT count(*) FROM %1$s t \
                 WHERE shard_name('{table}'::regclass, get_shard_id_for_distribution_column('{table}', t.id)) <> '%1$s'$$)"
            ),
        )
        .unwrap()
        .parse()
        .unwrap()
}

/// Runs a copy that must succeed; its JSON summary and its stderr.
fn copy_json(source: &str, target: &str, args: &[&str]) -> (serde_json::Value, String) {
    let out = copy_cmd(source, target)
        .args(args)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    (
        serde_json::from_str(&stdout_of(&out)).unwrap(),
        stderr_of(&out),
    )
}

/// Copies one table in 16 kB chunks; its JSON summary.
fn copy_one_in_16kb_chunks(source: &str, target: &str, table: &str) -> serde_json::Value {
    copy_json(source, target, &["--table", table, "--chunk-size", "16kB"]).0
}

/// Something of every table of a copy summary.
fn per_table<T>(summary: &serde_json::Value, f: impl Fn(&serde_json::Value) -> T) -> Vec<T> {
    summary["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(f)
        .collect()
}

fn plain_dump(server: &LocalServer, db: &str) -> String {
    server
        .psql(
            db,
            &format!("SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 3; SET TimeZone = 'UTC'; COPY (SELECT {BINARY_COLUMNS} FROM plain ORDER BY id) TO STDOUT"),
        )
        .unwrap()
}

#[test]
fn identical_built_in_types_move_in_binary_and_everything_else_in_text() {
    let server = nasty_pair();
    let (src_sql, dst_sql) = binary_pair_sql("");
    server.psql("src", &src_sql).unwrap();
    server.psql("dst", &dst_sql).unwrap();
    // A column whose type differs between the sides (int -> bigint) keeps the table in text.
    server
        .psql("src", "CREATE TABLE widened (id int PRIMARY KEY, v text); INSERT INTO widened SELECT g, 'v' || g FROM generate_series(1, 1000) g;")
        .unwrap();
    server
        .psql(
            "dst",
            "CREATE TABLE widened (id bigint PRIMARY KEY, v text);",
        )
        .unwrap();
    let (summary, _) = copy_json(
        &server.url("src"),
        &server.url("dst"),
        &[
            "--table",
            "plain",
            "--table",
            "nasty",
            "--table",
            "widened",
            "--chunk-size",
            "16kB",
            "--jobs",
            "2",
        ],
    );
    let binary = per_table(&summary, |t| {
        (
            t["table"]["name"].as_str().unwrap().to_string(),
            t["binary"].as_bool().unwrap(),
        )
    });
    assert_eq!(
        binary,
        vec![
            ("plain".to_string(), true),
            ("nasty".to_string(), false),
            ("widened".to_string(), false)
        ]
    );
    assert_eq!(summary["tables"][0]["rows"], 2017);
    let src = plain_dump(&server, "src");
    assert!(
        src.contains("NaN") && src.contains("BC") && src.contains("😀"),
        "fixture sanity"
    );
    assert_eq!(plain_dump(&server, "dst"), src);
    assert_eq!(nasty_dump(&server, "dst"), nasty_dump(&server, "src"));
    let sums = "SELECT count(*), sum(id), md5(string_agg(v, ',' ORDER BY id)) FROM widened";
    assert_eq!(
        server.psql("dst", sums).unwrap(),
        server.psql("src", sums).unwrap()
    );
}

#[test]
fn vector_columns_copy_where_pgvector_is_installed() {
    let server = LocalServer::start(&ServerOptions::default()).unwrap();
    let available = server
        .psql(
            "postgres",
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'",
        )
        .unwrap();
    if available != "1" {
        say_uncaptured("skipped: vector_columns_copy_where_pgvector_is_installed: pgvector is not installed for this PostgreSQL");
        return;
    }
    for db in ["src", "dst"] {
        server.create_database(db).unwrap();
        server
            .psql(
                db,
                "CREATE EXTENSION vector; CREATE TABLE emb (id int PRIMARY KEY, v vector(3))",
            )
            .unwrap();
    }
    server
        .psql(
            "src",
            "INSERT INTO emb VALUES (1, '[1,2.5,-3e-7]'), (2, NULL), (3, '[0,0,0]')",
        )
        .unwrap();
    let out = copy_cmd(&server.url("src"), &server.url("dst"))
        .args(["--table", "emb"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let q = "COPY (SELECT * FROM emb ORDER BY id) TO STDOUT";
    assert_eq!(
        server.psql("dst", q).unwrap(),
        server.psql("src", q).unwrap()
    );
}

#[test]
fn refuses_non_empty_targets_and_missing_tables_or_columns() {
    let server = nasty_pair();
    server
        .psql(
            "dst",
            "INSERT INTO nasty (id, t) VALUES (1, 'already here')",
        )
        .unwrap();
    let out = copy_cmd(&server.url("src"), &server.url("dst"))
        .args(["--table", "nasty"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("nasty already holds rows") && err.contains("--truncate"),
        "{err}"
    );
    assert_eq!(
        server.psql("dst", "SELECT t FROM nasty").unwrap(),
        "already here"
    );

    // --resume does not take rows it did not write either.
    let out = copy_cmd(&server.url("src"), &server.url("dst"))
        .args(["--table", "nasty", "--resume"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("no earlier `citus-migrate copy` recorded"),
        "{}",
        stderr_of(&out)
    );

    // --truncate starts over.
    let out = copy_cmd(&server.url("src"), &server.url("dst"))
        .args(["--table", "nasty", "--truncate"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(nasty_dump(&server, "dst"), nasty_dump(&server, "src"));

    // Missing table on either side, missing column on either side: nothing moves.
    server
        .psql(
            "src",
            "CREATE TABLE only_src (id int); CREATE TABLE both_t (id int, a text, b text)",
        )
        .unwrap();
    server
        .psql(
            "dst",
            "CREATE TABLE only_dst (id int); CREATE TABLE both_t (id int, a text, c text)",
        )
        .unwrap();
    server
        .psql("src", "INSERT INTO both_t VALUES (1, 'x', 'y')")
        .unwrap();
    let cases = [
        ("only_src", "target: table public.only_src not found", 1),
        // A table named on the command line that the source lacks is bad input: exit 2.
        ("only_dst", "source: table public.only_dst not found", 2),
        ("both_t", "has no column", 1),
    ];
    for (table, expected, code) in cases {
        let out = copy_cmd(&server.url("src"), &server.url("dst"))
            .args(["--table", table])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{table}");
        assert!(
            stderr_of(&out).contains(expected),
            "{table}: {}",
            stderr_of(&out)
        );
    }
    assert_eq!(
        server.psql("dst", "SELECT count(*) FROM both_t").unwrap(),
        "0"
    );
    // A lock held by another session: the watchdog turns the wait into a clear error, not a hang.
    let mut locker = Command::new(server.bindir().join("psql"))
        .args(["-X", "-q", &server.url("dst")])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = locker.stdin.take().unwrap();
    std::io::Write::write_all(
        &mut stdin,
        b"BEGIN; LOCK TABLE both_t IN ACCESS EXCLUSIVE MODE;\n",
    )
    .unwrap();
    assert!(wait_until(Duration::from_secs(30), || {
        server
            .psql(
                "dst",
                "SELECT count(*) FROM pg_locks WHERE relation = 'both_t'::regclass AND granted",
            )
            .unwrap()
            != "0"
    }));
    let started = Instant::now();
    let out = copy_cmd(&server.url("src"), &server.url("dst"))
        .args(["--table", "both_t", "--stall-timeout", "3"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    drop(stdin);
    locker.wait().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("no answer within 3s"),
        "{}",
        stderr_of(&out)
    );
    assert!(started.elapsed() < Duration::from_secs(30));

    // A bad name is a usage error.
    let out = copy_cmd(&server.url("src"), &server.url("dst"))
        .args(["--table", "a.b.c"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(!stderr_of(&out).contains("panick"));
}

#[test]
fn hostile_identifiers_are_quoted_everywhere() {
    let ddl = r#"
        CREATE SCHEMA "Sch ""ema";
        CREATE TABLE "Sch ""ema"."Order Notes; DROP TABLE x" ("select" int PRIMARY KEY, "a,b" text, "Mixed Case" text, "tab	col" text);
        CREATE TABLE "Sch ""ema"."user" ("from" text NOT NULL);
    "#;
    let server = server_with("src", ddl);
    server.create_database("dst").unwrap();
    server.psql("dst", ddl).unwrap();
    server
        .psql(
            "src",
            r#"INSERT INTO "Sch ""ema"."Order Notes; DROP TABLE x" SELECT i, 'a' || i, 'M' || i, E'\t' || i FROM generate_series(1, 3000) i;
               INSERT INTO "Sch ""ema"."user" SELECT 'u' || i FROM generate_series(1, 2000) i;"#,
        )
        .unwrap();
    let out = copy_cmd(&server.url("src"), &server.url("dst"))
        .args([
            "--table",
            r#""Sch ""ema"."Order Notes; DROP TABLE x""#,
            "--schema",
            r#""Sch ""ema""#,
            "--chunk-size",
            "8kB",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    for q in [
        r#"SELECT count(*), md5(string_agg("select" || "a,b" || "Mixed Case" || "tab	col", ',' ORDER BY "select")) FROM "Sch ""ema"."Order Notes; DROP TABLE x""#,
        r#"SELECT count(*), md5(string_agg("from", ',' ORDER BY "from")) FROM "Sch ""ema"."user""#,
    ] {
        assert_eq!(
            server.psql("dst", q).unwrap(),
            server.psql("src", q).unwrap()
        );
    }
    let text = stdout_of(&out);
    assert!(
        text.contains("3,000 rows") && text.contains("2,000 rows"),
        "{text}"
    );
}

/// Loads the kill/resume tables: one with an integer key (key ranges), one without (ctid ranges).
pub(crate) const RESUME_SOURCE: &str = r#"
    CREATE TABLE acct (id bigint PRIMARY KEY, filler text NOT NULL);
    INSERT INTO acct SELECT i, repeat(md5(i::text), 3) FROM generate_series(1, 60000) i;
    CREATE TABLE nokey (v text NOT NULL, n int);
    INSERT INTO nokey SELECT 'v' || i, i FROM generate_series(1, 40000) i;
    ANALYZE;
"#;
pub(crate) const RESUME_TARGET: &str = r#"
    CREATE TABLE acct (id bigint PRIMARY KEY, filler text NOT NULL);
    CREATE TABLE nokey (v text NOT NULL, n int);
"#;
pub(crate) const CHECKSUMS: &str = "SELECT (SELECT count(*) || ' ' || md5(string_agg(id || filler, ',' ORDER BY id)) FROM acct) \
     || ' ' || (SELECT count(*) || ' ' || md5(string_agg(v || ':' || n, ',' ORDER BY n)) FROM nokey)";

fn spawn_copy(source: &str, target: &str, extra: &[&str], pause_ms: u64) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_citus-migrate"));
    cmd.args([
        "copy", "--source", source, "--target", target, "--table", "acct", "--table", "nokey",
    ])
    .args(["--chunk-size", "256kB", "--jobs", "2"])
    .args(extra)
    .env("CITUS_MIGRATE_TEST_PAUSE_MS", pause_ms.to_string())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd.spawn().unwrap()
}

fn committed_chunks(target: &LocalServer, db: &str) -> i64 {
    target
        .psql(
            db,
            "SELECT count(*) FROM citus_migrate.copy_progress WHERE committed_at IS NOT NULL",
        )
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// The target holds exactly the rows of the committed chunks: nothing lost, nothing doubled. Right after
/// a kill, a worker-direct chunk (acct on Citus) that was decided committed may still wait for its
/// COMMIT PREPARED on the workers (the next run resolves it), so only `<=` holds for it then.
fn assert_rows_match_bookkeeping(target: &LocalServer, db: &str, exact: bool) {
    let recorded = |t: &str| {
        format!(
            "(SELECT COALESCE(sum(rows), 0) FROM citus_migrate.copy_progress WHERE table_name = '{t}' AND committed_at IS NOT NULL)"
        )
    };
    let op = if exact { "=" } else { "<=" };
    let sql = format!(
        "SELECT (SELECT count(*) FROM nokey) = {}, (SELECT count(*) FROM acct) {op} {}",
        recorded("nokey"),
        recorded("acct")
    );
    assert_eq!(
        target.psql(db, &sql).unwrap(),
        "t|t",
        "target rows and the bookkeeping disagree"
    );
}

/// Terminates the backends of `db` idle in a transaction whose last statement starts with `query_like`
/// (waiting up to a minute for one to appear); true when it terminated any.
fn terminate_idle(server: &LocalServer, db: &str, query_like: &str) -> bool {
    wait_until(Duration::from_secs(60), || {
        server
            .psql(
                "postgres",
                &format!(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{db}' \
                     AND state = 'idle in transaction' AND query LIKE '{query_like}%' AND pid <> pg_backend_pid()"
                ),
            )
            .map(|n| n != "0")
            .unwrap_or(false)
    })
}

fn kill_after(child: &mut Child, target: &LocalServer, db: &str, chunks: i64, extra: Duration) {
    let ok = wait_until(Duration::from_secs(120), || {
        committed_chunks(target, db) >= chunks || child.try_wait().unwrap().is_some()
    });
    if let Some(status) = child.try_wait().unwrap() {
        let mut err = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
        panic!("the copy ended ({status}) before {chunks} chunks were committed: {err}");
    }
    assert!(ok, "the copy did not reach {chunks} committed chunks");
    std::thread::sleep(extra);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

#[test]
fn kill_9_at_several_points_then_resume_into_citus_is_exactly_once() {
    let Some(cluster) =
        citus_or_skip("kill_9_at_several_points_then_resume_into_citus_is_exactly_once")
    else {
        return;
    };
    cluster.create_database("dst").unwrap();
    cluster
        .coordinator
        .psql(
            "dst",
            &format!("{RESUME_TARGET} SELECT create_distributed_table('acct', 'id'); SELECT create_reference_table('nokey');"),
        )
        .unwrap();
    let source = server_with("src", RESUME_SOURCE);
    let (src, dst) = (source.url("src"), cluster.url("dst"));
    let coord = &cluster.coordinator;

    // Killed right after a commit, then in the middle of chunks (before their COMMIT).
    let mut child = spawn_copy(&src, &dst, &[], 300);
    kill_after(&mut child, coord, "dst", 3, Duration::ZERO);
    assert_rows_match_bookkeeping(coord, "dst", false);
    let first = committed_chunks(coord, "dst");

    let mut child = spawn_copy(&src, &dst, &["--resume"], 300);
    kill_after(
        &mut child,
        coord,
        "dst",
        first + 4,
        Duration::from_millis(150),
    );
    assert_rows_match_bookkeeping(coord, "dst", false);

    let mut child = spawn_copy(&src, &dst, &["--resume"], 50);
    kill_after(
        &mut child,
        coord,
        "dst",
        first + 7,
        Duration::from_millis(20),
    );
    assert_rows_match_bookkeeping(coord, "dst", false);

    // A plain run is refused now; --resume finishes the job.
    let out = copy_cmd(&src, &dst)
        .args(["--table", "acct", "--table", "nokey"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = copy_cmd(&src, &dst)
        .args([
            "--table",
            "acct",
            "--table",
            "nokey",
            "--resume",
            "--format",
            "json",
            "--chunk-size",
            "1GB",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let summary: serde_json::Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    let skipped: u64 = summary["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["skipped_chunks"].as_u64().unwrap())
        .sum();
    assert!(skipped >= 7, "{summary}");
    assert!(
        summary["tables"][0]["chunks"].as_u64().unwrap() > 4,
        "the recorded plan is kept: {summary}"
    );
    assert_eq!(
        coord.psql("dst", CHECKSUMS).unwrap(),
        source.psql("src", CHECKSUMS).unwrap()
    );
    assert_rows_match_bookkeeping(coord, "dst", true);
    // acct (hash-distributed on a bigint) went straight to the shards, nokey (a reference table)
    // through the coordinator; every acct row sits in the shard Citus itself would choose.
    let direct: Vec<bool> = summary["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["worker_direct"].as_bool().unwrap())
        .collect();
    assert_eq!(direct, vec![true, false], "{summary}");
    assert_eq!(misplaced_rows(coord, "acct"), 0);
    assert_eq!(
        coord
            .psql("dst", "SELECT count(*) FROM acct WHERE id = 4242")
            .unwrap(),
        "1"
    );
    for w in &cluster.workers {
        assert_eq!(
            w.psql("dst", "SELECT count(*) FROM pg_prepared_xacts")
                .unwrap(),
            "0",
            "prepared transactions left"
        );
    }
    // The data really is distributed over the workers.
    let shards_with_rows = coord
        .psql(
            "dst",
            "SELECT count(DISTINCT nodeport) FROM citus_shards WHERE table_name = 'acct'::regclass",
        )
        .unwrap();
    assert_eq!(shards_with_rows, "2");

    // Every type, byte-identical, straight into the shards of a distributed table.
    source.psql("src", &fixture("copy_types.sql")).unwrap();
    coord
        .psql(
            "dst",
            &format!("{TARGET_NASTY} SELECT create_distributed_table('nasty', 'id');"),
        )
        .unwrap();
    let summary = copy_one_in_16kb_chunks(&src, &dst, "nasty");
    assert_eq!(summary["tables"][0]["worker_direct"], true, "{summary}");
    assert_eq!(nasty_dump(coord, "dst"), nasty_dump(&source, "src"));

    // The same values in binary, straight into the shards.
    let (src_sql, dst_sql) = binary_pair_sql("SELECT create_distributed_table('plain', 'id');");
    source.psql("src", &src_sql).unwrap();
    coord.psql("dst", &dst_sql).unwrap();
    let summary = copy_one_in_16kb_chunks(&src, &dst, "plain");
    assert_eq!(summary["tables"][0]["worker_direct"], true, "{summary}");
    assert_eq!(summary["tables"][0]["binary"], true, "{summary}");
    assert_eq!(plain_dump(coord, "dst"), plain_dump(&source, "src"));
    assert_eq!(misplaced_rows(coord, "plain"), 0);

    // The coordinator's bookkeeping transaction of a worker-direct chunk is terminated while the
    // shards' parts are prepared: they are rolled back and the chunk is copied again, once.
    let child = spawn_copy(&src, &dst, &["--truncate"], 400);
    assert!(
        terminate_idle(coord, "dst", "UPDATE citus_migrate.copy_progress"),
        "nothing to terminate"
    );
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("retrying"), "{}", stderr_of(&out));
    assert_eq!(
        coord.psql("dst", CHECKSUMS).unwrap(),
        source.psql("src", CHECKSUMS).unwrap()
    );
    assert_rows_match_bookkeeping(coord, "dst", true);
    for w in &cluster.workers {
        assert_eq!(
            w.psql("dst", "SELECT count(*) FROM pg_prepared_xacts")
                .unwrap(),
            "0",
            "prepared transactions left"
        );
    }

    // A worker down: a clear error, no hang, nothing half-done.
    let mut cluster = cluster;
    cluster.workers[1].stop();
    let started = Instant::now();
    let out = copy_cmd(&src, &dst)
        .args(["--table", "acct", "--truncate", "--max-retries", "1"])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("target"), "{}", stderr_of(&out));
    say_uncaptured(&format!("worker down: {}", stderr_of(&out).trim()));
    assert!(started.elapsed() < Duration::from_secs(110));
}

#[test]
fn text_and_uuid_distribution_columns_go_straight_to_the_shards_in_binary() {
    let Some(cluster) =
        citus_or_skip("text_and_uuid_distribution_columns_go_straight_to_the_shards_in_binary")
    else {
        return;
    };
    // Tenant ids of every length around lookup3's 12-byte blocks, multi-byte UTF-8, the empty string.
    let source = server_with(
        "src",
        "CREATE TABLE by_text (id text PRIMARY KEY, n int, v varchar(20)); \
         INSERT INTO by_text SELECT repeat(chr(97 + g % 26), g % 30) || g || CASE WHEN g % 7 = 0 THEN 'ünï😀' ELSE '' END, \
           g, 'v' || g FROM generate_series(1, 3000) g; \
         INSERT INTO by_text VALUES ('', 0, 'empty'); \
         CREATE TABLE by_uuid (id uuid PRIMARY KEY, n int8); \
         INSERT INTO by_uuid SELECT md5(g::text)::uuid, g FROM generate_series(1, 3000) g; \
         CREATE TYPE mood AS ENUM ('sad', 'ok'); \
         CREATE TABLE by_text_enum (id text PRIMARY KEY, m mood); \
         INSERT INTO by_text_enum SELECT 't' || g, 'ok' FROM generate_series(1, 500) g;",
    );
    cluster.create_database("dst").unwrap();
    let coord = &cluster.coordinator;
    coord
        .psql(
            "dst",
            "CREATE TABLE by_text (v varchar(20), n int, id text PRIMARY KEY); \
             CREATE TABLE by_uuid (n int8, id uuid PRIMARY KEY); \
             CREATE TYPE mood AS ENUM ('sad', 'ok'); \
             CREATE TABLE by_text_enum (id text PRIMARY KEY, m mood); \
             SELECT create_distributed_table('by_text', 'id'); \
             SELECT create_distributed_table('by_uuid', 'id'); \
             SELECT create_distributed_table('by_text_enum', 'id');",
        )
        .unwrap();
    // Too few open files allowed for a spill file per shard: a clear error before any data moves.
    let out = Command::new("bash")
        .args([
            "-c",
            &format!(
                "ulimit -n 64 && exec {} copy --source '{}' --target '{}' --table by_text --jobs 4",
                env!("CARGO_BIN_EXE_citus-migrate"),
                source.url("src"),
                cluster.url("dst")
            ),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("needs about") && stderr_of(&out).contains("ulimit -n"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(
        coord.psql("dst", "SELECT count(*) FROM by_text").unwrap(),
        "0"
    );

    let (summary, stderr) = copy_json(
        &source.url("src"),
        &cluster.url("dst"),
        &[
            "--table",
            "by_text",
            "--table",
            "by_uuid",
            "--table",
            "by_text_enum",
            "--chunk-size",
            "32kB",
            "--jobs",
            "2",
        ],
    );
    let paths = per_table(&summary, |t| {
        (
            t["worker_direct"].as_bool().unwrap(),
            t["binary"].as_bool().unwrap(),
        )
    });
    assert_eq!(
        paths,
        vec![(true, true), (true, true), (false, false)],
        "{summary}"
    );
    assert!(
        stderr.contains(
            "by_text_enum: rows go through the coordinator (its text distribution column"
        ),
        "{stderr}"
    );
    for table in ["by_text", "by_uuid", "by_text_enum"] {
        assert_eq!(misplaced_rows(coord, table), 0, "{table}");
        let sums = format!("SELECT count(*), md5(string_agg(id::text || ':' || n::text, ',' ORDER BY id::text)) FROM {table}");
        let sums = if table == "by_text_enum" {
            "SELECT count(*), md5(string_agg(id || m::text, ',' ORDER BY id)) FROM by_text_enum"
                .to_string()
        } else {
            sums
        };
        assert_eq!(
            coord.psql("dst", &sums).unwrap(),
            source.psql("src", &sums).unwrap(),
            "{table}"
        );
    }
    // Rows really sit on both workers.
    let nodes = coord
        .psql(
            "dst",
            "SELECT count(DISTINCT nodeport) FROM citus_shards WHERE table_name = 'by_text'::regclass AND shard_size > 8192",
        )
        .unwrap();
    assert_eq!(nodes, "2");
}

#[test]
fn chunks_straight_to_the_shards_are_sized_per_shard_unless_given() {
    let Some(cluster) =
        citus_or_skip("chunks_straight_to_the_shards_are_sized_per_shard_unless_given")
    else {
        return;
    };
    // About 47 MB of table: two 32 MB chunks through the coordinator, one chunk of up to 64 MB (4 MB
    // for each of its 16 shards) straight to the shards, six when --chunk-size says 8MB.
    let source = server_with(
        "src",
        "CREATE TABLE wide (id bigint PRIMARY KEY, pad text); \
         INSERT INTO wide SELECT g, repeat(md5(g::text), 31) FROM generate_series(1, 40000) g;",
    );
    cluster.create_database("dst").unwrap();
    let coord = &cluster.coordinator;
    coord
        .psql(
            "dst",
            "CREATE TABLE wide (id bigint PRIMARY KEY, pad text); \
             SELECT create_distributed_table('wide', 'id', shard_count => 16);",
        )
        .unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["--table", "wide", "--jobs", "2", "--truncate"];
        args.extend_from_slice(extra);
        let (summary, _) = copy_json(&source.url("src"), &cluster.url("dst"), &args);
        assert_eq!(
            coord.psql("dst", "SELECT count(*) FROM wide").unwrap(),
            "40000"
        );
        per_table(&summary, |t| {
            (
                t["worker_direct"].as_bool().unwrap(),
                t["chunks"].as_u64().unwrap(),
            )
        })[0]
    };
    assert_eq!(run(&["--via-coordinator"]), (false, 2));
    assert_eq!(run(&[]), (true, 1));
    assert_eq!(run(&["--chunk-size", "8MB"]), (true, 6));
    assert_eq!(misplaced_rows(coord, "wide"), 0);
}

/// A source with `items` (`rows` rows) and database `dst` on `cluster` with `items` distributed in 4
/// shards, plus `extra_target_sql`.
fn items_source_and_target(cluster: &LocalCitus, rows: u32, extra_target_sql: &str) -> LocalServer {
    let source = server_with(
        "src",
        &format!(
            "CREATE TABLE items (id int PRIMARY KEY, v text); \
             INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, {rows}) g;"
        ),
    );
    cluster.create_database("dst").unwrap();
    cluster
        .coordinator
        .psql(
            "dst",
            &format!(
                "CREATE TABLE items (id int PRIMARY KEY, v text); \
                 SELECT create_distributed_table('items', 'id', shard_count => 4); {extra_target_sql}"
            ),
        )
        .unwrap();
    source
}

#[test]
fn each_worker_finds_its_own_password_file_entry() {
    let Some(cluster) = citus_or_skip("each_worker_finds_its_own_password_file_entry") else {
        return;
    };
    let source = items_source_and_target(&cluster, 5000, "");
    let coord = &cluster.coordinator;
    // Each worker asks for a password of its own over TCP (Citus's own connections find theirs in
    // pg_dist_authinfo); the coordinator needs none. The password file names each worker.
    let home = tempfile::tempdir().unwrap();
    let mut pgpass = String::new();
    let passwords = workers_with_own_passwords(&cluster, "dst");
    for (w, pw) in cluster.workers.iter().zip(&passwords) {
        pgpass.push_str(&format!(
            "127.0.0.1:{}:*:postgres:{}\n",
            w.port,
            pw.replace(':', "\\:")
        ));
    }
    let passfile = home.path().join("pgpass");
    std::fs::write(&passfile, pgpass).unwrap();
    std::fs::set_permissions(
        &passfile,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let out = copy_cmd(&source.url("src"), &cluster.url("dst"))
        .env("PGPASSFILE", &passfile)
        .args(["--table", "items", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let summary: serde_json::Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert_eq!(
        per_table(&summary, |t| t["worker_direct"].as_bool().unwrap()),
        vec![true],
        "{}",
        stderr_of(&out)
    );
    assert_eq!(
        coord.psql("dst", "SELECT count(*) FROM items").unwrap(),
        "5000"
    );
    assert_eq!(misplaced_rows(coord, "items"), 0);
    assert!(!stderr_of(&out).contains("secret"), "{}", stderr_of(&out));
}

#[test]
fn leftover_prepared_transactions_are_resolved_even_through_the_coordinator() {
    let Some(cluster) =
        citus_or_skip("leftover_prepared_transactions_are_resolved_even_through_the_coordinator")
    else {
        return;
    };
    let source = items_source_and_target(
        &cluster,
        1000,
        "CREATE TABLE other (id int PRIMARY KEY); \
         SELECT create_distributed_table('other', 'id', shard_count => 4);",
    );
    let coord = &cluster.coordinator;
    let (src, dst) = (source.url("src"), cluster.url("dst"));
    let first = copy_cmd(&src, &dst)
        .args(["--table", "items"])
        .output()
        .unwrap();
    assert!(first.status.success(), "{}", stderr_of(&first));
    // What a run killed between PREPARE and its decision leaves on a worker: a prepared transaction
    // holding a lock on a shard of `items` (no bookkeeping row names it), and one of another table.
    let w = &cluster.workers[0];
    for (table, gid_chunk) in [("items", 0), ("other", 7)] {
        let oid = coord
            .psql("dst", &format!("SELECT '{table}'::regclass::oid"))
            .unwrap();
        let shard = coord
            .psql(
                "dst",
                &format!(
                    "SELECT shard_name('{table}'::regclass, shardid) FROM citus_shards \
                     WHERE table_name = '{table}'::regclass AND nodeport = {} LIMIT 1",
                    w.port
                ),
            )
            .unwrap();
        w.psql(
            "dst",
            &format!(
                "BEGIN; INSERT INTO {shard} (id) VALUES (-1); \
                 PREPARE TRANSACTION 'citus_migrate_{oid}_{gid_chunk}_00000000deadbeef_0';"
            ),
        )
        .unwrap();
    }
    // Through the coordinator, whose TRUNCATE would wait on that lock: resolved first.
    let out = copy_cmd(&src, &dst)
        .args(["--table", "items", "--truncate", "--via-coordinator"])
        .args(["--stall-timeout", "30"])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("resolved 1 prepared transaction(s)"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(
        coord
            .psql("dst", "SELECT count(*) || ' ' || min(id) FROM items")
            .unwrap(),
        "1000 1"
    );
    // The other table's transaction is not this run's business.
    assert_eq!(
        w.psql(
            "dst",
            "SELECT string_agg(split_part(gid, '_', 4), ',') FROM pg_prepared_xacts"
        )
        .unwrap(),
        "7"
    );
}

#[test]
fn terminated_backends_are_retried_then_reported() {
    let server = server_with("src", RESUME_SOURCE);
    server.create_database("dst").unwrap();
    server.psql("dst", RESUME_TARGET).unwrap();
    let (src, dst) = (server.url("src"), server.url("dst"));

    let child = spawn_copy(&src, &dst, &[], 400);
    // A target backend waiting to COMMIT a chunk, then a source backend between two chunks.
    let terminate = |db: &str, query_like: &str| terminate_idle(&server, db, query_like);
    assert!(
        terminate("dst", "UPDATE citus_migrate.copy_progress"),
        "no target backend to terminate"
    );
    assert!(terminate("src", "COPY"), "no source backend to terminate");
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("retrying"), "{}", stderr_of(&out));
    assert_eq!(
        server.psql("dst", CHECKSUMS).unwrap(),
        server.psql("src", CHECKSUMS).unwrap()
    );

    // With no retries left the run stops, naming the table and the chunk.
    let child = spawn_copy(&src, &dst, &["--truncate", "--max-retries", "0"], 400);
    assert!(terminate("dst", "UPDATE citus_migrate.copy_progress"));
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("failed at chunk") && (err.contains("acct") || err.contains("nokey")),
        "{err}"
    );
    assert!(err.contains("--resume"), "{err}");
    assert_rows_match_bookkeeping(&server, "dst", true);
}

#[test]
fn copies_through_pgbouncer_in_transaction_pooling_mode() {
    let server = nasty_pair();
    if let Err(e) = citus_migrate_core::local::pgbouncer_path() {
        say_uncaptured(&format!(
            "skipped: copies_through_pgbouncer_in_transaction_pooling_mode: {e}"
        ));
        return;
    }
    let bouncer =
        citus_migrate_core::local::LocalPgBouncer::start(&server).expect("start pgbouncer");
    let target = bouncer.url("dst");
    // Several streams: their transactions share the pooler's server connections.
    for extra in [&[][..], &["--truncate"][..]] {
        let out = copy_cmd(&server.url("src"), &target)
            .args(["--table", "nasty", "--chunk-size", "16kB", "--jobs", "6"])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        assert_eq!(nasty_dump(&server, "dst"), nasty_dump(&server, "src"));
    }
}

#[test]
fn export_then_import_round_trips_and_bad_csv_imports_nothing() {
    let server = nasty_pair();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nasty.csv");
    let out = bin()
        .args([
            "export",
            "--source",
            &server.url("src"),
            "--table",
            "nasty",
            "--output",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).contains("exported 2,017 rows"),
        "{}",
        stdout_of(&out)
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("id,t,ch,vc,b,"), "header: {:.80}", text);
    assert!(!text.contains("doubled"), "generated columns are left out");

    let out = bin()
        .args([
            "import",
            "--target",
            &server.url("dst"),
            "--table",
            "nasty",
            "--input",
        ])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(nasty_dump(&server, "dst"), nasty_dump(&server, "src"));

    server
        .psql("dst", "CREATE TABLE small (id int PRIMARY KEY, name text)")
        .unwrap();
    let import = |name: &str, content: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        bin()
            .args([
                "import",
                "--target",
                &server.url("dst"),
                "--table",
                "small",
                "--input",
            ])
            .arg(&path)
            .output()
            .unwrap()
    };
    let cases = [
        (
            "fields.csv",
            "id,name\n1,a\n2,\"multi\nline\"\n3,b,extra\n",
            "line 5: 3 fields where the header has 2",
        ),
        (
            "quote.csv",
            "id,name\n1,a\n2,\"never closed\n",
            "unterminated CSV quoted field",
        ),
        ("type.csv", "id,name\n1,a\nx,b\n", "line 3"),
        (
            "header.csv",
            "id,nope\n1,a\n",
            "the header names column nope, which the target table",
        ),
        ("empty.csv", "", "the file is empty"),
        ("utf8.csv", "id,name\n1,\u{1}ok\n2,\u{FFFD}\n", ""),
    ];
    for (name, content, expected) in cases {
        let out = import(name, content);
        if expected.is_empty() {
            assert!(out.status.success(), "{name}: {}", stderr_of(&out));
            server.psql("dst", "TRUNCATE small").unwrap();
            continue;
        }
        assert!(!out.status.success(), "{name} was accepted");
        assert!(
            stderr_of(&out).contains(expected),
            "{name}: {}",
            stderr_of(&out)
        );
        assert!(!stderr_of(&out).contains("panick"));
        assert_eq!(
            server.psql("dst", "SELECT count(*) FROM small").unwrap(),
            "0",
            "{name}: nothing imported"
        );
    }
    let mut bad = b"id,name\n1,ok\n2,".to_vec();
    bad.extend_from_slice(&[0xff, 0xfe, b'\n']);
    std::fs::write(dir.path().join("bytes.csv"), bad).unwrap();
    let out = bin()
        .args([
            "import",
            "--target",
            &server.url("dst"),
            "--table",
            "small",
            "--input",
        ])
        .arg(dir.path().join("bytes.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("line 3: invalid UTF-8"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(
        server.psql("dst", "SELECT count(*) FROM small").unwrap(),
        "0"
    );
}

#[test]
fn plan_file_selects_the_tables_and_a_broken_plan_is_a_usage_error() {
    let server = server_with(
        "src",
        "CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY);\
         CREATE TABLE c (id int PRIMARY KEY); INSERT INTO a SELECT generate_series(1, 50);\
         INSERT INTO b SELECT generate_series(1, 70); INSERT INTO c SELECT generate_series(1, 90);",
    );
    server.create_database("dst").unwrap();
    server
        .psql("dst", "CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY); CREATE TABLE c (id int PRIMARY KEY);")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    std::fs::write(
        &plan,
        r#"{"format_version": 1, "source": {"database": "src"}, "shard_count": 4, "tables": [
             {"schema": "public", "name": "a", "kind": "reference"},
             {"schema": "public", "name": "b", "kind": "distributed", "distribution_column": "id", "colocation_group": "b"}]}"#,
    )
    .unwrap();
    let out = copy_cmd(&server.url("src"), &server.url("dst"))
        .arg("--plan")
        .arg(&plan)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let counts = server
        .psql(
            "dst",
            "SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM b), (SELECT count(*) FROM c)",
        )
        .unwrap();
    assert_eq!(counts, "50|70|0", "only the plan's tables are copied");

    std::fs::write(&plan, "{\"tables\": [ {\"schema\": \"public\", \"name\": }").unwrap();
    let out = copy_cmd(&server.url("src"), &server.url("dst"))
        .arg("--plan")
        .arg(&plan)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("line 1"),
        "the error gives the position: {err}"
    );
}

/// Partitions follow their partitioned table in copy as in every selection: a partition named next to
/// its parent (directly or through --schema) is copied once, through the parent; a schema holding only
/// partitions of a table elsewhere copies those partitions.
#[test]
fn a_partition_listed_with_its_parent_is_copied_once() {
    const SCHEMA: &str = "CREATE SCHEMA archive;\
        CREATE TABLE events (id int, at date) PARTITION BY RANGE (at);\
        CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');\
        CREATE TABLE archive.events_old PARTITION OF events FOR VALUES FROM ('2000-01-01') TO ('2024-01-01');";
    let server = server_with(
        "src",
        &format!(
            "{SCHEMA} INSERT INTO events SELECT i, date '2023-12-01' + (i % 60) FROM generate_series(1, 600) i;"
        ),
    );
    for db in ["dst", "dst2"] {
        server.create_database(db).unwrap();
        server.psql(db, SCHEMA).unwrap();
    }
    let src = server.url("src");
    let out = copy_cmd(&src, &server.url("dst"))
        .args([
            "--table",
            "events",
            "--table",
            "events_2024",
            "--schema",
            "archive",
        ])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert!(
        stdout_of(&out).contains("copied 1 table: 600 rows"),
        "{}",
        stdout_of(&out)
    );
    let verify = |db: &str, selection: &[&str]| {
        bin()
            .args([
                "verify",
                "--format",
                "json",
                "--source",
                &src,
                "--target",
                &server.url(db),
            ])
            .args(selection)
            .output()
            .unwrap()
    };
    let out = verify("dst", &["--table", "events"]);
    assert_exit(&out, 0);
    assert_eq!(
        verified_tables(&out),
        (
            vec![
                "archive.events_old".to_string(),
                "public.events_2024".into()
            ],
            600
        )
    );

    let out = copy_cmd(&src, &server.url("dst2"))
        .args(["--schema", "archive"])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let out = verify("dst2", &["--schema", "archive"]);
    assert_exit(&out, 0);
    assert_eq!(
        verified_tables(&out),
        (vec!["archive.events_old".to_string()], 310)
    );
}

#[test]
fn a_resume_reports_what_it_copied_apart_from_what_earlier_runs_had_committed() {
    let server = server_with("src", RESUME_SOURCE);
    server.create_database("dst").unwrap();
    server.psql("dst", RESUME_TARGET).unwrap();
    let (src, dst) = (server.url("src"), server.url("dst"));
    let tables = [
        "--table",
        "acct",
        "--table",
        "nokey",
        "--chunk-size",
        "256kB",
    ];
    let all_rows = 100_000;

    let mut child = spawn_copy(&src, &dst, &[], 300);
    kill_after(&mut child, &server, "dst", 3, Duration::ZERO);
    let earlier: u64 = server
        .psql(
            "dst",
            "SELECT sum(rows) FROM citus_migrate.copy_progress WHERE committed_at IS NOT NULL",
        )
        .unwrap()
        .parse()
        .unwrap();
    assert!(earlier > 0 && earlier < all_rows, "{earlier}");
    let thousands = |n: u64| citus_migrate_core::util::thousands(n as i64);

    let resume = || {
        let out = copy_cmd(&src, &dst)
            .args(tables)
            .arg("--resume")
            .output()
            .unwrap();
        let text = stdout_of(&out);
        assert!(out.status.success(), "{text}{}", stderr_of(&out));
        text
    };

    // The resume copies the rest and says which rows were there before it.
    let text = resume();
    assert!(
        text.starts_with(&format!(
            "resumed the copy of 2 tables: this run copied {} rows, ",
            thousands(all_rows - earlier)
        )) && text.contains(&format!(
            "; earlier runs had committed {} rows, ",
            thousands(earlier)
        )),
        "{text}"
    );

    // A resume with nothing left copies nothing, and says so.
    let text = resume();
    assert!(
        text.starts_with("resumed the copy of 2 tables: this run copied 0 rows, 0 bytes in ")
            && text.contains(&format!(
                "; earlier runs had committed {} rows, ",
                thousands(all_rows)
            )),
        "{text}"
    );
    let all_bytes: u64 = server
        .psql("dst", "SELECT sum(bytes) FROM citus_migrate.copy_progress")
        .unwrap()
        .parse()
        .unwrap();
    let (again, _) = copy_json(&src, &dst, &[&tables[..], &["--resume"]].concat());
    assert_eq!(
        (again["rows"].as_u64(), again["bytes"].as_u64()),
        (Some(0), Some(0)),
        "{again}"
    );
    assert_eq!(
        (
            per_table(&again, |t| t["skipped_rows"].as_u64().unwrap())
                .iter()
                .sum::<u64>(),
            per_table(&again, |t| t["skipped_bytes"].as_u64().unwrap())
                .iter()
                .sum::<u64>()
        ),
        (all_rows, all_bytes),
        "{again}"
    );
}
