//! The local-server harness itself: plain servers and a real Citus cluster start, answer and stop.

use citus_migrate_core::connect::{connect, query};
use citus_migrate_core::conninfo::ConnInfo;
use citus_migrate_core::error::Side;
use citus_migrate_core::local::{citus_or_skip, LocalPgBouncer, LocalServer, ServerOptions};

#[test]
fn plain_server_starts_answers_and_stops() {
    let mut server = LocalServer::start(&ServerOptions::default()).unwrap();
    assert_eq!(server.psql("postgres", "SELECT 40 + 2").unwrap(), "42");
    let dir = server.dir().to_path_buf();
    let port = server.port;
    server.stop();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "server still listening after stop"
    );
    drop(server);
    assert!(!dir.exists(), "temporary directory left behind");
}

#[test]
fn server_is_stopped_when_a_test_panics() {
    let port = std::panic::catch_unwind(|| {
        let server = LocalServer::start(&ServerOptions::default()).unwrap();
        let port = server.port;
        std::panic::panic_any(port);
    })
    .unwrap_err();
    let port = *port.downcast::<u16>().unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "server survived the panic"
    );
}

#[test]
fn citus_cluster_has_two_active_workers() {
    let Some(cluster) = citus_or_skip("citus_cluster_has_two_active_workers") else {
        return;
    };
    let n = cluster
        .coordinator
        .psql(
            "postgres",
            "SELECT count(*) FROM citus_get_active_worker_nodes()",
        )
        .unwrap();
    assert_eq!(n, "2");
    cluster.create_database("other db").unwrap();
    let out = cluster
        .coordinator
        .psql("other db", "CREATE TABLE t (id bigint PRIMARY KEY); SELECT create_distributed_table('t', 'id'); SELECT count(DISTINCT nodeport) FROM pg_dist_shard_placement")
        .unwrap();
    assert!(out.ends_with('2'), "{out}");
}

fn psql_at(server: &LocalServer, url: &str, sql: &str) -> std::process::Output {
    std::process::Command::new(server.bindir().join("psql"))
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .output()
        .unwrap()
}

#[test]
fn pgbouncer_pools_transactions_in_front_of_a_server() {
    let server = LocalServer::start(&ServerOptions::default()).unwrap();
    server.create_database("other db").unwrap();
    server.psql("postgres", "CREATE ROLE app LOGIN").unwrap();
    let bouncer = LocalPgBouncer::start(&server).unwrap();
    assert_ne!(bouncer.port, server.port);

    // The proxy really is pgbouncer, and its admin console says it pools per transaction.
    let out = psql_at(&server, &bouncer.url("pgbouncer"), "SHOW CONFIG");
    let config = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        config
            .lines()
            .any(|l| l.starts_with("pool_mode|transaction|")),
        "{config}"
    );
    assert!(
        config
            .lines()
            .any(|l| l.starts_with(&format!("listen_port|{}|", bouncer.port))),
        "{config}"
    );

    // Queries through the bouncer reach the right database, through the core connection path too,
    // and roles other than the superuser are looked up through auth_user.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for (url, user) in [
            (bouncer.url("other db"), "postgres"),
            (
                format!(
                    "postgresql://app@127.0.0.1:{}/postgres?sslmode=disable",
                    bouncer.port
                ),
                "app",
            ),
        ] {
            let info = ConnInfo::parse(Side::Source, &url).unwrap();
            let client = connect(&info).await.unwrap();
            let rows = query(
                &client,
                Side::Source,
                "t",
                "SELECT current_database(), current_user::text",
                &[],
            )
            .await
            .unwrap();
            assert_eq!(rows[0].get::<_, String>(1), user);
            let db: String = rows[0].get(0);
            assert_eq!(
                db,
                if user == "app" {
                    "postgres"
                } else {
                    "other db"
                }
            );
        }
    });

    let port = bouncer.port;
    drop(bouncer);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "pgbouncer still listening after drop"
    );
}

#[test]
fn pgbouncer_in_front_of_a_password_protected_server() {
    let server = LocalServer::start(&ServerOptions {
        password: Some("s3cr:et/pw".into()),
        ..Default::default()
    })
    .unwrap();
    let bouncer = LocalPgBouncer::start(&server).unwrap();
    let out = psql_at(&server, &bouncer.url("postgres"), "SELECT 1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wrong = bouncer.url("postgres").replace("s3cr%3Aet%2Fpw", "wrong");
    let out = psql_at(&server, &wrong, "SELECT 1");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    // pgbouncer words it its own way.
    assert!(err.contains("SASL authentication failed"), "{err}");
}
