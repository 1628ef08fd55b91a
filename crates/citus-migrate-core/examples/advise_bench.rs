//! Times the advisor (`advice::advise`) and the checks of its plan (`plan::checks::check`), as
//! `analyze` runs them, on synthetic catalogs held in memory: a tree of tables
//! (each references its parent's primary key, like tenant → project → task …) and one long chain
//! of one-to-one extension tables (each table's primary key references the previous table's). Every
//! table has a primary key, a foreign key and an index. Prints the time and a digest of the advice and
//! the blockers, so that a change to the advisor can be checked to leave its decisions as they were;
//! `--json DIR` also writes the advice of each shape to `DIR/tree.json` and `DIR/chain.json`.
//!
//!     cargo run --release -p citus-migrate-core --example advise_bench -- [TABLES] [--json DIR]

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::Instant;

use citus_migrate_core::advice::{advise, AdviceOptions};
use citus_migrate_core::catalog::{
    Catalog, Column, ForeignKey, Index, KeyConstraint, Reference, Table, TableKind,
};
use citus_migrate_core::ident::QualifiedName;
use citus_migrate_core::plan::{checks, Plan};

fn column(name: &str, attnum: i32) -> Column {
    Column {
        name: name.into(),
        attnum,
        type_name: "bigint".into(),
        base_type: "int8".into(),
        type_category: "N".into(),
        type_kind: "b".into(),
        not_null: true,
        default: None,
        identity: None,
        generated: None,
        sequence: None,
        stats: None,
    }
}

/// Table `t{i}` with columns `id` and `link`: primary key `id`, an index on `link`, and a foreign
/// key `fk_col` → `t{target}.id`.
fn table(i: usize, target: usize, fk_col: &str) -> Table {
    let rows = 1_000 + (i as i64 * 7_919) % 1_000_000;
    let name = format!("t{i}");
    Table {
        schema: "public".into(),
        name: name.clone(),
        oid: i as u32 + 16384,
        table_kind: TableKind::Plain,
        unlogged: false,
        parent: None,
        partition_key: None,
        partition_bound: None,
        heap_bytes: rows * 100,
        index_bytes: rows * 40,
        toast_bytes: 0,
        total_bytes: rows * 140 + 8192,
        rows_estimate: rows,
        rows_exact: None,
        rewrites: 0,
        owner: "o".into(),
        access_method: None,
        comment: None,
        columns: vec![column("id", 1), column("link", 2)],
        primary_key: Some(KeyConstraint {
            name: format!("{name}_pkey"),
            columns: vec!["id".into()],
            definition: String::new(),
        }),
        unique_constraints: vec![],
        exclusion_constraints: vec![],
        check_constraints: vec![],
        foreign_keys: vec![ForeignKey {
            name: format!("{name}_{fk_col}_fkey"),
            columns: vec![fk_col.into()],
            referenced_table: QualifiedName::new("public", format!("t{target}")),
            referenced_columns: vec!["id".into()],
            on_update: "no action".into(),
            on_delete: "no action".into(),
            match_type: "simple".into(),
            deferrable: false,
            validated: true,
            definition: String::new(),
        }],
        referenced_by: vec![],
        indexes: vec![Index {
            name: format!("{name}_link_idx"),
            columns: vec!["link".into()],
            unique: false,
            primary: false,
            partial: false,
            expressions: false,
            method: "btree".into(),
            backs_constraint: false,
            bytes: rows * 20,
            definition: String::new(),
        }],
        triggers: vec![],
        rules: vec![],
        policies: vec![],
        rls_enabled: false,
    }
}

fn catalog(mut tables: Vec<Table>) -> Catalog {
    let refs: Vec<(usize, Reference)> = tables
        .iter()
        .flat_map(|t| {
            t.foreign_keys.iter().map(|f| {
                let target: usize = f.referenced_table.name[1..].parse().unwrap();
                (
                    target,
                    Reference {
                        table: t.qualified(),
                        constraint: f.name.clone(),
                        columns: f.columns.clone(),
                        referenced_columns: f.referenced_columns.clone(),
                    },
                )
            })
        })
        .collect();
    for (target, r) in refs {
        tables[target].referenced_by.push(r);
    }
    Catalog {
        database: "bench".into(),
        server_version: "15".into(),
        server_version_num: 150000,
        citus_version: None,
        extensions: vec![],
        current_user: "o".into(),
        database_bytes: tables.iter().map(|t| t.total_bytes).sum(),
        standby: None,
        tables,
    }
}

fn run(shape: &str, cat: &Catalog, json: Option<&str>) {
    let start = Instant::now();
    let advice = advise(cat, &AdviceOptions::default());
    let blockers = checks::check(cat, &Plan::from_advice(&advice));
    let took = start.elapsed();
    let text = serde_json::to_string_pretty(&advice).unwrap();
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    serde_json::to_string(&blockers).unwrap().hash(&mut h);
    println!(
        "{shape:5} {:6} tables: advise + check {:8.3} s  (advice digest {:016x}, {} groups)",
        cat.tables.len(),
        took.as_secs_f64(),
        h.finish(),
        advice.colocation_groups.len()
    );
    if let Some(dir) = json {
        std::fs::write(format!("{dir}/{shape}.json"), text).unwrap();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: usize = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .map(|a| a.parse().expect("TABLES must be a number"))
        .unwrap_or(5_000);
    let json = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    // A tree: t0 is the root; t{i} references its parent t{(i - 1) / 4} through `link`; t0 references
    // itself (a manager-style self reference).
    let tree = catalog(
        (0..n)
            .map(|i| table(i, i.saturating_sub(1) / 4, "link"))
            .collect(),
    );
    run("tree", &tree, json);
    // A chain: t{i}.id references t{i - 1}.id, so every key leads back to t0.id through i tables.
    let chain = catalog(
        (0..n)
            .map(|i| table(i, i.saturating_sub(1), if i == 0 { "link" } else { "id" }))
            .collect(),
    );
    run("chain", &chain, json);
}
