//! `citus-migrate verify` and `completions` through the real binary.

use crate::common::*;

const SQL: &str = "CREATE TABLE accounts (id bigserial PRIMARY KEY, name text, balance numeric);\
    INSERT INTO accounts (name, balance) SELECT 'acct ' || i, i * 10.5 FROM generate_series(1, 2000) i;\
    CREATE TABLE notes (body text);\
    INSERT INTO notes SELECT 'note ' || i FROM generate_series(1, 100) i;";

#[test]
fn verify_exits_0_when_equal_and_1_listing_every_difference() {
    let server = server_with("src", SQL);
    server.create_database("dst").unwrap();
    server.psql("dst", SQL).unwrap();
    let run = |extra: &[&str]| {
        bin()
            .args([
                "verify",
                "--source",
                &server.url("src"),
                "--target",
                &server.url("dst"),
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout_of(&out),
        stderr_of(&out)
    );
    assert!(
        stdout_of(&out).contains("OK: 2 tables, 2,100 rows"),
        "{}",
        stdout_of(&out)
    );

    server.psql("dst", "UPDATE accounts SET name = 'acct 7!' WHERE id = 7; DELETE FROM notes WHERE body = 'note 5'").unwrap();
    let out = run(&[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout_of(&out),
        stderr_of(&out)
    );
    let text = stdout_of(&out);
    assert!(text.contains("2 difference(s)"), "{text}");
    assert!(text.contains("different contents"), "{text}");
    assert!(
        text.contains("100 rows on the source, 99 on the target"),
        "{text}"
    );
    assert!(
        stderr_of(&out).contains("verify: 2 difference(s)"),
        "{}",
        stderr_of(&out)
    );

    let out = run(&["--format", "json", "--table", "accounts"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["equal"], false);
    assert_eq!(v["differences"].as_array().unwrap().len(), 1);
    assert_eq!(v["differences"][0]["kind"], "content");
    assert_eq!(v["tables"].as_array().unwrap().len(), 1);

    let out = run(&["--table", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("matches the --schema/--table pattern(s) \"nope\""),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn verify_names_an_unreachable_target() {
    let server = server_with("src", SQL);
    let port = citus_migrate_core::local::free_port().unwrap();
    let out = bin()
        .args([
            "verify",
            "--source",
            &server.url("src"),
            "--target",
            &format!("postgresql://postgres:sekrit@127.0.0.1:{port}/x"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(
        err.contains("cannot connect to the target database"),
        "{err}"
    );
    assert!(!err.contains("sekrit"), "{err}");
}

#[test]
fn completions_for_bash_and_zsh() {
    for shell in ["bash", "zsh", "fish"] {
        let out = bin().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{}", stderr_of(&out));
        let text = stdout_of(&out);
        assert!(
            text.contains("verify") && text.contains("source"),
            "{shell}: {}",
            &text[..200.min(text.len())]
        );
    }
    let out = bin().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

const PARTITIONED: &str =
    "CREATE TABLE events (id int, at date, body text) PARTITION BY RANGE (at);\
    CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');\
    CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')\
        PARTITION BY RANGE (id);\
    CREATE TABLE events_2025_low PARTITION OF events_2025 FOR VALUES FROM (0) TO (1000);\
    CREATE TABLE events_2025_high PARTITION OF events_2025 FOR VALUES FROM (1000) TO (MAXVALUE);\
    CREATE TABLE notes (body text);";

#[test]
fn verify_of_a_partitioned_table_compares_its_partitions_and_never_nothing() {
    let server = server_with(
        "src",
        &format!(
            "{PARTITIONED}\
             INSERT INTO events SELECT i, date '2024-06-01' + (i % 400), 'e' || i FROM generate_series(1, 3000) i;\
             INSERT INTO notes VALUES ('n');"
        ),
    );
    server.create_database("dst").unwrap();
    server.psql("dst", PARTITIONED).unwrap();
    let (src, dst) = (server.url("src"), server.url("dst"));
    let verify = |extra: &[&str]| {
        bin()
            .args(["verify", "--source", &src, "--target", &dst])
            .args(extra)
            .output()
            .unwrap()
    };
    // Nothing copied yet: the partitions differ (before, nothing was compared and this was "equal").
    let out = verify(&["--table", "events"]);
    assert_exit(&out, 1);
    let text = stdout_of(&out);
    assert!(text.contains("3 difference(s)"), "{text}");
    for p in ["events_2024", "events_2025_low", "events_2025_high"] {
        assert!(text.contains(&format!("public.{p}: ")), "{p}: {text}");
    }

    // copy --table copies the partitions; verify --table compares the same ones.
    let out = bin()
        .args([
            "copy", "--source", &src, "--target", &dst, "--table", "events",
        ])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let out = verify(&["--format", "json", "--table", "events"]);
    assert_exit(&out, 0);
    assert_eq!(
        verified_tables(&out),
        (
            vec![
                "public.events_2024".to_string(),
                "public.events_2025_high".into(),
                "public.events_2025_low".into()
            ],
            3000
        )
    );
    // A sub-partitioned partition brings its own partitions too.
    let out = verify(&["--table", "events_2025"]);
    assert_exit(&out, 0);
    assert!(
        stdout_of(&out).contains("OK: 2 tables"),
        "{}",
        stdout_of(&out)
    );
    // An exclude pattern still removes a partition.
    server
        .psql("dst", "DELETE FROM events_2024 WHERE id = 7")
        .unwrap();
    let out = verify(&["--table", "events", "--exclude-table", "events_2024"]);
    assert_exit(&out, 0);
    let out = verify(&["--table", "events"]);
    assert_exit(&out, 1);
    assert!(
        stdout_of(&out).contains("public.events_2024: "),
        "{}",
        stdout_of(&out)
    );

    // A selection with no table that holds rows compares nothing: an error, never "equal".
    let out = verify(&["--table", "events", "--exclude-table", "events_*"]);
    assert_exit(&out, 2);
    let err = stderr_of(&out);
    assert!(
        err.contains(
            "nothing to compare: no selected table of the source database \"src\" holds rows"
        ) && err.contains("public.events (partitioned table)"),
        "{err}"
    );
    assert!(!stdout_of(&out).contains("OK"), "{}", stdout_of(&out));
    // A database without tables: the same, as a runtime failure.
    server.create_database("empty").unwrap();
    let out = bin()
        .args(["verify", "--source", &server.url("empty"), "--target", &dst])
        .output()
        .unwrap();
    assert_exit(&out, 1);
    assert!(
        stderr_of(&out).contains("source: nothing to compare: no selected table of the source database \"empty\" holds rows"),
        "{}",
        stderr_of(&out)
    );
}
