//! Helpers shared by the end-to-end tests.

#![allow(dead_code)]

use assert_cmd::Command;

pub use citus_migrate_core::local::{citus_or_skip, LocalCitus, LocalServer, ServerOptions};

/// The real binary, with a clean environment for the variables it reads.
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_citus-migrate"));
    for var in [
        "CITUS_MIGRATE_SOURCE",
        "CITUS_MIGRATE_TARGET",
        "PGHOST",
        "PGHOSTADDR",
        "PGPORT",
        "PGUSER",
        "PGPASSWORD",
        "PGDATABASE",
        "PGSSLMODE",
        "PGSSLROOTCERT",
        "PGSSLCERT",
        "PGSSLKEY",
        "PGTARGETSESSIONATTRS",
        "PGPASSFILE",
        "PGCONNECT_TIMEOUT",
        "PGAPPNAME",
        "PGOPTIONS",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

/// A plain server with `sql` loaded into database `db` (created when not `postgres`).
pub fn server_with(db: &str, sql: &str) -> LocalServer {
    let server = LocalServer::start(&ServerOptions::default()).expect("start a local PostgreSQL");
    if db != "postgres" {
        server.create_database(db).unwrap();
    }
    server.psql(db, sql).expect("load fixture SQL");
    server
}

/// Makes each worker of `cluster` ask for a password of its own over TCP (`worker<i>:secret`, set
/// for `postgres`); Citus's own connections find theirs in `pg_dist_authinfo` of database `db`, the
/// coordinator needs none. Returns the passwords, one a worker.
pub fn workers_with_own_passwords(cluster: &LocalCitus, db: &str) -> Vec<String> {
    let mut passwords = Vec::new();
    for (i, w) in cluster.workers.iter().enumerate() {
        let pw = format!("worker{i}:secret");
        w.psql(
            "postgres",
            &format!("SET citus.enable_ddl_propagation = off; ALTER ROLE postgres PASSWORD '{pw}'"),
        )
        .unwrap();
        cluster
            .coordinator
            .psql(
                db,
                &format!(
                    "INSERT INTO pg_dist_authinfo SELECT nodeid, 'postgres', 'password={pw}' \
                     FROM pg_dist_node WHERE nodeport = {}",
                    w.port
                ),
            )
            .unwrap();
        std::fs::write(
            w.dir().join("data/pg_hba.conf"),
            "local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
        )
        .unwrap();
        w.psql("postgres", "SELECT pg_reload_conf()").unwrap();
        passwords.push(pw);
    }
    passwords
}

/// psql on `server`'s socket as its superuser, connected to `db`, without ~/.psqlrc; add the rest.
pub fn psql_command(server: &LocalServer, db: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(server.bindir().join("psql"));
    cmd.args(["-X", "-q", "-h"]).arg(server.dir()).args([
        "-p",
        &server.port.to_string(),
        "-U",
        &server.superuser,
        "-d",
        db,
    ]);
    cmd
}

/// Reads a fixture file from the repository's fixtures/ folder.
pub fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

pub fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Kills `copy`, a running copy into database `db` of `target`, once it committed a chunk (at most a
/// minute after the start).
pub fn kill_after_a_committed_chunk(
    copy: &mut std::process::Child,
    target: &LocalServer,
    db: &str,
) {
    citus_migrate_core::local::wait_until(std::time::Duration::from_secs(60), || {
        target
            .psql(
                db,
                "SELECT count(*) FROM citus_migrate.copy_progress WHERE committed_at IS NOT NULL",
            )
            .is_ok_and(|n| n != "0")
    });
    copy.kill().unwrap();
    copy.wait().unwrap();
}

/// Asserts the exit code, showing both outputs when it differs.
pub fn assert_exit(out: &std::process::Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}{}",
        stdout_of(out),
        stderr_of(out)
    );
}

/// The tables a `verify --format json` report compared, as `schema.name`, and their source rows in all.
pub fn verified_tables(out: &std::process::Output) -> (Vec<String>, i64) {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tables = v["tables"].as_array().unwrap();
    let names = tables
        .iter()
        .map(|t| {
            format!(
                "{}.{}",
                t["table"]["schema"].as_str().unwrap(),
                t["table"]["name"].as_str().unwrap()
            )
        })
        .collect();
    let rows = tables
        .iter()
        .map(|t| t["source_rows"].as_i64().unwrap())
        .sum();
    (names, rows)
}

/// Runs the binary with `args` and asserts its exit code, showing both outputs when it differs.
pub fn run_exit(args: &[&str], code: i32) -> std::process::Output {
    let out = bin().args(args).output().unwrap();
    assert_exit(&out, code);
    out
}
