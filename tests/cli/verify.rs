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
