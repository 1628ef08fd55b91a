//! The advice in `analyze` (JSON, CSV, text) through the real binary, and how `generate` runs pg_dump.

use crate::common::*;

pub(crate) fn table<'a>(v: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no table {name}"))
}

#[test]
fn analyze_reports_the_advice_in_json_csv_and_text() {
    let server = server_with("app", &fixture("blockers.sql"));
    let url = server.url("app");
    let out = bin()
        .args(["analyze", "--format", "json", "--source", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["shard_count"]["count"], 32);
    assert!(v["shard_count"]["reason"]
        .as_str()
        .unwrap()
        .contains("Citus default"));
    let groups = v["colocation_groups"].as_array().unwrap();
    assert_eq!(groups[0]["name"], "accounts");
    assert_eq!(groups[0]["leader"]["name"], "accounts");
    let orders = table(&v, "orders");
    assert_eq!(orders["kind"], "distributed");
    assert_eq!(orders["distribution_column"], "account_id");
    assert_eq!(orders["colocation_group"], "accounts");
    assert!(!orders["reasons"].as_array().unwrap().is_empty());
    assert_eq!(orders["candidates"][0]["column"], "account_id");
    assert!(orders["candidates"][0]["score"].as_u64().is_some());
    // The catalog's fields are still there.
    assert_eq!(orders["primary_key"]["columns"][0], "id");
    let blockers = orders["blockers"].as_array().unwrap();
    let nulls = blockers
        .iter()
        .find(|b| b["code"] == "nulls_in_distribution_column")
        .expect("NULL blocker");
    assert_eq!(nulls["severity"], "error");
    assert!(
        nulls["message"]
            .as_str()
            .unwrap()
            .contains("NULL in 60 row(s)"),
        "{nulls}"
    );
    assert!(nulls["fix"]
        .as_str()
        .unwrap()
        .contains("WHERE account_id IS NULL"));
    let pk = blockers
        .iter()
        .find(|b| b["code"] == "pk_missing_distribution_column")
        .unwrap();
    assert!(
        pk["fix"]
            .as_str()
            .unwrap()
            .contains("PRIMARY KEY (account_id, id)"),
        "{pk}"
    );
    assert_eq!(table(&v, "featured_orders")["kind"], "reference");
    assert_eq!(table(&v, "logs")["kind"], "local");
    assert_eq!(table(&v, "logs_2024")["blockers"][0]["code"], "inheritance");

    let out = bin()
        .args(["analyze", "--format", "csv", "--source", &url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let csv = stdout_of(&out);
    let header = csv.lines().next().unwrap();
    assert!(
        header.ends_with(",kind,distribution_column,colocation_group,blockers"),
        "{header}"
    );
    assert!(
        csv.lines().any(|l| l.starts_with("legacy,invoices,")
            && l.contains(",distributed,account_id,accounts,colocation_type_mismatch")),
        "{csv}"
    );

    let out = bin().args(["analyze", "--source", &url]).output().unwrap();
    let text = stdout_of(&out);
    assert!(text.contains("Distribution advice: 32 shards"), "{text}");
    assert!(
        text.contains("Co-location group \"accounts\" (bigint, leader legacy.accounts)"),
        "{text}"
    );
    assert!(
        text.contains("ERROR   legacy.orders [pk_missing_distribution_column]"),
        "{text}"
    );
    assert!(
        text.contains("ALTER TABLE legacy.orders DROP CONSTRAINT orders_pkey, ADD CONSTRAINT orders_pkey PRIMARY KEY (account_id, id)"),
        "{text}"
    );

    let out = bin()
        .args([
            "analyze",
            "--format",
            "json",
            "--shard-count",
            "8",
            "--source",
            &url,
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["shard_count"]["count"], 8);
}

/// The NULLs of a distribution column counted in the data replace the statistics' estimate, in
/// `analyze` and in `generate` alike: NULLs fixed since the last ANALYZE are no longer reported.
#[test]
fn counted_nulls_replace_stale_statistics_in_analyze_and_generate() {
    let server = server_with("app", &fixture("blockers.sql"));
    server
        .psql(
            "app",
            "UPDATE legacy.orders SET account_id = 1 WHERE account_id IS NULL",
        )
        .unwrap();
    // The statistics still see the NULLs.
    assert_eq!(
        server
            .psql(
                "app",
                "SELECT null_frac > 0 FROM pg_stats WHERE schemaname = 'legacy' AND tablename = 'orders' AND attname = 'account_id'"
            )
            .unwrap(),
        "t"
    );
    let url = server.url("app");
    let out = bin()
        .args(["analyze", "--format", "json", "--source", &url])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let codes: Vec<&str> = table(&v, "orders")["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"pk_missing_distribution_column")
            && !codes.contains(&"nulls_in_distribution_column"),
        "{codes:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["generate", "--source", &url, "--out-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    // The blockers that need a person remain; the key becomes a change of the plan.
    assert_exit(&out, 1);
    let err = stderr_of(&out);
    assert!(
        err.contains("[trigger_on_distributed_table]")
            && err.contains("legacy.orders [key_extended]")
            && !err.contains("nulls_in_distribution_column"),
        "{err}"
    );
}

/// A stand-in pg_dump that reports `version` and writes its arguments and PG* environment to `log`.
fn fake_pg_dump(dir: &std::path::Path, version: &str, log: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("pg_dump");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'pg_dump (PostgreSQL) {version}'; exit 0; fi\necho \"ARGS $*\" >> {log}\nenv | grep '^PG' >> {log}\necho 'pg_dump: error: simulated failure' >&2\nexit 1\n",
            log = log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[test]
fn generate_refuses_an_older_pg_dump_and_never_puts_the_password_on_its_command_line() {
    let server = LocalServer::start(&ServerOptions {
        password: Some("s3cr3t-pw".into()),
        ..Default::default()
    })
    .unwrap();
    server.create_database("app").unwrap();
    server.psql("app", "CREATE TABLE t (id bigint PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100); ANALYZE").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");

    let old = fake_pg_dump(dir.path(), "9.6.24", &log);
    let out = bin()
        .args(["generate", "--source", &server.url("app"), "--out-dir"])
        .arg(dir.path().join("o"))
        .arg("--pg-dump")
        .arg(&old)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("pg_dump 9.6.24 is older than the source server (PostgreSQL 15"),
        "{err}"
    );
    assert!(!err.contains("s3cr3t-pw"), "{err}");

    let fake = fake_pg_dump(dir.path(), "99.0", &log);
    let out = bin()
        .args(["generate", "--source", &server.url("app"), "--out-dir"])
        .arg(dir.path().join("o"))
        .arg("--pg-dump")
        .arg(&fake)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("simulated failure") && err.contains("password=********"),
        "{err}"
    );
    assert!(!err.contains("s3cr3t-pw"), "{err}");
    let seen = std::fs::read_to_string(&log).unwrap();
    let args: Vec<&str> = seen.lines().filter(|l| l.starts_with("ARGS ")).collect();
    assert!(
        !args.is_empty()
            && args
                .iter()
                .all(|a| !a.contains("s3cr3t-pw") && a.contains("--section=")),
        "{seen}"
    );
    assert!(seen.lines().any(|l| l == "PGPASSWORD=s3cr3t-pw"), "{seen}");

    // The real pg_dump gets the password the same way and succeeds.
    let out = bin()
        .args(["generate", "--source", &server.url("app"), "--out-dir"])
        .arg(dir.path().join("real"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(!stdout_of(&out).contains("s3cr3t-pw"));
    for f in [
        "plan.json",
        "01-pre-data.sql",
        "02-distribute.sql",
        "03-post-data.sql",
        "rollback.sql",
    ] {
        let text = std::fs::read_to_string(dir.path().join("real").join(f)).unwrap();
        assert!(!text.contains("s3cr3t-pw"), "{f}");
    }
}
