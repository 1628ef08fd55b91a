//! The local-server harness itself: plain servers and a real Citus cluster start, answer and stop.

use citus_migrate_core::local::{citus_or_skip, LocalServer, ServerOptions};

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
