//! Reads a database's catalog (`catalog::analyze`) and writes the analyze JSON report without the
//! advice, to stdout or `--output FILE`. `bench/analyze.sh` times it next to the full
//! `citus-migrate analyze`, to show how the time splits between reading the catalog and advising.
//!
//!     cargo run --release --example catalog_json -- URL [--output FILE]

use citus_migrate_core::catalog::{self, ReadOptions};
use citus_migrate_core::conninfo::ConnInfo;
use citus_migrate_core::report::AnalyzeReport;
use citus_migrate_core::Side;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), output) = (
        args.first(),
        args.iter()
            .position(|a| a == "--output")
            .and_then(|i| args.get(i + 1)),
    ) else {
        eprintln!("usage: catalog_json URL [--output FILE]");
        std::process::exit(2);
    };
    let result = (|| -> citus_migrate_core::Result<String> {
        let info = ConnInfo::parse(Side::Source, url)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| citus_migrate_core::Error::io("starting the runtime", e))?;
        let catalog = rt.block_on(catalog::analyze(&info, &ReadOptions::default()))?;
        AnalyzeReport::new(&catalog).to_json()
    })();
    match result {
        Ok(json) => match output {
            Some(path) => std::fs::write(path, json).unwrap_or_else(|e| {
                eprintln!("error: cannot write {path}: {e}");
                std::process::exit(1);
            }),
            None => println!("{json}"),
        },
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
