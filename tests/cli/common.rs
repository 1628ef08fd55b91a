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
