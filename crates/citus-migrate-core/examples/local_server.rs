//! Starts a throwaway local PostgreSQL server (the test harness's `local::LocalServer`), optionally loads
//! SQL files into a database, prints its URL and keeps it running until stdin closes or a line is read.
//! Used by `bench/analyze.sh`.
//!
//!     cargo run --example local_server -- [--db NAME] [FILE.sql ...]

use std::io::BufRead;

use citus_migrate_core::local::{LocalServer, ServerOptions};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut db = "postgres".to_string();
    if args.first().map(String::as_str) == Some("--db") && args.len() >= 2 {
        db = args[1].clone();
        args.drain(..2);
    }
    let server = match LocalServer::start(&ServerOptions::default()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    if db != "postgres" {
        if let Err(e) = server.create_database(&db) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
    for file in &args {
        let sql = std::fs::read_to_string(file).unwrap_or_else(|e| {
            eprintln!("error: cannot read {file}: {e}");
            std::process::exit(1);
        });
        if let Err(e) = server.psql(&db, &sql) {
            eprintln!("error: loading {file}: {e}");
            std::process::exit(1);
        }
    }
    println!("{}", server.url(&db));
    let _ = std::io::stdin().lock().read_line(&mut String::new());
}
