//! `migrate --online`, `cutover`, `abort` and `status` end to end on real Citus: a write load on the
//! source through the copy and the catch-up (inserts, updates of other columns with a TOASTed column
//! left unchanged, updates of the distribution column, deletes, a table without a key, TRUNCATE), then
//! the cutover, verified exact and row for row; a crash between a target commit and the slot's advance,
//! then `--resume`; abort; DDL during catch-up.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::*;
use citus_migrate_core::local::wait_until;

const SCHEMA: &str = "
CREATE TABLE accounts (tenant int NOT NULL, id int NOT NULL, balance int NOT NULL, doc text,
                       PRIMARY KEY (tenant, id));
CREATE TABLE events (tenant int NOT NULL, id bigserial, kind text, PRIMARY KEY (tenant, id));
CREATE TABLE notes (author text, body text);
ALTER TABLE notes REPLICA IDENTITY FULL;
CREATE TABLE scratch (id int PRIMARY KEY, v text);
-- Values TOAST keeps out of line (not compressible): an update of another column sends them as unchanged.
CREATE FUNCTION big_text(seed int) RETURNS text LANGUAGE sql AS
  $$ SELECT string_agg(md5((seed * 1000 + i)::text), '') FROM generate_series(1, 150) i $$;
INSERT INTO accounts SELECT t, i, 100, big_text(t * 10000 + i) FROM generate_series(1, 20) t, generate_series(1, 100) i;
INSERT INTO events (tenant, kind) SELECT i % 20 + 1, 'seed' FROM generate_series(1, 3000) i;
INSERT INTO notes SELECT 'a' || i % 7, 'note ' || i FROM generate_series(1, 500) i;
INSERT INTO scratch SELECT i, 'v' || i FROM generate_series(1, 100) i;
";

const PLAN: &str = r#"{
  "format_version": 1,
  "source": { "database": "src", "server_version": "15" },
  "shard_count": 8,
  "tables": [
    { "schema": "public", "name": "accounts", "kind": "distributed", "distribution_column": "tenant",
      "colocation_group": "tenants" },
    { "schema": "public", "name": "events", "kind": "distributed", "distribution_column": "tenant",
      "colocation_group": "tenants" },
    { "schema": "public", "name": "notes", "kind": "reference" },
    { "schema": "public", "name": "scratch", "kind": "reference" }
  ]
}"#;

fn logical_source() -> LocalServer {
    source_with(&[("max_replication_slots", "8")], SCHEMA)
}

/// A source with `wal_level = logical` and `settings`, its database `src` holding `schema`.
pub(crate) fn source_with(settings: &[(&str, &str)], schema: &str) -> LocalServer {
    let mut all = vec![("wal_level".to_string(), "logical".to_string())];
    all.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let server = LocalServer::start(&ServerOptions {
        settings: all,
        ..ServerOptions::default()
    })
    .expect("start a local PostgreSQL with wal_level=logical");
    server.create_database("src").unwrap();
    server.psql("src", schema).unwrap();
    server
}

/// One round of the write load, through psql.
fn load_round(source: &LocalServer, n: u64) {
    source.psql("src", &load_sql(n)).unwrap();
}

/// Runs the load on its own thread until stopped; counts its rounds.
struct Load {
    stop: Arc<AtomicBool>,
    rounds: Arc<AtomicU64>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(source: &LocalServer) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(AtomicU64::new(0));
        // psql through the server's socket directory; a second handle on the same server.
        let url = source.url("src");
        let (s, r) = (stop.clone(), rounds.clone());
        let bindir = source.bindir().to_path_buf();
        let handle = std::thread::spawn(move || {
            let started = Instant::now();
            while !s.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(300) {
                let n = r.fetch_add(1, Ordering::SeqCst);
                let out = Command::new(bindir.join("psql"))
                    .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", &url, "-c"])
                    .arg(load_sql(n))
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "load: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        });
        Load {
            stop,
            rounds,
            handle: Some(handle),
        }
    }
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.handle.take().unwrap().join().unwrap();
        self.rounds.load(Ordering::SeqCst)
    }
}

/// One round of the write load: every kind of change, in a few transactions (psql -c runs each
/// statement outside BEGIN/COMMIT in its own).
fn load_sql(n: u64) -> String {
    let t = n % 20 + 1;
    format!(
        "BEGIN; INSERT INTO accounts VALUES ({t}, {id}, 1, big_text({id})); \
         UPDATE accounts SET balance = balance + 1 WHERE tenant = {t} AND id = {i}; \
         INSERT INTO events (tenant, kind) VALUES ({t}, 'load'); COMMIT; \
         UPDATE accounts SET tenant = tenant + 100 WHERE tenant = {t} AND id = {j}; \
         DELETE FROM accounts WHERE tenant = {t} AND id = {k}; \
         INSERT INTO notes VALUES ('load', 'n{n}'); DELETE FROM notes WHERE body = 'note {n}'; {truncate}",
        id = 1000 + n,
        i = n % 100 + 1,
        j = (n * 7) % 100 + 1,
        k = (n * 13) % 100 + 1,
        truncate = if n % 25 == 24 {
            format!("BEGIN; TRUNCATE scratch; INSERT INTO scratch VALUES ({n}, 'after truncate'); COMMIT;")
        } else {
            format!("INSERT INTO scratch VALUES (1000 + {n}, 'x') ON CONFLICT DO NOTHING;")
        }
    )
}

fn spawn_migrate(
    source: &str,
    target: &str,
    dir: &Path,
    plan: &Path,
    extra: &[&str],
    envs: &[(&str, &str)],
) -> Child {
    let log = std::fs::File::create(dir.with_extension("log")).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_citus-migrate"));
    cmd.args([
        "migrate",
        "--online",
        "--source",
        source,
        "--target",
        target,
        "--work-dir",
    ])
    .arg(dir)
    .arg("--plan")
    .arg(plan)
    .args(["--jobs", "2", "--chunk-size", "256kB"])
    .args(extra)
    .env("CITUS_MIGRATE_PLAIN_PROGRESS", "1")
    .stdout(Stdio::null())
    .stderr(log);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

pub(crate) fn log_of(dir: &Path) -> String {
    std::fs::read_to_string(dir.with_extension("log")).unwrap_or_default()
}

/// Waits until the catch-up has written its figures at least once.
pub(crate) fn wait_following(dir: &Path, child: &mut Child) {
    let ok = wait_until(Duration::from_secs(240), || {
        dir.join("online/status.json").exists() || child.try_wait().unwrap().is_some()
    });
    assert!(
        ok && child.try_wait().unwrap().is_none(),
        "not following: {}",
        log_of(dir)
    );
}

fn citus_migrate(args: &[&str]) -> std::process::Output {
    bin().args(args).output().unwrap()
}

/// Row-for-row comparison, independent of verify: each table's rows as text, sorted, hashed on both
/// sides.
fn same_rows(source: &LocalServer, cluster: &LocalCitus, db: &str) {
    same_rows_of(
        source,
        cluster,
        db,
        &["accounts", "events", "notes", "scratch"],
    );
}

/// [`same_rows`] for some of the tables.
fn same_rows_of(source: &LocalServer, cluster: &LocalCitus, db: &str, tables: &[&str]) {
    for (table, order) in [
        ("accounts", "tenant, id"),
        ("events", "tenant, id"),
        ("notes", "author, body"),
        ("scratch", "id"),
    ]
    .into_iter()
    .filter(|(t, _)| tables.contains(t))
    {
        let sql = format!(
            "SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY {order}), '')) FROM {table} t"
        );
        let a = source.psql("src", &sql).unwrap();
        let b = cluster.coordinator.psql(db, &sql).unwrap();
        assert_eq!(a, b, "{table}: source and target differ row for row");
    }
}

fn slots_and_publications(source: &LocalServer) -> String {
    source
        .psql(
            "src",
            "SELECT (SELECT count(*) FROM pg_replication_slots) || '/' || (SELECT count(*) FROM pg_publication)",
        )
        .unwrap()
}

pub(crate) struct Setup {
    pub cluster: LocalCitus,
    pub source: LocalServer,
    pub work: tempfile::TempDir,
    plan: PathBuf,
}

impl Setup {
    /// `migrate --online` into database `db` of the cluster, in the background.
    pub fn migrate(&self, db: &str, dir: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Child {
        spawn_migrate(
            &self.source.url("src"),
            &self.cluster.url(db),
            dir,
            &self.plan,
            extra,
            envs,
        )
    }

    pub fn abort(&self, dir: &Path) -> std::process::Output {
        bin()
            .args(["abort", "--source", &self.source.url("src"), "--work-dir"])
            .arg(dir)
            .output()
            .unwrap()
    }
}

fn setup(test: &str, db: &str) -> Option<Setup> {
    setup_with(test, db, "", PLAN)
}

/// [`setup`] with more tables on the source and another plan.
fn setup_with(test: &str, db: &str, schema: &str, plan_json: &str) -> Option<Setup> {
    let cluster = citus_or_skip(test)?;
    let source = logical_source();
    if !schema.is_empty() {
        source.psql("src", schema).unwrap();
    }
    Some(setup_on(cluster, source, db, plan_json))
}

/// An online migration of `source` into database `db` of `cluster` with the plan `plan_json`.
pub(crate) fn setup_on(
    cluster: LocalCitus,
    source: LocalServer,
    db: &str,
    plan_json: &str,
) -> Setup {
    cluster.create_database(db).unwrap();
    let work = tempfile::tempdir().unwrap();
    let plan = work.path().join("plan.json");
    std::fs::write(&plan, plan_json).unwrap();
    Setup {
        cluster,
        source,
        work,
        plan,
    }
}

/// `cutover` of the migration in `dir` into database `db`, to be run or spawned.
fn cutover_cmd(s: &Setup, db: &str, dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_citus-migrate"));
    cmd.args(["cutover", "--source", &s.source.url("src"), "--target"])
        .arg(s.cluster.url(db))
        .arg("--work-dir")
        .arg(dir)
        .args(extra);
    cmd
}

fn cutover(s: &Setup, db: &str, dir: &Path, extra: &[&str]) -> std::process::Output {
    cutover_cmd(s, db, dir, extra).output().unwrap()
}

/// A cutover that must succeed; its output.
pub(crate) fn cutover_ok(s: &Setup, db: &str, dir: &Path, extra: &[&str]) -> std::process::Output {
    let out = cutover(s, db, dir, extra);
    assert_eq!(
        out.status.code(),
        Some(0),
        "cutover: {}{}\nmigrate: {}",
        stdout_of(&out),
        stderr_of(&out),
        log_of(dir)
    );
    out
}

/// The source database's `default_transaction_read_only` as a new session sees it.
fn read_only(source: &LocalServer) -> String {
    source
        .psql("src", "SHOW default_transaction_read_only")
        .unwrap()
}

#[test]
fn online_migration_under_a_write_load_cuts_over_exactly() {
    let db = "online";
    let Some(s) = setup("online_migration_under_a_write_load_cuts_over_exactly", db) else {
        return;
    };
    let dir = s.work.path().join("w");
    let load = Load::start(&s.source);
    let mut child = s.migrate(db, &dir, &[], &[]);
    wait_following(&dir, &mut child);
    // One large transaction while following: it streams through the cursor and into the target in
    // pieces (the target transaction stays open across them).
    s.source
        .psql(
            "src",
            "INSERT INTO events (tenant, kind) SELECT i % 20 + 1, 'bulk' FROM generate_series(1, 30000) i",
        )
        .unwrap();
    // Let the catch-up apply under load for a while.
    std::thread::sleep(Duration::from_secs(5));
    let status = citus_migrate(&[
        "status",
        "--work-dir",
        dir.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(status.status.code(), Some(0), "{}", stderr_of(&status));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["stage"], "following", "{status}");
    // At least one round with a TRUNCATE (every 25th).
    assert!(wait_until(Duration::from_secs(120), || load
        .rounds
        .load(Ordering::SeqCst)
        >= 30));
    let rounds = load.stop();
    assert!(rounds >= 30, "the load ran {rounds} rounds");
    let out = cutover_ok(&s, db, &dir, &[]);
    assert!(
        stdout_of(&out).contains("replication slot and publication dropped"),
        "{}",
        stdout_of(&out)
    );
    let code = child.wait().unwrap();
    assert!(code.success(), "migrate --online: {}", log_of(&dir));
    same_rows(&s.source, &s.cluster, db);
    assert_eq!(slots_and_publications(&s.source), "0/0");
    // Moved rows are on the shard of their new tenant: Citus finds them by it.
    let moved = s
        .cluster
        .coordinator
        .psql(db, "SELECT count(*) > 0 FROM accounts WHERE tenant > 100")
        .unwrap();
    assert_eq!(moved, "t");
}

/// Crashes (the process aborts as `kill -9` would end it) in the copy, in the catch-up between a target
/// commit and the slot's advance, and in the cutover's drain with the source's writes blocked; each
/// time the same command with `--resume` (or cutover again) continues, and every change lands once.
#[test]
fn online_crashes_in_copy_catch_up_and_cutover_resume_exactly_once() {
    let db = "online_crash";
    let Some(s) = setup(
        "online_crashes_in_copy_catch_up_and_cutover_resume_exactly_once",
        db,
    ) else {
        return;
    };
    let dir = s.work.path().join("w");
    let load = Load::start(&s.source);
    let mut child = s.migrate(
        db,
        &dir,
        &[],
        &[("CITUS_MIGRATE_TEST_CRASH_IN_STEP", "copy")],
    );
    assert!(
        !child.wait().unwrap().success(),
        "the copy crash hook did not fire: {}",
        log_of(&dir)
    );
    // The interrupted online copy starts over from a new snapshot; the slot from before it stays.
    let mut child = s.migrate(
        db,
        &dir,
        &["--resume"],
        &[("CITUS_MIGRATE_TEST_ONLINE_CRASH_AFTER_COMMITS", "3")],
    );
    assert!(
        !child.wait().unwrap().success(),
        "the catch-up crash hook did not fire: {}",
        log_of(&dir)
    );
    // The slot was not advanced past the last target commit: the resumed run reads those
    // transactions again and must skip them.
    let mut child = s.migrate(db, &dir, &["--resume"], &[]);
    wait_following(&dir, &mut child);
    std::thread::sleep(Duration::from_secs(3));
    load.stop();
    let out = cutover_cmd(&s, db, &dir, &["--block-writes"])
        .env("CITUS_MIGRATE_TEST_ONLINE_CRASH_AFTER_COMMITS", "1")
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the cutover crash hook did not fire: {}",
        stdout_of(&out)
    );
    assert!(child.wait().unwrap().success(), "{}", log_of(&dir));
    // The crash left the source read-only; the next cutover takes over and restores it, even
    // without being asked to block the writes itself.
    assert_eq!(read_only(&s.source), "on");
    let out = cutover_ok(&s, db, &dir, &[]);
    assert!(
        stdout_of(&out).contains("writes blocked on the source for"),
        "{}",
        stdout_of(&out)
    );
    assert!(
        stderr_of(&out).contains("an interrupted cutover left the source's database read-only"),
        "{}",
        stderr_of(&out)
    );
    same_rows(&s.source, &s.cluster, db);
    assert_eq!(slots_and_publications(&s.source), "0/0");
    // The source takes writes again.
    s.source
        .psql("src", "INSERT INTO scratch VALUES (-1, 'after cutover')")
        .unwrap();
}

#[test]
fn online_abort_and_ddl_during_catch_up() {
    let db = "online_ddl";
    let Some(s) = setup("online_abort_and_ddl_during_catch_up", db) else {
        return;
    };
    // DDL while following: the run stops naming the table and the change; what came before is applied.
    let dir = s.work.path().join("ddl");
    let mut child = s.migrate(db, &dir, &[], &[]);
    wait_following(&dir, &mut child);
    load_round(&s.source, 1);
    s.source
        .psql("src", "ALTER TABLE accounts ADD COLUMN flag int; INSERT INTO accounts VALUES (1, 99999, 1, 'x', 1)")
        .unwrap();
    let ok = wait_until(Duration::from_secs(60), || {
        child.try_wait().unwrap().is_some()
    });
    assert!(ok, "migrate kept running after DDL: {}", log_of(&dir));
    assert!(!child.wait().unwrap().success());
    let log = log_of(&dir);
    assert!(
        log.contains("the structure of public.accounts changed on the source")
            && log.contains("flag"),
        "{log}"
    );
    // Nothing of the DDL's transaction reached the target.
    let n = s
        .cluster
        .coordinator
        .psql(db, "SELECT count(*) FROM accounts WHERE id = 99999")
        .unwrap();
    assert_eq!(n, "0");
    assert_eq!(slots_and_publications(&s.source), "1/1");
    // Abort: slot and publication gone.
    let out = s.abort(&dir);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(stdout_of(&out).contains("dropped"), "{}", stdout_of(&out));
    assert_eq!(slots_and_publications(&s.source), "0/0");
    // A second abort is refused: it is over.
    let out = s.abort(&dir);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("was aborted"),
        "{}",
        stderr_of(&out)
    );

    // Abort of a run that is following: it stops the run, which exits 0.
    s.source
        .psql("src", "ALTER TABLE accounts DROP COLUMN flag")
        .unwrap();
    s.cluster.create_database("online_abort").unwrap();
    let dir = s.work.path().join("abort");
    let mut child = s.migrate("online_abort", &dir, &[], &[]);
    wait_following(&dir, &mut child);
    let out = s.abort(&dir);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(child.wait().unwrap().success(), "{}", log_of(&dir));
    assert_eq!(slots_and_publications(&s.source), "0/0");
}

#[test]
fn online_refuses_a_source_without_logical_decoding_with_the_fix() {
    let Some(cluster) =
        citus_or_skip("online_refuses_a_source_without_logical_decoding_with_the_fix")
    else {
        return;
    };
    cluster.create_database("nolog").unwrap();
    let source = server_with("src", "CREATE TABLE t (a int); INSERT INTO t VALUES (1);");
    let work = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "migrate",
            "--online",
            "--source",
            &source.url("src"),
            "--target",
            &cluster.url("nolog"),
            "--work-dir",
        ])
        .arg(work.path().join("w"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("ALTER SYSTEM SET wal_level = logical"),
        "{err}"
    );
    assert!(err.contains("REPLICA IDENTITY FULL"), "{err}");
}

/// The recorded status of `step` in the work directory's state.json.
fn step_status(dir: &Path, step: &str) -> Option<String> {
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("state.json")).ok()?).ok()?;
    state["steps"]
        .as_array()?
        .iter()
        .find(|s| s["step"] == step)
        .and_then(|s| s["status"].as_str().map(str::to_string))
}

/// Sends SIGKILL (`Child::kill` on Unix) to a process that must still be running, and reaps it.
fn kill_9(child: &mut Child, what: &str, log: &str) {
    assert!(
        child.try_wait().unwrap().is_none(),
        "{what} ended before the kill: {log}"
    );
    child.kill().unwrap();
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(9), "{what}: {status:?}");
}

/// Kills (-9) a run once its copy has committed a few chunks; the copy step stays unfinished.
fn kill_9_in_copy(dir: &Path, child: &mut Child, what: &str) {
    let copy_log = dir.join("copy").join("copy.log");
    let started = wait_until(Duration::from_secs(240), || {
        std::fs::read_to_string(&copy_log).is_ok_and(|l| l.lines().count() >= 3)
            || child.try_wait().unwrap().is_some()
    });
    assert!(started, "the copy did not start: {}", log_of(dir));
    kill_9(child, what, &log_of(dir));
    assert_eq!(step_status(dir, "copy").as_deref(), Some("running"));
}

/// Real `kill -9` from outside, under the write load: `migrate --online` in its copy, the resumed run
/// while it follows, and `cutover --block-writes` after it made the source read-only; each time the
/// same command again (`--resume`, cutover) continues, and the target ends exact.
#[test]
fn online_kill_9_in_copy_catch_up_and_cutover_then_resume() {
    let db = "online_kill";
    let Some(s) = setup("online_kill_9_in_copy_catch_up_and_cutover_then_resume", db) else {
        return;
    };
    let dir = s.work.path().join("w");
    let load = Load::start(&s.source);
    // 1. In the copy: each stream pauses around its chunks' commits, so the copy of ~40 chunks of
    // 256 kB takes many seconds; killed once a few chunks are committed.
    let mut child = s.migrate(db, &dir, &[], &[("CITUS_MIGRATE_TEST_PAUSE_MS", "300")]);
    kill_9_in_copy(&dir, &mut child, "migrate --online in its copy");
    assert!(dir.join("online/snapshot.json").exists());
    assert!(
        !dir.join("copy/summary.json").exists(),
        "the copy had finished"
    );
    assert_eq!(slots_and_publications(&s.source), "1/1");

    // 2. In the catch-up: the resumed run copies again from a new snapshot, then follows; killed
    // after it has applied some batches.
    let mut child = s.migrate(db, &dir, &["--resume"], &[]);
    wait_following(&dir, &mut child);
    let applied = wait_until(Duration::from_secs(120), || {
        std::fs::read_to_string(dir.join("online/status.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .is_some_and(|v| v["transactions"].as_u64().unwrap_or(0) >= 20)
            || child.try_wait().unwrap().is_some()
    });
    assert!(applied, "the catch-up applied nothing: {}", log_of(&dir));
    kill_9(
        &mut child,
        "migrate --online while following",
        &log_of(&dir),
    );
    assert_eq!(step_status(&dir, "copy").as_deref(), Some("done"));

    // The load goes on while nothing follows; the next run takes over where the target says.
    std::thread::sleep(Duration::from_secs(2));
    let mut child = s.migrate(db, &dir, &["--resume"], &[]);
    let resumed = wait_until(Duration::from_secs(240), || {
        log_of(&dir).contains("transactions (") || child.try_wait().unwrap().is_some()
    });
    assert!(
        resumed && child.try_wait().unwrap().is_none(),
        "the resumed run does not follow: {}",
        log_of(&dir)
    );
    std::thread::sleep(Duration::from_secs(3));
    load.stop();

    // 3. In the cutover, once it has blocked the source's writes.
    let cut_log = s.work.path().join("cutover.log");
    let mut cut = cutover_cmd(&s, db, &dir, &["--block-writes"])
        .env("CITUS_MIGRATE_PLAIN_PROGRESS", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&cut_log).unwrap())
        .spawn()
        .unwrap();
    let blocked = wait_until(Duration::from_secs(180), || {
        std::fs::read_to_string(&cut_log).is_ok_and(|l| l.contains("== drain"))
            || cut.try_wait().unwrap().is_some()
    });
    assert!(blocked, "the cutover did not start its drain");
    kill_9(
        &mut cut,
        "cutover --block-writes",
        &std::fs::read_to_string(&cut_log).unwrap_or_default(),
    );
    // The following run was asked to stop by the cutover and ended cleanly.
    assert!(child.wait().unwrap().success(), "{}", log_of(&dir));
    // The killed cutover left the source read-only, the slot and the publication in place.
    assert_eq!(read_only(&s.source), "on");
    assert_eq!(slots_and_publications(&s.source), "1/1");
    let status = citus_migrate(&[
        "status",
        "--work-dir",
        dir.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["stage"], "following", "{status}");

    let out = cutover_ok(&s, db, &dir, &["--block-writes"]);
    assert!(
        stdout_of(&out).contains("replication slot and publication dropped"),
        "{}",
        stdout_of(&out)
    );
    same_rows(&s.source, &s.cluster, db);
    assert_eq!(slots_and_publications(&s.source), "0/0");
    assert_eq!(read_only(&s.source), "off");
    s.source
        .psql("src", "INSERT INTO scratch VALUES (-1, 'after cutover')")
        .unwrap();
}

/// The target's tables for `copy`, which copies into existing tables: the schema without the
/// load's function, accounts and events distributed.
const TARGET_TABLES: &str = "
CREATE TABLE accounts (tenant int NOT NULL, id int NOT NULL, balance int NOT NULL, doc text,
                       PRIMARY KEY (tenant, id));
CREATE TABLE events (tenant int NOT NULL, id bigserial, kind text, PRIMARY KEY (tenant, id));
CREATE TABLE notes (author text, body text);
CREATE TABLE scratch (id int PRIMARY KEY, v text);
SELECT create_distributed_table('accounts', 'tenant', shard_count => 8);
SELECT create_distributed_table('events', 'tenant', colocate_with => 'accounts');
SELECT create_reference_table('notes');
SELECT create_reference_table('scratch');
";

/// `copy --online` of a table selection under the write load, which also writes tables outside it:
/// the publication lists only the selection, only its changes are applied, the cutover verifies it
/// exact and sets the sequence it owns.
#[test]
fn online_copy_of_a_table_selection_follows_only_it_and_cuts_over() {
    let db = "online_copy";
    let Some(s) = setup(
        "online_copy_of_a_table_selection_follows_only_it_and_cuts_over",
        db,
    ) else {
        return;
    };
    s.cluster.coordinator.psql(db, TARGET_TABLES).unwrap();
    let dir = s.work.path().join("w");
    let load = Load::start(&s.source);
    let copy = |extra: &[&str], envs: &[(&str, &str)]| {
        Command::new(env!("CARGO_BIN_EXE_citus-migrate"))
            .args(["copy", "--online", "-t", "accounts", "-t", "public.events"])
            .args([
                "--source",
                &s.source.url("src"),
                "--target",
                &s.cluster.url(db),
            ])
            .args(["--jobs", "2", "--chunk-size", "256kB", "--work-dir"])
            .arg(&dir)
            .args(extra)
            .envs(envs.iter().copied())
            .env("CITUS_MIGRATE_PLAIN_PROGRESS", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.with_extension("log")).unwrap())
            .spawn()
            .unwrap()
    };
    // Killed (-9) in its copy, then resumed: the copy starts over from a new snapshot.
    let mut child = copy(&[], &[("CITUS_MIGRATE_TEST_PAUSE_MS", "300")]);
    kill_9_in_copy(&dir, &mut child, "copy --online in its copy");
    let mut child = copy(&["--resume"], &[]);
    wait_following(&dir, &mut child);
    let published = s
        .source
        .psql(
            "src",
            "SELECT string_agg(schemaname || '.' || tablename, ',' ORDER BY tablename) FROM pg_publication_tables",
        )
        .unwrap();
    assert_eq!(published, "public.accounts,public.events");
    // A second online copy into the same work directory is refused while this one runs.
    let out = citus_migrate(&[
        "copy",
        "--online",
        "--resume",
        "-t",
        "accounts",
        "-t",
        "public.events",
        "--source",
        &s.source.url("src"),
        "--target",
        &s.cluster.url(db),
        "--work-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("another citus-migrate run"),
        "{}",
        stderr_of(&out)
    );
    std::thread::sleep(Duration::from_secs(4));
    let rounds = load.stop();
    assert!(rounds >= 5, "the load ran {rounds} rounds");
    let out = cutover_ok(&s, db, &dir, &["--block-writes"]);
    assert!(
        stdout_of(&out).contains("replication slot and publication dropped"),
        "{}",
        stdout_of(&out)
    );
    assert!(child.wait().unwrap().success(), "{}", log_of(&dir));
    same_rows_of(&s.source, &s.cluster, db, &["accounts", "events"]);
    assert_eq!(slots_and_publications(&s.source), "0/0");
    assert_eq!(read_only(&s.source), "off");
    // The tables outside the selection got nothing, though the load wrote them all along.
    let outside = s
        .cluster
        .coordinator
        .psql(
            db,
            "SELECT (SELECT count(*) FROM notes) + (SELECT count(*) FROM scratch)",
        )
        .unwrap();
    assert_eq!(outside, "0");
    // The sequence the selection owns is past the source's value.
    let seq = "SELECT last_value FROM events_id_seq";
    let (a, b) = (
        s.source.psql("src", seq).unwrap(),
        s.cluster.coordinator.psql(db, seq).unwrap(),
    );
    assert!(
        b.parse::<i64>().unwrap() >= a.parse::<i64>().unwrap(),
        "{a} vs {b}"
    );
}

/// A source where `tasks` reaches its tenant only through `projects`: the plan adds `tenant_id` to
/// `tasks` on the target, filled from the project's row.
const ADDED_SCHEMA: &str = "
CREATE TABLE projects (id bigint PRIMARY KEY, tenant_id bigint NOT NULL, name text);
CREATE TABLE tasks (id bigint PRIMARY KEY, project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
                    title text);
INSERT INTO projects SELECT g, 1 + g % 20, 'p' || g FROM generate_series(1, 200) g;
INSERT INTO tasks SELECT g, 1 + g % 200, 't' || g FROM generate_series(1, 3000) g;
";

const ADDED_PLAN: &str = r#"{
  "format_version": 1,
  "source": { "database": "src" },
  "shard_count": 8,
  "tables": [
    { "schema": "public", "name": "projects", "kind": "distributed", "distribution_column": "tenant_id",
      "colocation_group": "tenant", "extend_keys": true },
    { "schema": "public", "name": "tasks", "kind": "distributed", "distribution_column": "tenant_id",
      "colocation_group": "tenant", "extend_keys": true,
      "changes": [ { "change": "add_column", "column": "tenant_id", "through": ["tasks_project_id_fkey"] } ] }
  ]
}"#;

/// One round of writes to the added column's table: a project and its first task in one
/// transaction, a task of an existing project, an update of another column, an update that moves a
/// task to another project (and so, mostly, another tenant), a delete, a project deleted with its
/// tasks (cascade on both sides).
fn added_load_sql(n: u64) -> String {
    format!(
        "BEGIN; INSERT INTO projects VALUES ({p}, {tenant}, 'new'); \
         INSERT INTO tasks VALUES ({t1}, {p}, 'first'); COMMIT; \
         INSERT INTO tasks VALUES ({t2}, {existing}, 'x'); \
         UPDATE tasks SET title = 'u{n}' WHERE id = {a}; \
         UPDATE tasks SET project_id = {other} WHERE id = {b}; \
         DELETE FROM tasks WHERE id = {c}; \
         DELETE FROM projects WHERE id = {gone};",
        p = 1000 + n,
        tenant = 1 + n % 20,
        t1 = 100_000 + n,
        t2 = 200_000 + n,
        existing = 1 + n % 200,
        a = 1 + (n * 7) % 3000,
        other = 1 + (n * 11) % 200,
        b = 1 + (n * 13) % 3000,
        c = 1 + (n * 17) % 3000,
        gone = 1000 + n.saturating_sub(3),
    )
}

/// `migrate --online` with a plan that adds the tenant column to `tasks`: the catch-up looks each new
/// or moved task's tenant up from its project's row on the target; the cutover verifies the column
/// (computed from the project on the source) exact.
#[test]
fn online_catch_up_fills_a_column_the_plan_adds() {
    let db = "online_added";
    let Some(s) = setup_with(
        "online_catch_up_fills_a_column_the_plan_adds",
        db,
        ADDED_SCHEMA,
        ADDED_PLAN,
    ) else {
        return;
    };
    let (source, cluster) = (&s.source, &s.cluster);
    // An online copy does not take the plan (only migrate records it for the cutover): refused
    // before anything is created.
    let cp = s.work.path().join("cp");
    let out = bin()
        .args([
            "copy",
            "--online",
            "--source",
            &source.url("src"),
            "--target",
        ])
        .arg(cluster.url(db))
        .arg("--plan")
        .arg(&s.plan)
        .arg("--work-dir")
        .arg(&cp)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("public.tasks gets a column on the target"),
        "{}",
        stderr_of(&out)
    );
    assert!(!cp.exists());
    assert_eq!(slots_and_publications(source), "0/0");
    let dir = s.work.path().join("w");
    let mut child = s.migrate(db, &dir, &["-t", "projects", "-t", "tasks"], &[]);
    let mut n = 0;
    // Writes before and during the copy, and through the catch-up.
    while !dir.join("online/status.json").exists() && child.try_wait().unwrap().is_none() {
        source.psql("src", &added_load_sql(n)).unwrap();
        n += 1;
    }
    wait_following(&dir, &mut child);
    for _ in 0..30 {
        source.psql("src", &added_load_sql(n)).unwrap();
        n += 1;
    }
    std::thread::sleep(Duration::from_secs(2));
    cutover_ok(&s, db, &dir, &[]);
    assert!(child.wait().unwrap().success(), "{}", log_of(&dir));
    assert_eq!(slots_and_publications(source), "0/0");
    // Row for row on the source's columns, and every task has its project's tenant.
    let co = &cluster.coordinator;
    for sql in [
        "SELECT count(*) || ':' || md5(string_agg((id, tenant_id, name)::text, '|' ORDER BY id)) FROM projects",
        "SELECT count(*) || ':' || md5(string_agg((id, project_id, title)::text, '|' ORDER BY id)) FROM tasks",
    ] {
        assert_eq!(source.psql("src", sql).unwrap(), co.psql(db, sql).unwrap(), "{sql}");
    }
    let wrong = co
        .psql(
            db,
            "SELECT count(*) FROM tasks t LEFT JOIN projects p ON p.id = t.project_id AND p.tenant_id = t.tenant_id \
             WHERE p.id IS NULL",
        )
        .unwrap();
    assert_eq!(wrong, "0");
    // Tasks inserted and moved during the catch-up are among them.
    let caught_up = co
        .psql(
            db,
            &format!("SELECT count(*) FROM tasks WHERE id >= 200000 + {}", n - 30),
        )
        .unwrap();
    assert_eq!(caught_up, "30");
}
