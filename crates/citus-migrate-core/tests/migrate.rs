//! The library's migrate entry point, [`migrate`], against real servers: a rehearsal into plain
//! PostgreSQL (no distribution), the same into real Citus with the tables distributed, and a resume
//! after a crash injected through the `test_crash` hook (in a child process, as the hook aborts).

use citus_migrate_core::conninfo::ConnInfo;
use citus_migrate_core::local::{citus_or_skip, LocalServer, ServerOptions};
use citus_migrate_core::migrate::Step;
use citus_migrate_core::migrate::{migrate, MigrateOptions, TestCrash};
use citus_migrate_core::progress::Progress;
use citus_migrate_core::{Error, Side};

const SOURCE: &str = r#"
CREATE TABLE tenants (id bigint PRIMARY KEY, name text NOT NULL);
INSERT INTO tenants SELECT i, 't' || i FROM generate_series(1, 50) i;
CREATE TABLE orders (tenant_id bigint NOT NULL REFERENCES tenants, id bigserial, amount numeric,
                     PRIMARY KEY (tenant_id, id));
INSERT INTO orders (tenant_id, amount) SELECT 1 + i % 50, i / 3.0 FROM generate_series(1, 20000) i;
ANALYZE;
"#;

/// Both tables' rows in a fixed order: equal on both sides only for exactly the source's rows.
const ROWS: &str = "SELECT (SELECT count(*) || ' ' || md5(string_agg(id || name, ',' ORDER BY id)) FROM tenants) \
     || ' ' || (SELECT count(*) || ' ' || md5(string_agg(concat_ws('|', tenant_id, id, amount), ',' ORDER BY tenant_id, id)) FROM orders)";

struct Quiet;
impl Progress for Quiet {}

/// The child process of [`resume_after_a_crash_in_the_copy`]: migrates with the crash hook armed in the
/// copy, which aborts this process part-way.
const CHILD: &str = "CITUS_MIGRATE_CORE_TEST_CHILD";

fn options(work_dir: &std::path::Path, distribute: bool) -> MigrateOptions {
    MigrateOptions {
        work_dir: work_dir.to_path_buf(),
        jobs: 2,
        chunk_bytes: Some(64 << 10),
        distribute,
        ..MigrateOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rehearsal_into_postgresql_then_an_occupied_target_is_refused() {
    let server = LocalServer::start(&ServerOptions::default()).unwrap();
    for db in ["src", "dst"] {
        server.create_database(db).unwrap();
    }
    server.psql("src", SOURCE).unwrap();
    let src = ConnInfo::parse(Side::Source, &server.url("src")).unwrap();
    let dst = ConnInfo::parse(Side::Target, &server.url("dst")).unwrap();
    let work = tempfile::tempdir().unwrap();
    let summary = migrate(&src, &dst, &options(&work.path().join("w"), false), &Quiet)
        .await
        .unwrap_or_else(|f| panic!("migrate failed: {f}"));
    assert!(summary.equal && !summary.resumed, "{summary:?}");
    assert_eq!(summary.rows, 20050);
    assert_eq!(
        server.psql("dst", ROWS).unwrap(),
        server.psql("src", ROWS).unwrap()
    );
    // The sequence continues after the copied ids.
    assert_eq!(
        server
            .psql("dst", "SELECT nextval('orders_id_seq') > 20000")
            .unwrap(),
        "t"
    );

    // Into the same target again, fresh: refused before anything runs, typed with its remedy.
    let again = migrate(&src, &dst, &options(&work.path().join("w2"), false), &Quiet)
        .await
        .expect_err("the target already holds the tables");
    assert!(
        matches!(
            &again.error,
            Error::Precondition {
                side: Side::Target,
                remedy: Some(citus_migrate_core::error::Remedy::EmptyTargetOrResume),
                ..
            }
        ),
        "{again:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_into_citus_distributes_and_copies() {
    let Some(cluster) = citus_or_skip("migrate_into_citus_distributes_and_copies") else {
        return;
    };
    cluster.create_database("dst").unwrap();
    let source = LocalServer::start(&ServerOptions::default()).unwrap();
    source.create_database("src").unwrap();
    source.psql("src", SOURCE).unwrap();
    let src = ConnInfo::parse(Side::Source, &source.url("src")).unwrap();
    let dst = ConnInfo::parse(Side::Target, &cluster.url("dst")).unwrap();
    let work = tempfile::tempdir().unwrap();
    let summary = migrate(&src, &dst, &options(work.path(), true), &Quiet)
        .await
        .unwrap_or_else(|f| panic!("migrate failed: {f}"));
    assert!(summary.equal, "{summary:?}");
    assert_eq!(
        cluster.coordinator.psql("dst", ROWS).unwrap(),
        source.psql("src", ROWS).unwrap()
    );
    let layout = cluster
        .coordinator
        .psql(
            "dst",
            "SELECT string_agg(logicalrelid::text || ':' || partmethod::text, ',' ORDER BY logicalrelid::text) FROM pg_dist_partition",
        )
        .unwrap();
    // orders is hash-distributed; tenants is distributed or a reference table, as advised.
    assert!(
        layout.starts_with("orders:h,tenants:") && layout.len() == "orders:h,tenants:h".len(),
        "{layout}"
    );
}

/// In the child: migrate with the hook armed during the copy step (the process aborts there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_after_a_crash_in_the_copy() {
    if let Ok(spec) = std::env::var(CHILD) {
        let mut parts = spec.splitn(3, '\n');
        let (src, dst, dir) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        let opts = MigrateOptions {
            test_crash: Some(TestCrash {
                step: Step::Copy,
                during: true,
            }),
            ..options(std::path::Path::new(dir), false)
        };
        let src = ConnInfo::parse(Side::Source, src).unwrap();
        let dst = ConnInfo::parse(Side::Target, dst).unwrap();
        let _ = migrate(&src, &dst, &opts, &Quiet).await;
        panic!("the crash hook did not fire");
    }
    let server = LocalServer::start(&ServerOptions::default()).unwrap();
    for db in ["src", "dst"] {
        server.create_database(db).unwrap();
    }
    server.psql("src", SOURCE).unwrap();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("w");
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "resume_after_a_crash_in_the_copy", "--nocapture"])
        .env(
            CHILD,
            format!(
                "{}\n{}\n{}",
                server.url("src"),
                server.url("dst"),
                dir.display()
            ),
        )
        .output()
        .unwrap();
    // Killed by the hook's abort (a signal), not a failed assertion (exit code 101).
    assert_eq!(
        child.status.code(),
        None,
        "the child should have aborted in the copy: {}",
        String::from_utf8_lossy(&child.stderr)
    );
    assert!(dir.join("state.json").exists());

    let src = ConnInfo::parse(Side::Source, &server.url("src")).unwrap();
    let dst = ConnInfo::parse(Side::Target, &server.url("dst")).unwrap();
    let opts = MigrateOptions {
        resume: true,
        ..options(&dir, false)
    };
    let summary = migrate(&src, &dst, &opts, &Quiet)
        .await
        .unwrap_or_else(|f| panic!("the resumed migrate failed: {f}"));
    assert!(summary.resumed && summary.equal, "{summary:?}");
    assert_eq!(
        server.psql("dst", ROWS).unwrap(),
        server.psql("src", ROWS).unwrap()
    );
}
