//! `02-distribute.sql` and `rollback.sql`: one statement per table, each guarded so that running the
//! file again skips what is already done (a table already laid out as planned is left alone; one laid
//! out differently makes Citus stop with an error naming it).

use crate::advice::Kind;
use crate::ident::{quote_literal, QualifiedName};
use crate::plan::Plan;

/// The statements of `02-distribute.sql`: reference tables first, then each co-location group's
/// leader (with `colocate_with => 'none'` and the shard count) and its members (`colocate_with` the
/// leader).
pub fn distribute(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for t in plan.tables.iter().filter(|t| t.kind == Kind::Reference) {
        let q = t.qualified();
        out.push(format!(
            "SELECT create_reference_table({lit})\nWHERE NOT EXISTS (SELECT 1 FROM citus_tables WHERE table_name = {lit}::regclass AND citus_table_type = 'reference');",
            lit = q.regclass_literal()
        ));
    }
    for g in plan.groups() {
        let leader = g.leader.qualified();
        let lcol = g.leader.distribution_column.clone().unwrap_or_default();
        out.push(format!(
            "SELECT create_distributed_table({lit}, {col}, colocate_with => 'none', shard_count => {n})\nWHERE NOT EXISTS (SELECT 1 FROM citus_tables WHERE table_name = {lit}::regclass AND citus_table_type = 'distributed' AND distribution_column = {col} AND shard_count = {n});",
            lit = leader.regclass_literal(),
            col = quote_literal(&lcol),
            n = g.shard_count
        ));
        for m in &g.members {
            let q = m.qualified();
            let col = m.distribution_column.clone().unwrap_or_default();
            out.push(format!(
                "SELECT create_distributed_table({lit}, {col}, colocate_with => {leader_lit})\nWHERE NOT EXISTS (SELECT 1 FROM citus_tables t JOIN citus_tables l ON l.colocation_id = t.colocation_id WHERE t.table_name = {lit}::regclass AND t.citus_table_type = 'distributed' AND t.distribution_column = {col} AND l.table_name = {leader_lit}::regclass);",
                lit = q.regclass_literal(),
                col = quote_literal(&col),
                leader_lit = leader.regclass_literal()
            ));
        }
    }
    out
}

/// The tables 02 makes distributed or reference, in the order 02 handles them.
pub fn moved_tables(plan: &Plan) -> Vec<QualifiedName> {
    let mut v: Vec<QualifiedName> = plan
        .tables
        .iter()
        .filter(|t| t.kind == Kind::Reference)
        .map(|t| t.qualified())
        .collect();
    for g in plan.groups() {
        v.push(g.leader.qualified());
        v.extend(g.members.iter().map(|m| m.qualified()));
    }
    v
}

/// The statements of `rollback.sql`: `undistribute_table(…, cascade_via_foreign_keys => true)` for
/// every table 02 moved, last moved first, each only while the table is still a Citus table (a
/// cascade may already have turned it back). Citus copies the rows back into a plain table.
pub fn rollback(plan: &Plan) -> Vec<String> {
    moved_tables(plan)
        .iter()
        .rev()
        .map(|q| {
            format!(
                "SELECT undistribute_table({lit}, cascade_via_foreign_keys => true)\nWHERE EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass({lit}));",
                lit = q.regclass_literal()
            )
        })
        .collect()
}
