//! Connections through the real binary: TLS with certificates made here, PgBouncer in transaction
//! pooling mode, the PG* variables, password files, Unix sockets, IPv6, and every kind of bad input
//! (each must give a one-paragraph error naming the side, exit 1 or 2, and never print the password).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::Duration;

use crate::common::*;
use citus_migrate_core::local::{free_port, wait_until, LocalPgBouncer};

const PASSWORD: &str = "Pa55:w/rd@hunter2";

fn password_server() -> LocalServer {
    let s = LocalServer::start(&ServerOptions {
        password: Some(PASSWORD.into()),
        ..Default::default()
    })
    .unwrap();
    s.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)")
        .unwrap();
    s
}

/// Runs `analyze` and returns (exit code, stdout + stderr).
fn analyze(source: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut cmd = bin();
    cmd.args(["analyze", "--format", "json", "--source", source]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code(),
        format!("{}{}", stdout_of(&out), stderr_of(&out)),
    )
}

/// A failure must be one paragraph on stderr that names the side, with the expected exit code, and
/// must not show the password.
fn assert_clean_failure(code: Option<i32>, text: &str, expected_code: i32, needles: &[&str]) {
    assert_eq!(code, Some(expected_code), "{text}");
    assert!(text.starts_with("error: "), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    assert!(!text.trim_end().contains("\n\n"), "one paragraph: {text}");
    for n in needles {
        assert!(text.contains(n), "expected {n:?} in: {text}");
    }
    for secret in [PASSWORD, "hunter2", "Pa55%3Aw%2Frd%40hunter2", "sekrit"] {
        assert!(!text.contains(secret), "password printed: {text}");
    }
}

/// A CA, and a server certificate for `localhost` only, signed by it; plus an unrelated second CA.
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn new() -> Certs {
        let dir = tempfile::tempdir().unwrap();
        let run = |args: &[&str]| {
            let out = StdCommand::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("openssl CLI");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        for ca in ["ca", "other-ca"] {
            run(&[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={ca}"),
                "-keyout",
                &format!("{ca}.key"),
                "-out",
                &format!("{ca}.crt"),
            ]);
        }
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ]);
        std::fs::write(dir.path().join("ext.cnf"), "subjectAltName=DNS:localhost\n").unwrap();
        run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.crt",
        ]);
        Certs { dir }
    }
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }
    fn server(&self) -> LocalServer {
        let tls = Some((
            PathBuf::from(self.path("server.crt")),
            PathBuf::from(self.path("server.key")),
        ));
        let s = LocalServer::start(&ServerOptions {
            tls,
            ..Default::default()
        })
        .unwrap();
        s.psql("postgres", "CREATE TABLE t (id int PRIMARY KEY)")
            .unwrap();
        s
    }
}

impl Certs {
    /// Runs the `openssl` command in the certificates' directory.
    fn openssl(&self, args: &[&str]) {
        let out = StdCommand::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A client certificate for `user`, signed by the CA: (cert, key) paths.
    fn client(&self, user: &str) -> (String, String) {
        let run = |args: &[&str]| self.openssl(args);
        run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/CN={user}"),
            "-keyout",
            "client.key",
            "-out",
            "client.csr",
        ]);
        run(&[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            "client.crt",
        ]);
        set_mode(&self.dir.path().join("client.key"), 0o600);
        (self.path("client.crt"), self.path("client.key"))
    }
}

/// Accept TLS only over TCP (a `hostssl`-only pg_hba.conf), and reload.
fn hostssl_only(server: &LocalServer) {
    let hba = server.dir().join("data/pg_hba.conf");
    std::fs::write(
        &hba,
        "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
    )
    .unwrap();
    server.psql("postgres", "SELECT pg_reload_conf()").unwrap();
}

#[test]
fn tls_modes_with_a_generated_certificate() {
    let certs = Certs::new();
    let server = certs.server();
    let port = server.port;
    let ok = |source: String| {
        let (code, text) = analyze(&source, &[]);
        assert_eq!(code, Some(0), "{source}: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["tables"][0]["name"], "t");
    };
    ok(format!(
        "host=127.0.0.1 port={port} user=postgres dbname=postgres sslmode=require"
    ));
    ok(format!(
        "host=127.0.0.1 port={port} user=postgres dbname=postgres sslmode=prefer"
    ));
    ok(format!(
        "postgresql://postgres@127.0.0.1:{port}/postgres?sslmode=verify-ca&sslrootcert={}",
        certs.path("ca.crt")
    ));
    ok(format!("host=localhost port={port} user=postgres dbname=postgres sslmode=verify-full sslrootcert={}", certs.path("ca.crt")));
    // PGSSLMODE / PGSSLROOTCERT are read like libpq does.
    let (code, text) = analyze(
        &format!("host=localhost port={port} user=postgres dbname=postgres"),
        &[
            ("PGSSLMODE", "verify-full"),
            ("PGSSLROOTCERT", &certs.path("ca.crt")),
        ],
    );
    assert_eq!(code, Some(0), "{text}");

    // verify-full against a name the certificate does not carry.
    let (code, text) = analyze(
        &format!("host=127.0.0.1 port={port} user=postgres dbname=postgres sslmode=verify-full sslrootcert={}", certs.path("ca.crt")),
        &[],
    );
    assert_clean_failure(
        code,
        &text,
        1,
        &[
            "cannot connect to the source database",
            "TLS failed",
            "sslmode",
        ],
    );
    // verify-ca with the wrong root certificate.
    let (code, text) = analyze(
        &format!("host=127.0.0.1 port={port} user=postgres dbname=postgres sslmode=verify-ca sslrootcert={}", certs.path("other-ca.crt")),
        &[],
    );
    assert_clean_failure(code, &text, 1, &["source", "certificate"]);
    // verify-ca without any root certificate: a usage error that says what to set.
    let (code, text) = analyze(
        &format!("host=127.0.0.1 port={port} user=postgres dbname=postgres sslmode=verify-ca"),
        &[("HOME", "/nonexistent")],
    );
    assert_clean_failure(
        code,
        &text,
        2,
        &["source connection string is invalid", "sslrootcert"],
    );
    // A root certificate file that is missing.
    let (code, text) = analyze(
        &format!("host=127.0.0.1 port={port} user=postgres dbname=postgres sslmode=verify-ca sslrootcert=/nonexistent/ca.crt"),
        &[],
    );
    assert_clean_failure(code, &text, 2, &["source", "/nonexistent/ca.crt"]);

    // A server that only accepts TLS: disable fails clearly, allow retries with TLS (as libpq does).
    hostssl_only(&server);
    let (code, text) = analyze(
        &format!("host=127.0.0.1 port={port} user=postgres dbname=postgres sslmode=disable"),
        &[],
    );
    assert_clean_failure(
        code,
        &text,
        1,
        &[
            "cannot connect to the source database",
            "no encryption",
            "sslmode=require",
        ],
    );
    ok(format!(
        "host=127.0.0.1 port={port} user=postgres dbname=postgres sslmode=allow"
    ));
    ok(format!(
        "host=127.0.0.1 port={port} user=postgres dbname=postgres sslmode=require"
    ));
}

#[test]
fn client_certificates() {
    use std::os::unix::fs::MetadataExt;
    let certs = Certs::new();
    let server = certs.server();
    // The server trusts our CA for client certificates and authenticates TCP clients by certificate.
    let data = server.dir().join("data");
    let owner = std::fs::metadata(&data).unwrap();
    std::fs::copy(certs.path("ca.crt"), data.join("root.crt")).unwrap();
    std::os::unix::fs::chown(data.join("root.crt"), Some(owner.uid()), Some(owner.gid())).unwrap();
    std::fs::write(
        data.join("pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 cert\n",
    )
    .unwrap();
    server
        .psql("postgres", "ALTER SYSTEM SET ssl_ca_file = 'root.crt'")
        .unwrap();
    server.psql("postgres", "SELECT pg_reload_conf()").unwrap();
    let (cert, key) = certs.client("postgres");
    let base = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres sslmode=verify-ca sslrootcert={}",
        server.port,
        certs.path("ca.crt")
    );

    let (code, text) = analyze(&base, &[]);
    assert_clean_failure(
        code,
        &text,
        1,
        &["cannot connect to the source database", "certificate"],
    );
    let (code, text) = analyze(&format!("{base} sslcert={cert} sslkey={key}"), &[]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = analyze(&base, &[("PGSSLCERT", &cert), ("PGSSLKEY", &key)]);
    assert_eq!(code, Some(0), "{text}");
    // A key file that is not a key.
    let (code, text) = analyze(&format!("{base} sslcert={cert} sslkey={cert}"), &[]);
    assert_clean_failure(
        code,
        &text,
        2,
        &["source connection string is invalid", "sslcert/sslkey"],
    );
    // A key that belongs to another certificate (an X.509 v1 one, which only the server can
    // check): the server ends the handshake, and the error says where to look.
    let (code, text) = analyze(
        &format!("{base} sslcert={cert} sslkey={}", certs.path("server.key")),
        &[],
    );
    assert_clean_failure(
        code,
        &text,
        1,
        &[
            "cannot connect to the source database",
            "TLS failed",
            "sslcert/sslkey",
        ],
    );
}

#[test]
fn copy_over_tls_between_a_self_signed_and_a_ca_signed_server() {
    let certs = Certs::new();
    // A self-signed server certificate, marked as a CA (what `openssl req -x509` makes): verify-ca
    // with that very certificate as the root accepts it, as libpq does.
    certs.openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost",
        "-keyout",
        "self.key",
        "-out",
        "self.crt",
    ]);
    let source = LocalServer::start(&ServerOptions {
        tls: Some((certs.path("self.crt").into(), certs.path("self.key").into())),
        ..Default::default()
    })
    .unwrap();
    source
        .psql(
            "postgres",
            "CREATE TABLE t (id int PRIMARY KEY, s text); \
             INSERT INTO t SELECT g, repeat(md5(g::text), 8) FROM generate_series(1, 20000) g;",
        )
        .unwrap();
    let target = certs.server();
    target
        .psql("postgres", "ALTER TABLE t ADD COLUMN s text")
        .unwrap();
    hostssl_only(&source);
    hostssl_only(&target);
    let src = format!(
        "host=localhost port={} user=postgres dbname=postgres sslmode=verify-ca sslrootcert={}",
        source.port,
        certs.path("self.crt")
    );
    let dst = format!(
        "host=localhost port={} user=postgres dbname=postgres sslmode=verify-full sslrootcert={}",
        target.port,
        certs.path("ca.crt")
    );
    let out = bin()
        .args(["copy", "--source", &src, "--target", &dst, "--table", "t"])
        .args(["--jobs", "2", "--chunk-size", "256kB"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let sum = "SELECT count(*) || ' ' || sum(hashtext(s)::int8) FROM t";
    assert_eq!(
        target.psql("postgres", sum).unwrap(),
        source.psql("postgres", sum).unwrap()
    );
    // Both sides really were TLS: the servers accept nothing else over TCP.
    let (code, text) = analyze(
        &format!(
            "host=localhost port={} user=postgres dbname=postgres sslmode=disable",
            source.port
        ),
        &[],
    );
    assert_clean_failure(code, &text, 1, &["no encryption"]);
    // A pinned self-signed certificate must still be within its dates: an expired one is refused
    // by verify-ca (require, which checks nothing, still connects).
    let run = |args: &[&str]| certs.openssl(args);
    std::fs::create_dir(certs.dir.path().join("db")).unwrap();
    std::fs::write(certs.dir.path().join("db/index.txt"), "").unwrap();
    std::fs::write(certs.dir.path().join("db/serial"), "01\n").unwrap();
    std::fs::write(
        certs.dir.path().join("ca.cnf"),
        "[ca]\ndefault_ca = d\n[d]\ndatabase = db/index.txt\nserial = db/serial\nnew_certs_dir = db\n\
         default_md = sha256\npolicy = p\nx509_extensions = ext\n[p]\ncommonName = supplied\n\
         [ext]\nbasicConstraints = critical,CA:TRUE\nsubjectAltName = DNS:localhost\n",
    )
    .unwrap();
    run(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "expired.key",
        "-out",
        "expired.csr",
    ]);
    run(&[
        "ca",
        "-batch",
        "-config",
        "ca.cnf",
        "-selfsign",
        "-keyfile",
        "expired.key",
        "-in",
        "expired.csr",
        "-out",
        "expired.crt",
        "-startdate",
        "20200101000000Z",
        "-enddate",
        "20200102000000Z",
    ]);
    let expired = LocalServer::start(&ServerOptions {
        tls: Some((
            certs.path("expired.crt").into(),
            certs.path("expired.key").into(),
        )),
        ..Default::default()
    })
    .unwrap();
    let at = |mode: &str| {
        format!(
            "host=localhost port={} user=postgres dbname=postgres sslmode={mode} sslrootcert={}",
            expired.port,
            certs.path("expired.crt")
        )
    };
    let (code, text) = analyze(&at("verify-ca"), &[]);
    assert_clean_failure(
        code,
        &text,
        1,
        &["source", "TLS failed", "certificate expired"],
    );
    let (code, text) = analyze(
        &format!(
            "host=localhost port={} user=postgres dbname=postgres sslmode=require",
            expired.port
        ),
        &[],
    );
    assert_eq!(code, Some(0), "{text}");

    // The self-signed certificate does not pass verify-full against another CA.
    let (code, text) = analyze(
        &format!(
            "host=localhost port={} user=postgres dbname=postgres sslmode=verify-full sslrootcert={}",
            source.port,
            certs.path("ca.crt")
        ),
        &[],
    );
    assert_clean_failure(code, &text, 1, &["source", "certificate"]);
}

#[test]
fn prefer_falls_back_to_plain_when_the_tls_handshake_fails() {
    let certs = Certs::new();
    let server = certs.server();
    // TLS offered, but only in versions we do not speak (1.0/1.1): every handshake fails.
    server
        .psql(
            "postgres",
            "ALTER SYSTEM SET ssl_min_protocol_version = 'TLSv1'; \
             ALTER SYSTEM SET ssl_max_protocol_version = 'TLSv1.1'; SELECT pg_reload_conf();",
        )
        .unwrap();
    let base = format!(
        "host=127.0.0.1 port={} user=postgres dbname=postgres",
        server.port
    );
    let (code, text) = analyze(&format!("{base} sslmode=require"), &[]);
    assert_clean_failure(
        code,
        &text,
        1,
        &["cannot connect to the source database", "TLS failed"],
    );
    // prefer (also the default) then connects without TLS, as libpq does.
    let (code, text) = analyze(&format!("{base} sslmode=prefer"), &[]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = analyze(&base, &[]);
    assert_eq!(code, Some(0), "{text}");
    // Where the server also refuses plain connections, the error tells both.
    hostssl_only(&server);
    let (code, text) = analyze(&format!("{base} sslmode=prefer"), &[]);
    assert_clean_failure(code, &text, 1, &["no encryption", "after TLS failed"]);
}

#[test]
fn require_against_a_server_without_tls_fails_clearly() {
    let server = server_with("postgres", "CREATE TABLE t (id int)");
    let (code, text) = analyze(
        &format!(
            "host=127.0.0.1 port={} user=postgres sslmode=require",
            server.port
        ),
        &[],
    );
    assert_clean_failure(
        code,
        &text,
        1,
        &["cannot connect to the source database", "TLS"],
    );
    // prefer and allow fall back to plain connections.
    for mode in ["prefer", "allow"] {
        let (code, text) = analyze(
            &format!(
                "host=127.0.0.1 port={} user=postgres sslmode={mode}",
                server.port
            ),
            &[],
        );
        assert_eq!(code, Some(0), "{mode}: {text}");
    }
}

#[test]
fn analyze_through_pgbouncer_in_transaction_pooling_mode() {
    let server = server_with("shop", &fixture("catalog.sql"));
    let bouncer = LocalPgBouncer::start(&server).unwrap();
    let direct = bin()
        .args([
            "analyze",
            "--format",
            "json",
            "--exact-counts",
            "--source",
            &server.url("shop"),
        ])
        .output()
        .unwrap();
    assert!(direct.status.success(), "{}", stderr_of(&direct));
    let pooled = bin()
        .args([
            "analyze",
            "--format",
            "json",
            "--exact-counts",
            "--jobs",
            "4",
            "--source",
            &bouncer.url("shop"),
        ])
        .output()
        .unwrap();
    assert!(pooled.status.success(), "{}", stderr_of(&pooled));
    let strip = |out: &std::process::Output| {
        let mut v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["source"]["database_bytes"] = serde_json::Value::Null; // the bouncer's own connections change nothing else
        v
    };
    let (d, p) = (strip(&direct), strip(&pooled));
    assert_eq!(d["tables"].as_array().unwrap().len(), 18);
    assert_eq!(d, p, "the same facts through pgbouncer");
    let orders = p["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "orders")
        .unwrap();
    assert_eq!(orders["rows_exact"], 2000);
}

#[test]
fn analyze_through_pgbouncer_with_a_password() {
    let server = password_server();
    let bouncer = LocalPgBouncer::start(&server).unwrap();
    let (code, text) = analyze(&bouncer.url("postgres"), &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(!text.contains(PASSWORD));
    let wrong = format!(
        "postgresql://postgres:sekrit@127.0.0.1:{}/postgres?sslmode=disable",
        bouncer.port
    );
    let (code, text) = analyze(&wrong, &[]);
    assert_clean_failure(
        code,
        &text,
        1,
        &[
            "cannot connect to the source database",
            "Check the user name and password",
        ],
    );
}

/// Runs the binary with `--exact-counts` while another session holds a lock on `t`, so its
/// connection is visible in pg_stat_activity; returns the application_name the server saw.
fn application_name_seen(server: &LocalServer, source: &str, env: &[(&str, &str)]) -> String {
    let mut locker = StdCommand::new(server.bindir().join("psql"))
        .args(["-X", "-q", "-h"])
        .arg(server.dir())
        .args([
            "-p",
            &server.port.to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = locker.stdin.take().unwrap();
    writeln!(
        stdin,
        "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE; SELECT 1;"
    )
    .unwrap();
    stdin.flush().unwrap();
    assert!(wait_until(Duration::from_secs(10), || {
        server
        .psql("postgres", "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = 't'::regclass")
        .unwrap()
        == "1"
    }));
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_citus-migrate"));
    cmd.args([
        "analyze",
        "--exact-counts",
        "--jobs",
        "1",
        "--source",
        source,
    ])
    .env_remove("PGAPPNAME");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = String::new();
    let found = wait_until(Duration::from_secs(20), || {
        seen = server
            .psql("postgres", "SELECT string_agg(DISTINCT application_name, ',') FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
            .unwrap();
        !seen.is_empty()
    });
    writeln!(stdin, "COMMIT;").unwrap();
    drop(stdin);
    locker.wait().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(found, "the binary's connection never waited on the lock");
    seen
}

#[test]
fn application_name_defaults_to_citus_migrate() {
    let server = server_with("postgres", "CREATE TABLE t (id int)");
    let url = server.url("postgres");
    assert_eq!(application_name_seen(&server, &url, &[]), "citus-migrate");
    assert_eq!(
        application_name_seen(&server, &url, &[("PGAPPNAME", "nightly-move")]),
        "nightly-move"
    );
    assert_eq!(
        application_name_seen(
            &server,
            &format!("{url}&application_name=from-url"),
            &[("PGAPPNAME", "env")]
        ),
        "from-url"
    );
}

#[test]
fn pg_environment_variables_and_password_files() {
    let server = password_server();
    let port = server.port.to_string();
    let base = [
        ("PGHOST", "127.0.0.1"),
        ("PGPORT", port.as_str()),
        ("PGUSER", "postgres"),
        ("PGDATABASE", "postgres"),
        ("PGSSLMODE", "disable"),
    ];
    let with = |extra: &[(&'static str, &str)]| -> Vec<(&str, String)> {
        base.iter()
            .chain(extra.iter())
            .map(|(k, v)| (*k, v.to_string()))
            .collect()
    };
    let run = |env: Vec<(&str, String)>, source: &str| {
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        analyze(source, &env)
    };

    // Everything from PG* variables, with PGPASSWORD.
    let (code, text) = run(with(&[("PGPASSWORD", PASSWORD)]), "");
    assert_eq!(code, Some(0), "{text}");
    // The connection string wins over the variables.
    let (code, text) = run(
        with(&[("PGPASSWORD", PASSWORD), ("PGDATABASE", "nope")]),
        "dbname=postgres",
    );
    assert_eq!(code, Some(0), "{text}");
    // No password anywhere: the server asks for one.
    let home = tempfile::tempdir().unwrap();
    let home_s = home.path().display().to_string();
    let (code, text) = run(with(&[("HOME", &home_s)]), "");
    assert_clean_failure(
        code,
        &text,
        1,
        &["cannot connect to the source database", "password"],
    );

    // ~/.pgpass (0600), found through HOME; escaped ':' in the password field.
    let escaped = PASSWORD.replace('\\', "\\\\").replace(':', "\\:");
    let pgpass = home.path().join(".pgpass");
    std::fs::write(
        &pgpass,
        format!("# comment\nother:*:*:*:nope\n127.0.0.1:{port}:postgres:postgres:{escaped}\n"),
    )
    .unwrap();
    set_mode(&pgpass, 0o600);
    let (code, text) = run(with(&[("HOME", &home_s)]), "");
    assert_eq!(code, Some(0), "{text}");

    // PGPASSFILE elsewhere, with wildcards.
    let other = tempfile::tempdir().unwrap();
    let passfile = other.path().join("pass");
    std::fs::write(&passfile, format!("*:*:*:postgres:{escaped}\n")).unwrap();
    set_mode(&passfile, 0o600);
    let (code, text) = run(
        with(&[
            ("HOME", "/nonexistent"),
            ("PGPASSFILE", &passfile.display().to_string()),
        ]),
        "",
    );
    assert_eq!(code, Some(0), "{text}");
    // passfile= in the connection string.
    let (code, text) = run(
        with(&[("HOME", "/nonexistent")]),
        &format!("passfile={}", passfile.display()),
    );
    assert_eq!(code, Some(0), "{text}");

    // A password file others can read is ignored with a warning, as libpq does.
    set_mode(&passfile, 0o644);
    let (code, text) = run(
        with(&[
            ("HOME", "/nonexistent"),
            ("PGPASSFILE", &passfile.display().to_string()),
        ]),
        "",
    );
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("warning: source connection: password file") && text.contains("chmod 0600"),
        "{text}"
    );
    assert!(!text.contains(PASSWORD), "{text}");

    // CITUS_MIGRATE_SOURCE instead of --source.
    let out = bin()
        .args(["analyze", "--format", "csv"])
        .env("CITUS_MIGRATE_SOURCE", server.url("postgres"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out)
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("public,t,"),
        "{}",
        stdout_of(&out)
    );
    // Neither: a usage error.
    let out = bin().args(["analyze"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("--source"), "{}", stderr_of(&out));
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn unix_sockets_and_ipv6() {
    let server = LocalServer::start(&ServerOptions {
        settings: vec![("listen_addresses".into(), "'127.0.0.1,::1'".into())],
        ..Default::default()
    })
    .unwrap();
    server.psql("postgres", "CREATE TABLE t (id int)").unwrap();
    // A socket directory as host; sslmode=require is moot on a Unix socket, as in libpq.
    let dir = server.dir().display().to_string();
    let (code, text) = analyze(
        &format!(
            "host={dir} port={} user=postgres dbname=postgres sslmode=require",
            server.port
        ),
        &[],
    );
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = analyze(
        &format!(
            "postgresql://postgres@%2F{}:{}/postgres",
            &dir[1..].replace('/', "%2F"),
            server.port
        ),
        &[],
    );
    assert_eq!(code, Some(0), "{text}");
    // IPv6 loopback, in URI brackets and as host=.
    let (code, text) = analyze(
        &format!(
            "postgresql://postgres@[::1]:{}/postgres?sslmode=disable",
            server.port
        ),
        &[],
    );
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = analyze(
        &format!(
            "host=::1 port={} user=postgres dbname=postgres sslmode=disable",
            server.port
        ),
        &[],
    );
    assert_eq!(code, Some(0), "{text}");
    // Several hosts: the first refuses, the second answers.
    let refused = free_port().unwrap();
    let (code, text) = analyze(
        &format!(
            "postgresql://postgres@127.0.0.1:{refused},127.0.0.1:{}/postgres?sslmode=disable",
            server.port
        ),
        &[],
    );
    assert_eq!(code, Some(0), "{text}");
}

#[test]
fn bad_connections_fail_clearly() {
    let server = password_server();
    let port = server.port;

    // Unresolvable host name.
    let (code, text) = analyze(
        "postgresql://postgres:Pa55%3Aw%2Frd%40hunter2@nonexistent.invalid:5432/postgres",
        &[],
    );
    assert_clean_failure(
        code,
        &text,
        1,
        &[
            "cannot connect to the source database",
            "nonexistent.invalid",
            "cannot be resolved",
        ],
    );
    // Nothing listens on the port.
    let refused = free_port().unwrap();
    let (code, text) = analyze(
        &format!("host=127.0.0.1 port={refused} user=postgres password=sekrit"),
        &[],
    );
    assert_clean_failure(
        code,
        &text,
        1,
        &[
            "cannot connect to the source database",
            &format!("port={refused}"),
            "Nothing accepts connections",
        ],
    );
    // Wrong password.
    let (code, text) = analyze(
        &format!("postgresql://postgres:sekrit@127.0.0.1:{port}/postgres?sslmode=disable"),
        &[],
    );
    assert_clean_failure(
        code,
        &text,
        1,
        &[
            "password authentication failed",
            "Check the user name and password",
            "password=********",
        ],
    );
    // Missing database.
    let (code, text) = analyze(
        &format!("host=127.0.0.1 port={port} user=postgres password='{PASSWORD}' dbname=nope"),
        &[],
    );
    assert_clean_failure(
        code,
        &text,
        1,
        &["database \"nope\" does not exist", "check dbname"],
    );
    // Malformed connection strings: usage errors.
    for bad in [
        format!("host=127.0.0.1 port=99999 password={PASSWORD}"),
        format!("mysql://root:{PASSWORD}@localhost/db"),
        format!("host=127.0.0.1 password='{PASSWORD}"),
        format!("host=127.0.0.1 sslmode=always password={PASSWORD}"),
        format!("host=127.0.0.1 nonsense=1 password={PASSWORD}"),
        format!("postgresql://postgres:Pa55%3Aw%2Frd%40hunter2@127.0.0.1:{port}/postgres?connect_timeout=soon"),
        format!("host=127.0.0.1 hostaddr=not-an-ip password={PASSWORD}"),
    ] {
        let (code, text) = analyze(&bad, &[]);
        assert_clean_failure(code, &text, 2, &["source connection string is invalid"]);
    }
    // The same with RUST_LOG set: still no password anywhere.
    let (code, text) = analyze(
        &format!("postgresql://postgres:sekrit@127.0.0.1:{port}/postgres"),
        &[("RUST_LOG", "trace")],
    );
    assert_clean_failure(code, &text, 1, &["password authentication failed"]);
}

/// Passwords written without the quoting or percent-encoding they needed: usage errors (exit 2)
/// that say where the string goes wrong without quoting any of it.
#[test]
fn misquoted_passwords_are_refused_without_being_echoed() {
    for (source, needle) in [
        ("postgres:/app:SECRET@host/db", "starts like a URI"),
        (
            "host=h password=A SECRET user=u",
            "key number 3 (after password)",
        ),
        ("postgresql://app:SE/CRET@host/db", "%2F"),
        ("postgresql://app:SE?CRET@host/db", "%3F"),
        (
            "postgresql://app:SECRET/db",
            "the port in the URI's host part",
        ),
    ] {
        let (code, text) = analyze(source, &[]);
        assert_clean_failure(
            code,
            &text,
            2,
            &["source connection string is invalid", needle],
        );
        for piece in ["SECRET", "CRET", "SE/", "SE?"] {
            assert!(!text.contains(piece), "{piece} printed: {text}");
        }
    }
    // The target's string says it is the target's.
    let out = bin()
        .args(["copy", "--table", "t", "--source", "host=h", "--target"])
        .arg("postgresql://app:SE?CRET@host/db")
        .output()
        .unwrap();
    let text = format!("{}{}", stdout_of(&out), stderr_of(&out));
    assert_clean_failure(
        out.status.code(),
        &text,
        2,
        &["target connection string is invalid", "%3F"],
    );
    assert!(!text.contains("CRET"), "{text}");
}

/// A worker that refuses the target's password is named, with where its address and credentials come
/// from (not told to check --target's host), and the copy goes through the coordinator.
#[test]
fn a_worker_refusing_the_target_credentials_is_named() {
    let Some(cluster) = citus_or_skip("a_worker_refusing_the_target_credentials_is_named") else {
        return;
    };
    let source = server_with(
        "src",
        "CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items SELECT generate_series(1, 100);",
    );
    cluster.create_database("dst").unwrap();
    let coord = &cluster.coordinator;
    coord
        .psql(
            "dst",
            "CREATE TABLE items (id int PRIMARY KEY); SELECT create_distributed_table('items', 'id');",
        )
        .unwrap();
    let passwords = workers_with_own_passwords(&cluster, "dst");
    // The coordinator trusts this machine; the password given is what the workers get.
    let target = format!(
        "host={} port={} dbname=dst user=postgres password=sekrit sslmode=disable",
        coord.host, coord.port
    );
    let out = bin()
        .args(["copy", "--table", "items", "--source", &source.url("src")])
        .args(["--target", &target])
        .env("PGPASSFILE", "/nonexistent/pgpass")
        .output()
        .unwrap();
    let text = format!("{}{}", stdout_of(&out), stderr_of(&out));
    assert!(out.status.success(), "{text}");
    assert_eq!(
        coord.psql("dst", "SELECT count(*) FROM items").unwrap(),
        "100"
    );
    let node = format!("worker node 127.0.0.1:{}", cluster.workers[0].port);
    for needle in [
        "items: rows go through the coordinator",
        node.as_str(),
        "as listed in the coordinator's pg_dist_node, reached with the target's user, password and TLS options",
        "password authentication failed",
        "Workers are reached with the target's user and password",
    ] {
        assert!(text.contains(needle), "expected {needle:?} in: {text}");
    }
    assert!(
        !text.contains("Check the user name and password (--target"),
        "{text}"
    );
    for secret in passwords
        .iter()
        .map(String::as_str)
        .chain(["sekrit", "secret"])
    {
        assert!(!text.contains(secret), "password printed: {text}");
    }
}

#[test]
fn missing_privileges_fail_clearly() {
    let server = server_with(
        "app",
        "CREATE SCHEMA private; CREATE TABLE private.secret (id int); CREATE TABLE public.open (id int);
         CREATE ROLE outsider LOGIN; CREATE ROLE reader LOGIN;
         REVOKE CONNECT ON DATABASE app FROM PUBLIC; GRANT CONNECT ON DATABASE app TO reader;
         GRANT SELECT ON public.open TO reader;",
    );
    let url = |user: &str| {
        format!(
            "postgresql://{user}@127.0.0.1:{}/app?sslmode=disable",
            server.port
        )
    };

    // No CONNECT on the database.
    let (code, text) = analyze(&url("outsider"), &[]);
    assert_clean_failure(
        code,
        &text,
        1,
        &[
            "cannot connect to the source database",
            "permission denied for database",
            "GRANT CONNECT",
        ],
    );

    // The catalog itself is readable without privileges on the tables ...
    let (code, text) = analyze(&url("reader"), &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("\"secret\""), "{text}");
    // ... but counting rows needs USAGE on the schema and SELECT on the table.
    let out = bin()
        .args(["analyze", "--exact-counts", "--source", &url("reader")])
        .output()
        .unwrap();
    let text = format!("{}{}", stdout_of(&out), stderr_of(&out));
    assert_clean_failure(
        out.status.code(),
        &text,
        1,
        &[
            "source",
            "private.secret",
            "permission denied for schema private",
            "GRANT",
        ],
    );
    let out = bin()
        .args([
            "analyze",
            "--exact-counts",
            "--schema",
            "public",
            "--source",
            &url("reader"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
}

#[test]
fn connect_timeout_covers_a_server_that_never_answers() {
    // A TCP listener that accepts and then says nothing.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(2) {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(10));
    });
    let start = std::time::Instant::now();
    let (code, text) = analyze(
        &format!("host=127.0.0.1 port={port} user=postgres password=sekrit connect_timeout=1"),
        &[],
    );
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "took {:?}",
        start.elapsed()
    );
    assert_clean_failure(
        code,
        &text,
        1,
        &[
            "cannot connect to the source database",
            "timed out after 1s",
            "connect_timeout",
        ],
    );
    let (code, text) = analyze(
        &format!("host=127.0.0.1 port={port} user=postgres"),
        &[("PGCONNECT_TIMEOUT", "1")],
    );
    assert_clean_failure(code, &text, 1, &["timed out after 1s"]);
    drop(holder);
}
