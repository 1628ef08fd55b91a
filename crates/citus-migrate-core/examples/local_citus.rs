//! Starts a throwaway local Citus cluster (coordinator + N workers, the test harness's
//! `local::LocalCitus`) and a plain PostgreSQL server to use as a source, prints their URLs and keeps
//! them running until stdin closes or a line is read. For trying generated SQL by hand.
//!
//!     cargo run --example local_citus -- [WORKERS] [--logical]
//!
//! `--logical`: the source runs with `wal_level = logical` (for `migrate --online`, `bench/online.sh`).

use std::io::BufRead;

use citus_migrate_core::local::{LocalCitus, LocalServer, ServerOptions};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let workers = args.iter().find_map(|w| w.parse().ok()).unwrap_or(2);
    let logical = args.iter().any(|a| a == "--logical");
    let cluster = LocalCitus::start(workers).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1);
    });
    let settings = if logical {
        vec![("wal_level".to_string(), "logical".to_string())]
    } else {
        Vec::new()
    };
    let source = LocalServer::start(&ServerOptions {
        settings,
        ..ServerOptions::default()
    })
    .unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1);
    });
    println!("coordinator {}", cluster.url("postgres"));
    println!("source {}", source.url("postgres"));
    let _ = std::io::stdin().lock().read_line(&mut String::new());
}
