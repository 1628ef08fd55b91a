//! The conventions every command shares, checked through the real binary on every command that takes
//! --source and/or --target: exit codes (0 success, 1 runtime failure or differences, 2 unusable
//! arguments or input), one-paragraph errors naming the side, nothing on stdout when a command fails
//! (also with --format json), valid JSON on stdout when it succeeds, and a password given in the URL
//! never printed nor written to any file the command writes.

use std::path::Path;

use crate::common::*;
use citus_migrate_core::local::free_port;

const PASSWORD: &str = "S3cr3t-PW";

/// A password-protected server with a source database `src` and a target database `dst`, both
/// holding `public.t` (the source with 100 rows), the target also `public.imp` to import into.
fn servers() -> LocalServer {
    let s = LocalServer::start(&ServerOptions {
        password: Some(PASSWORD.into()),
        ..Default::default()
    })
    .unwrap();
    s.create_database("src").unwrap();
    s.create_database("dst").unwrap();
    s.psql(
        "src",
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 100) g;
         ANALYZE t;",
    )
    .unwrap();
    s.psql(
        "dst",
        "CREATE TABLE t (id int PRIMARY KEY, v text); CREATE TABLE imp (id int PRIMARY KEY, v text);",
    )
        .unwrap();
    s
}

fn url(host: &str, port: u16, db: &str, password: &str) -> String {
    format!("postgresql://postgres:{password}@{host}:{port}/{db}?sslmode=disable")
}

fn argv(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// Builds a connection URL to database `db` that fails in one particular way.
type BadUrl = Box<dyn Fn(&str) -> String>;

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn run(args: &[&str]) -> Run {
    let out = bin().args(args).output().unwrap();
    Run {
        code: out.status.code(),
        stdout: stdout_of(&out),
        stderr: stderr_of(&out),
    }
}

/// Every file under `dir` (recursively) that contains `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            found.extend(files_containing(&p, needle));
        } else if let Ok(bytes) = std::fs::read(&p) {
            if String::from_utf8_lossy(&bytes).contains(needle) {
                found.push(p.display().to_string());
            }
        }
    }
    found
}

/// A failure: the expected exit code, nothing on stdout, one paragraph on stderr starting with
/// `error: ` and containing every needle, no panic, no Debug dump, no password.
fn assert_failure(what: &str, r: &Run, code: i32, needles: &[&str]) {
    let ctx = format!(
        "{what}: exit {:?}\nstdout: {}\nstderr: {}",
        r.code, r.stdout, r.stderr
    );
    assert_eq!(r.code, Some(code), "{ctx}");
    assert!(
        r.stdout.is_empty(),
        "stdout must stay empty on failure: {ctx}"
    );
    assert!(!r.stderr.contains(PASSWORD), "password printed: {ctx}");
    let err = r
        .stderr
        .find("error: ")
        .map(|i| &r.stderr[i..])
        .unwrap_or_else(|| panic!("no error line: {ctx}"));
    assert!(!err.trim_end().contains("\n\n"), "one paragraph: {ctx}");
    for bad in [
        "panicked",
        "RUST_BACKTRACE",
        "Error {",
        "kind: ",
        "Some(",
        "\"error\":",
    ] {
        assert!(!r.stderr.contains(bad), "{bad:?} in the error: {ctx}");
    }
    for n in needles {
        assert!(err.contains(n), "expected {n:?}: {ctx}");
    }
}

/// The commands with their --source/--target, each with --format json where offered.
fn commands(src: &str, dst: &str, dir: &Path) -> Vec<(String, Vec<String>)> {
    let d = |name: &str| dir.join(name).display().to_string();
    let csv = d("in.csv");
    std::fs::write(&csv, "id,v\n1000,imported\n").unwrap();
    let s = argv;
    vec![
        (
            "analyze".into(),
            s(&["analyze", "--source", src, "--format", "json"]),
        ),
        (
            "generate".into(),
            s(&[
                "generate",
                "--source",
                src,
                "--out-dir",
                &d("gen"),
                "--format",
                "json",
            ]),
        ),
        (
            "copy".into(),
            s(&[
                "copy",
                "--source",
                src,
                "--target",
                dst,
                "-t",
                "t",
                "--work-dir",
                &d("copy"),
                "--format",
                "json",
            ]),
        ),
        (
            "export".into(),
            s(&[
                "export",
                "--source",
                src,
                "-t",
                "t",
                "-o",
                &d("t.csv"),
                "--format",
                "json",
            ]),
        ),
        (
            "import".into(),
            s(&[
                "import", "--target", dst, "-t", "imp", "-i", &csv, "--format", "json",
            ]),
        ),
        (
            "verify".into(),
            s(&[
                "verify", "--source", src, "--target", dst, "--format", "json",
            ]),
        ),
        (
            "migrate".into(),
            s(&[
                "migrate",
                "--source",
                src,
                "--target",
                dst,
                "--work-dir",
                &d("work"),
                "--skip-distribution",
                "--backup",
                "--format",
                "json",
            ]),
        ),
    ]
}

/// The `cluster` commands, each with --target (they need a Citus coordinator, so they are only run
/// where the connection fails before Citus is looked for).
fn cluster_commands(dst: &str) -> Vec<(String, Vec<String>)> {
    [
        &["status", "--format", "json"][..],
        &["check", "--format", "json"],
        &["rebalance", "--dry-run"],
        &["add-node", "127.0.0.1:1"],
        &["drain", "127.0.0.1:1"],
        &["remove-node", "127.0.0.1:1"],
    ]
    .iter()
    .map(|args| {
        let mut v = argv(&["cluster"]);
        v.extend(argv(args));
        v.extend(argv(&["--target", dst]));
        (format!("cluster {}", args[0]), v)
    })
    .collect()
}

#[test]
fn bad_connections_fail_the_same_way_on_every_command() {
    let server = servers();
    let port = server.port;
    let refused = free_port().unwrap();
    let good_src = url("127.0.0.1", port, "src", PASSWORD);
    let good_dst = url("127.0.0.1", port, "dst", PASSWORD);
    // (what, bad url for db, exit code, what the message must say)
    let bad: Vec<(&str, BadUrl, i32, Vec<&str>)> = vec![
        (
            "malformed",
            Box::new(|db| format!("postgresql://postgres:{PASSWORD}@127.0.0.1:99999/{db}")),
            2,
            vec!["connection string is invalid", "port"],
        ),
        (
            "refused",
            Box::new(move |db| url("127.0.0.1", refused, db, PASSWORD)),
            1,
            vec!["cannot connect to the", "Nothing accepts connections"],
        ),
        (
            "unresolvable",
            Box::new(|db| url("nonexistent.invalid", 5432, db, PASSWORD)),
            1,
            vec!["cannot connect to the", "cannot be resolved"],
        ),
        (
            "wrong password",
            Box::new(move |db| url("127.0.0.1", port, db, &format!("wrong-{PASSWORD}"))),
            1,
            vec![
                "password authentication failed",
                "Check the user name and password",
            ],
        ),
        (
            "missing database",
            Box::new(move |_| url("127.0.0.1", port, "nodb", PASSWORD)),
            1,
            vec!["database \"nodb\" does not exist", "check dbname"],
        ),
    ];
    for (kind, bad_url, code, needles) in &bad {
        for side in ["source", "target"] {
            let dir = tempfile::tempdir().unwrap();
            let (src, dst) = if side == "source" {
                (bad_url("src"), good_dst.clone())
            } else {
                (good_src.clone(), bad_url("dst"))
            };
            for (name, args) in commands(&src, &dst, dir.path())
                .into_iter()
                .chain(cluster_commands(&dst))
            {
                let takes = |flag: &str| args.iter().any(|a| a == flag);
                if !takes(&format!("--{side}")) {
                    continue;
                }
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let r = run(&args);
                let what = format!("{name} with a {kind} {side}");
                let mut want = needles.clone();
                let flag = format!("--{side}");
                if *code == 2 {
                    want.push(side);
                } else {
                    want.push(&flag);
                }
                assert_failure(&what, &r, *code, &want);
                assert!(
                    files_containing(dir.path(), PASSWORD).is_empty(),
                    "{what}: password written to {:?}",
                    files_containing(dir.path(), PASSWORD)
                );
                // A run that stopped before doing anything leaves no work directory to trip over.
                assert!(
                    !dir.path().join("work").exists(),
                    "{what}: work dir left behind"
                );
            }
        }
    }
}

#[test]
fn successful_runs_print_json_and_never_the_password() {
    let server = servers();
    let src = url("127.0.0.1", server.port, "src", PASSWORD);
    let dst = url("127.0.0.1", server.port, "dst", PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    for (name, args) in commands(&src, &dst, dir.path()) {
        if name == "migrate" {
            // Migrate creates the schema itself: it gets a target database of its own.
            server.create_database("dst2").unwrap();
        }
        let args: Vec<String> = args
            .into_iter()
            .map(|a| {
                if name == "migrate" && a == dst {
                    dst.replace("/dst?", "/dst2?")
                } else {
                    a
                }
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run(&args);
        let ctx = format!(
            "{name}: exit {:?}\nstdout: {}\nstderr: {}",
            r.code, r.stdout, r.stderr
        );
        assert_eq!(r.code, Some(0), "{ctx}");
        let json: serde_json::Value = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("{name}: not JSON ({e}): {ctx}"));
        assert!(json.is_object(), "{ctx}");
        assert!(
            !r.stdout.contains(PASSWORD) && !r.stderr.contains(PASSWORD),
            "password printed: {ctx}"
        );
        assert!(
            r.stdout.contains("********") || !r.stdout.contains("password="),
            "{ctx}"
        );
    }
    // plan.json, the SQL files, the CSV, copy's log and summary, migrate's state.json, logs and SQL.
    for written in [
        "work/backup/source.dump",
        "gen/plan.json",
        "gen/01-pre-data.sql",
        "t.csv",
        "copy",
        "work/state.json",
        "work/logs",
        "work/sql",
    ] {
        assert!(dir.path().join(written).exists(), "{written} not written");
    }
    let leaks = files_containing(dir.path(), PASSWORD);
    assert!(leaks.is_empty(), "password written to {leaks:?}");

    // Differences are a result, not a failure of the command: the report on stdout, exit 1.
    server.psql("dst", "DELETE FROM t WHERE id = 1").unwrap();
    let r = run(&[
        "verify", "--source", &src, "--target", &dst, "--format", "json",
    ]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).expect("verify report is JSON");
    assert!(json.get("tables").is_some(), "{}", r.stdout);
    assert!(r.stderr.contains("difference"), "{}", r.stderr);
    assert!(!r.stdout.contains(PASSWORD) && !r.stderr.contains(PASSWORD));
}

#[test]
fn unusable_input_exits_2_on_every_command() {
    let server = servers();
    let src = url("127.0.0.1", server.port, "src", PASSWORD);
    let dst = url("127.0.0.1", server.port, "dst", PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name).display().to_string();
    let not_a_plan = d("not-a-plan.json");
    std::fs::write(&not_a_plan, "id,v\n1,a\n").unwrap();
    let nomatch = "no_such_table_anywhere";
    let pattern_msg = "matches the --schema/--table pattern";

    let cases: Vec<(&str, Vec<String>, Vec<&str>)> = vec![
        (
            "analyze, pattern matching nothing",
            argv(&[
                "analyze", "--source", &src, "-t", nomatch, "--format", "json",
            ]),
            vec![pattern_msg],
        ),
        (
            "generate, pattern matching nothing",
            argv(&[
                "generate",
                "--source",
                &src,
                "-t",
                nomatch,
                "--out-dir",
                &d("g1"),
                "--format",
                "json",
            ]),
            vec![pattern_msg],
        ),
        (
            "verify, pattern matching nothing",
            argv(&[
                "verify", "--source", &src, "--target", &dst, "-t", nomatch, "--format", "json",
            ]),
            vec![pattern_msg],
        ),
        (
            "migrate, pattern matching nothing",
            argv(&[
                "migrate",
                "--source",
                &src,
                "--target",
                &dst,
                "-t",
                nomatch,
                "--work-dir",
                &d("w1"),
                "--skip-distribution",
                "--format",
                "json",
            ]),
            vec![pattern_msg],
        ),
        (
            "generate, unparsable plan",
            argv(&[
                "generate",
                "--source",
                &src,
                "--plan",
                &not_a_plan,
                "--out-dir",
                &d("g2"),
            ]),
            vec!["not-a-plan.json"],
        ),
        (
            "verify, unparsable plan",
            argv(&[
                "verify",
                "--source",
                &src,
                "--target",
                &dst,
                "--plan",
                &not_a_plan,
                "--format",
                "json",
            ]),
            vec!["not-a-plan.json"],
        ),
        (
            "copy, unparsable plan",
            argv(&[
                "copy",
                "--source",
                &src,
                "--target",
                &dst,
                "--plan",
                &not_a_plan,
                "--format",
                "json",
            ]),
            vec!["not-a-plan.json"],
        ),
        (
            "migrate, --resume without a recorded run",
            argv(&[
                "migrate",
                "--source",
                &src,
                "--target",
                &dst,
                "--work-dir",
                &d("w2"),
                "--resume",
                "--skip-distribution",
            ]),
            vec!["--resume", "no state.json"],
        ),
        (
            "analyze, a malformed CITUS_MIGRATE_SOURCE",
            argv(&["analyze", "--source", "host=127.0.0.1 sslmode=always"]),
            vec!["source connection string is invalid", "sslmode"],
        ),
        (
            "verify, a malformed target",
            argv(&[
                "verify",
                "--source",
                &src,
                "--target",
                "mysql://root@localhost/db",
            ]),
            vec!["target connection string is invalid"],
        ),
        (
            "copy, a stray % in the target's password",
            vec![
                "copy".to_string(),
                "--source".into(),
                src.clone(),
                "--target".into(),
                format!("postgresql://postgres:{PASSWORD}%zz@127.0.0.1:1/dst"),
                "-t".into(),
                "t".into(),
            ],
            vec!["target connection string is invalid", "percent-encoding"],
        ),
    ];
    for (what, args, needles) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_failure(what, &run(&args), 2, needles);
    }
    // The failed migrate left nothing behind: the same command runs once the pattern is right.
    assert!(
        !dir.path().join("w1").exists(),
        "migrate left its work dir behind"
    );

    // A non-empty work directory without --resume.
    std::fs::create_dir(d("w3")).unwrap();
    std::fs::write(dir.path().join("w3/notes.txt"), "mine").unwrap();
    let r = run(&[
        "migrate",
        "--source",
        &src,
        "--target",
        &dst,
        "--work-dir",
        &d("w3"),
        "--skip-distribution",
        "--format",
        "json",
    ]);
    assert_failure(
        "migrate, non-empty work dir",
        &r,
        2,
        &["not empty", "--resume"],
    );
    assert_eq!(
        std::fs::read_dir(d("w3")).unwrap().count(),
        1,
        "the user's directory was changed"
    );

    // Bad option values, caught by the argument parser: exit 2, nothing on stdout.
    for args in [
        vec![
            "copy", "--source", &src, "--target", &dst, "-t", "t", "-j", "0",
        ],
        vec![
            "copy",
            "--source",
            &src,
            "--target",
            &dst,
            "-t",
            "t",
            "--chunk-size",
            "12XB",
        ],
        vec!["analyze", "--source", &src, "--format", "yaml"],
        vec![
            "verify", "--source", &src, "--target", &dst, "--format", "csv",
        ],
        vec!["migrate", "--source", &src, "--target", &dst],
        vec!["export", "--source", &src, "-t", "t"],
        vec!["completions", "tcsh"],
        vec!["frobnicate"],
    ] {
        let r = run(&args);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{args:?}: {}", r.stdout);
        assert!(r.stderr.starts_with("error: "), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains(PASSWORD), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn help_describes_every_option_and_version_works() {
    let r = run(&["--version"]);
    assert_eq!(r.code, Some(0));
    assert_eq!(
        r.stdout.trim(),
        format!("citus-migrate {}", env!("CARGO_PKG_VERSION"))
    );

    let top = run(&["--help"]);
    assert_eq!(top.code, Some(0));
    let commands = [
        "analyze",
        "generate",
        "copy",
        "export",
        "import",
        "verify",
        "migrate",
        "cutover",
        "abort",
        "status",
        "demo",
        "completions",
        "cluster",
    ];
    let cluster = [
        "status",
        "rebalance",
        "add-node",
        "drain",
        "remove-node",
        "check",
    ];
    let subcommands = commands
        .iter()
        .map(|c| vec![*c])
        .chain(cluster.iter().map(|c| vec!["cluster", *c]));
    for words in subcommands {
        let c = words.join(" ");
        let listed_in = run(&[&words[..words.len() - 1], &["--help"]].concat());
        assert!(
            listed_in
                .stdout
                .contains(&format!("  {} ", words[words.len() - 1])),
            "{c} missing from --help: {}",
            listed_in.stdout
        );
        let r = run(&[&words[..], &["--help"]].concat());
        assert_eq!(r.code, Some(0), "{c}: {}", r.stderr);
        // Every option line has a description.
        for line in r
            .stdout
            .lines()
            .filter(|l| l.starts_with("  -") || l.starts_with("      --"))
        {
            let after = line
                .trim_start()
                .split("  ")
                .skip(1)
                .any(|s| !s.trim().is_empty());
            assert!(after, "{c}: option without a description: {line:?}");
        }
    }
    // The options the README names exist where it says.
    for (c, opts) in [
        (
            "analyze",
            &[
                "--source",
                "--format",
                "--output",
                "--exact-counts",
                "--table",
                "--schema",
            ][..],
        ),
        (
            "generate",
            &[
                "--source",
                "--out-dir",
                "--plan",
                "--format",
                "--shard-count",
            ][..],
        ),
        (
            "copy",
            &[
                "--source",
                "--target",
                "--table",
                "--plan",
                "--jobs",
                "--resume",
                "--truncate",
                "--format",
            ][..],
        ),
        (
            "export",
            &["--source", "--table", "--output", "--format"][..],
        ),
        (
            "import",
            &["--target", "--table", "--input", "--format"][..],
        ),
        (
            "verify",
            &[
                "--source", "--target", "--plan", "--format", "--output", "--jobs",
            ][..],
        ),
        (
            "migrate",
            &[
                "--source",
                "--target",
                "--work-dir",
                "--plan",
                "--resume",
                "--skip-distribution",
                "--format",
                "--output",
            ][..],
        ),
        ("demo", &["--scale", "--jobs"][..]),
        ("cluster status", &["--target", "--format", "--watch"][..]),
        (
            "cluster rebalance",
            &[
                "--target",
                "--table",
                "--strategy",
                "--dry-run",
                "--shard-transfer-mode",
            ][..],
        ),
        ("cluster add-node", &["--target", "--rebalance"][..]),
        ("cluster drain", &["--target", "--shard-transfer-mode"][..]),
        (
            "cluster check",
            &["--target", "--format", "--max-shard-size", "--max-skew"][..],
        ),
    ] {
        let words: Vec<&str> = c.split(' ').collect();
        let r = run(&[&words[..], &["--help"]].concat());
        for o in opts {
            assert!(r.stdout.contains(o), "{c} --help lacks {o}: {}", r.stdout);
        }
    }
    let r = run(&["completions", "bash"]);
    assert_eq!(r.code, Some(0));
    assert!(
        r.stdout.contains("citus-migrate") && r.stdout.contains("migrate"),
        "{}",
        r.stdout
    );
}

#[test]
fn missing_privileges_name_the_side_and_what_to_grant() {
    let server = servers();
    for db in ["src", "dst"] {
        server
            .psql(db, &format!("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'nopriv') THEN CREATE ROLE nopriv LOGIN PASSWORD '{PASSWORD}'; END IF; END $$"))
            .unwrap();
    }
    let src = url("127.0.0.1", server.port, "src", PASSWORD);
    let dst = url("127.0.0.1", server.port, "dst", PASSWORD);
    let weak_src = src.replace("postgres:", "nopriv:");
    let weak_dst = dst.replace("postgres:", "nopriv:");
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv").display().to_string();
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "copy, source",
            vec![
                "copy", "--source", &weak_src, "--target", &dst, "-t", "t", "--format", "json",
            ],
            "source",
        ),
        (
            "copy, target",
            vec![
                "copy", "--source", &src, "--target", &weak_dst, "-t", "t", "--format", "json",
            ],
            "target",
        ),
        (
            "export",
            vec![
                "export", "--source", &weak_src, "-t", "t", "-o", &csv, "--format", "json",
            ],
            "source",
        ),
        (
            "verify, source",
            vec![
                "verify", "--source", &weak_src, "--target", &dst, "--format", "json",
            ],
            "source",
        ),
    ];
    for (what, args, side) in cases {
        let r = run(&args);
        assert_failure(
            what,
            &r,
            1,
            &[
                &format!("{side}: "),
                "permission denied",
                &format!("The {side} user lacks a privilege"),
                "GRANT",
                &format!("--{side}"),
            ],
        );
    }
}

#[test]
fn a_reader_that_stops_early_is_no_panic() {
    // `citus-migrate completions bash | head -1`: the pipe is closed before the script is written.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_citus-migrate"))
        .args(["completions", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = stderr_of(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}
