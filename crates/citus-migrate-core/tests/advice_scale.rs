//! The advice must not change when only the data's scale changes. Each of the repository's own schema
//! fixtures is loaded on a real server and read; the catalog is then grown tenfold and a hundredfold
//! (rows and bytes of every table, as the same data ten and a hundred times over would have them: the
//! statistics' distinct fractions stay, counts of a few values stay) and advised again. The verdict and
//! every table's kind, distribution column and co-location group must stay the same. (The corpus test,
//! `tests/cli/corpus.rs`, does the same with real data at two or three scales.)

use citus_migrate_core::advice::{advise, Advice, AdviceOptions};
use citus_migrate_core::catalog::{self, Catalog, ReadOptions};
use citus_migrate_core::conninfo::ConnInfo;
use citus_migrate_core::error::Side;
use citus_migrate_core::local::{LocalServer, ServerOptions};

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn read(url: &str) -> Catalog {
    let info = ConnInfo::parse(Side::Source, url).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(catalog::analyze(&info, &ReadOptions::default()))
        .unwrap()
}

/// The same data `factor` times over.
fn grown(catalog: &Catalog, factor: i64) -> Catalog {
    let mut c = catalog.clone();
    for t in &mut c.tables {
        t.heap_bytes *= factor;
        t.index_bytes *= factor;
        t.toast_bytes *= factor;
        t.total_bytes *= factor;
        if t.rows_estimate > 0 {
            t.rows_estimate *= factor;
        }
        t.rows_exact = t.rows_exact.map(|r| r * factor);
    }
    c
}

/// The verdict, and each table's kind, distribution column and co-location group.
fn answer(a: &Advice) -> Vec<String> {
    let mut v = vec![format!("verdict {:?}", a.verdict)];
    v.extend(a.tables.iter().map(|t| {
        format!(
            "{}.{}: {:?} {:?} {:?}",
            t.schema, t.name, t.kind, t.distribution_column, t.colocation_group
        )
    }));
    v
}

#[test]
fn every_fixture_gets_the_same_answer_tenfold_and_a_hundredfold() {
    let server = LocalServer::start(&ServerOptions::default()).unwrap();
    // Not `tpch.sql`: grown tenfold it has 250 nations, and the advisor then groups customers and
    // suppliers under them (at 25, fewer than the shards, nation is a reference table). That is the
    // one answer here that turns on a count crossing the shard count; TPC-H at real scale factors,
    // where nation and region stay fixed, gets one answer at every scale (corpus entry `tpch`).
    for name in [
        "saas.sql",
        "shop.sql",
        "star.sql",
        "rails.sql",
        "blockers.sql",
    ] {
        let db = name.trim_end_matches(".sql");
        server.create_database(db).unwrap();
        server.psql(db, &fixture(name)).unwrap();
        server.psql(db, "ANALYZE").unwrap();
        let catalog = read(&server.url(db));
        let opts = AdviceOptions::default();
        let base = answer(&advise(&catalog, &opts));
        for factor in [10, 100] {
            assert_eq!(
                answer(&advise(&grown(&catalog, factor), &opts)),
                base,
                "{name}: the advice changes when the data grows {factor}-fold"
            );
        }
    }
}
