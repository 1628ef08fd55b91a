//! `02-distribute.sql` and `rollback.sql`: one statement per table, each guarded so that running the
//! file again skips what is already done (a table already laid out as planned is left alone; one laid
//! out differently makes Citus stop with an error naming it).
//!
//! These run on a target that `01-pre-data.sql` has just filled with the source's functions,
//! operators and types. So every function, catalog table, type and operator they use is named with
//! its schema (`pg_catalog`, where Citus keeps its functions and metadata) and every argument has its
//! exact type: a function or operator of the source that matches better than Citus's
//! (`public.create_distributed_table(text, text)`, `public.=(regclass, regclass)`) is never chosen,
//! whatever the search path. The guards read `pg_dist_partition` rather than the `citus_tables` view,
//! which lives in `public` and asks every worker for the size of every table.

use crate::advice::Kind;
use crate::ident::{quote_ident, quote_literal, QualifiedName};
use crate::plan::Plan;

/// PostgreSQL's `=`, whatever the source defined.
pub(crate) const EQ: &str = "OPERATOR(pg_catalog.=)";

/// `'schema.table'::pg_catalog.regclass`.
fn regclass(q: &QualifiedName) -> String {
    format!("{}::pg_catalog.regclass", q.regclass_literal())
}

/// `'…'::pg_catalog.text`.
fn text(s: &str) -> String {
    format!("{}::pg_catalog.text", quote_literal(s))
}

/// `'schema'::pg_catalog.regnamespace`.
fn regnamespace(schema: &str) -> String {
    format!(
        "{}::pg_catalog.regnamespace",
        quote_literal(&quote_ident(schema))
    )
}

/// The condition that schema `s` is a distributed schema (`pg_dist_schema`, Citus 12+); `to_regnamespace`
/// so that a schema already gone is simply not distributed.
fn schema_distributed(s: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM pg_catalog.pg_dist_schema d WHERE d.schemaid OPERATOR(pg_catalog.=) pg_catalog.to_regnamespace({}))",
        text(&quote_ident(s))
    )
}

/// The condition that `pg_dist_partition` row `p` is table `rel`, hash-distributed by column `col`.
fn distributed_by(p: &str, rel: &str, col: &str) -> String {
    format!(
        "{p}.logicalrelid {EQ} {rel} AND {p}.partmethod {EQ} 'h'::pg_catalog.\"char\" AND pg_catalog.column_to_column_name({p}.logicalrelid, {p}.partkey) {EQ} {col}"
    )
}

/// The statements of `02-distribute.sql`: reference tables first, then each distributed schema
/// (`citus_schema_distribute`: its tables become single-shard tables, co-located per schema; their
/// foreign keys may point to the reference tables made before), then each co-location group's
/// leader (with `colocate_with => 'none'` and the shard count) and its members (`colocate_with` the
/// leader).
pub fn distribute(plan: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    for t in plan.tables.iter().filter(|t| t.kind == Kind::Reference) {
        let rel = regclass(&t.qualified());
        out.push(format!(
            "SELECT pg_catalog.create_reference_table({rel})\nWHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid {EQ} {rel} AND p.partmethod {EQ} 'n'::pg_catalog.\"char\" AND p.repmodel {EQ} 't'::pg_catalog.\"char\");"
        ));
    }
    for schema in plan.distributed_schemas() {
        out.push(format!(
            "SELECT pg_catalog.citus_schema_distribute({})\nWHERE NOT {};",
            regnamespace(schema),
            schema_distributed(schema)
        ));
    }
    for g in plan.groups() {
        let leader = g.leader.qualified();
        let leader_rel = regclass(&leader);
        let col = text(g.leader.distribution_column.as_deref().unwrap_or_default());
        let n = g.shard_count;
        out.push(format!(
            "SELECT pg_catalog.create_distributed_table({leader_rel}, {col}, colocate_with => 'none'::pg_catalog.text, shard_count => {n})\nWHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE {} AND (SELECT pg_catalog.count(*) FROM pg_catalog.pg_dist_shard s WHERE s.logicalrelid {EQ} p.logicalrelid) {EQ} {n});",
            distributed_by("p", &leader_rel, &col)
        ));
        for m in &g.members {
            let rel = regclass(&m.qualified());
            let col = text(m.distribution_column.as_deref().unwrap_or_default());
            out.push(format!(
                "SELECT pg_catalog.create_distributed_table({rel}, {col}, colocate_with => {})\nWHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p JOIN pg_catalog.pg_dist_partition l ON l.colocationid {EQ} p.colocationid WHERE {} AND l.logicalrelid {EQ} {leader_rel});",
                text(&leader.quoted()),
                distributed_by("p", &rel, &col)
            ));
        }
    }
    out
}

/// The tables 02 makes distributed (row-based) or reference, each with whether it is a reference table,
/// in the order 02 handles them.
fn moved_tables(plan: &Plan) -> Vec<(QualifiedName, bool)> {
    let mut v: Vec<(QualifiedName, bool)> = plan
        .tables
        .iter()
        .filter(|t| t.kind == Kind::Reference)
        .map(|t| (t.qualified(), true))
        .collect();
    for g in plan.groups() {
        v.push((g.leader.qualified(), false));
        v.extend(g.members.iter().map(|m| (m.qualified(), false)));
    }
    v
}

/// `undistribute_table(…, cascade_via_foreign_keys => true)` for `q`, only while it is a Citus table
/// (a cascade may already have turned it back).
fn undistribute(q: &QualifiedName) -> String {
    format!(
        "SELECT pg_catalog.undistribute_table({}, cascade_via_foreign_keys => true)\nWHERE EXISTS (SELECT 1 FROM pg_catalog.pg_dist_partition p WHERE p.logicalrelid {EQ} pg_catalog.to_regclass({}));",
        regclass(q),
        text(&q.quoted())
    )
}

/// The statements of `rollback.sql`, 02 undone last step first: `undistribute_table(…,
/// cascade_via_foreign_keys => true)` for every row-distributed table, last moved first; then
/// `citus_schema_undistribute` for every distributed schema (its tables become plain tables again);
/// then the reference tables. Each runs only while there is something to undo. Citus copies the rows
/// back into plain tables.
pub fn rollback(plan: &Plan) -> Vec<String> {
    let moved = moved_tables(plan);
    let mut out: Vec<String> = moved
        .iter()
        .rev()
        .filter(|(_, reference)| !reference)
        .map(|(q, _)| undistribute(q))
        .collect();
    for schema in plan.distributed_schemas().iter().rev() {
        out.push(format!(
            "SELECT pg_catalog.citus_schema_undistribute({})\nWHERE {};",
            regnamespace(schema),
            schema_distributed(schema)
        ));
    }
    out.extend(
        moved
            .iter()
            .rev()
            .filter(|(_, reference)| *reference)
            .map(|(q, _)| undistribute(q)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ident::top_level;

    /// Every word followed by `(` (a function call) and every `=` at top level of `sql`, outside
    /// strings and quoted names.
    fn calls_and_operators(sql: &str) -> (Vec<String>, usize) {
        let top = top_level(sql);
        let b = sql.as_bytes();
        let mut calls = Vec::new();
        let mut bare_eq = 0;
        for i in 0..b.len() {
            if !top[i] {
                continue;
            }
            if b[i] == b'='
                && b.get(i + 1) != Some(&b'>')
                && !sql[..i].ends_with("OPERATOR(pg_catalog.")
            {
                bare_eq += 1;
            }
            if b[i] == b'(' {
                let start = sql[..i]
                    .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                    .map_or(0, |p| p + 1);
                let word = &sql[start..i];
                if !word.is_empty() && word != "OPERATOR" && !["EXISTS", "IN"].contains(&word) {
                    calls.push(word.to_string());
                }
            }
        }
        (calls, bare_eq)
    }

    #[test]
    fn every_call_and_comparison_is_pg_catalogs() {
        let plan: Plan = serde_json::from_value(serde_json::json!({
            "format_version": 1,
            "source": { "database": "d" },
            "shard_count": 4,
            "tables": [
                { "schema": "public", "name": "r'\n\\! touch x", "kind": "reference" },
                { "schema": "s", "name": "Lead\"er", "kind": "distributed",
                  "distribution_column": "id'); SELECT 1; --", "colocation_group": "g" },
                { "schema": "s", "name": "m", "kind": "distributed",
                  "distribution_column": "t", "colocation_group": "g" },
                { "schema": "Ten'ant\"1", "name": "a", "kind": "schema" },
                { "schema": "Ten'ant\"1", "name": "b", "kind": "schema" },
            ]
        }))
        .unwrap();
        let all: Vec<String> = distribute(&plan)
            .into_iter()
            .chain(rollback(&plan))
            .collect();
        // 02: the reference table, the schema (once for its two tables), the group; rollback: the group
        // last first, the schema, the reference table.
        assert_eq!(all.len(), 8);
        for sql in &all {
            let (calls, bare_eq) = calls_and_operators(sql);
            assert_eq!(bare_eq, 0, "{sql}");
            assert!(!calls.is_empty(), "{sql}");
            for c in calls {
                assert!(c.starts_with("pg_catalog."), "{c} in {sql}");
            }
            assert!(!sql.contains("citus_tables"), "{sql}");
        }
        assert_eq!(
            all[1].lines().next().unwrap(),
            "SELECT pg_catalog.citus_schema_distribute('\"Ten''ant\"\"1\"'::pg_catalog.regnamespace)"
        );
        assert_eq!(
            all[2].lines().next().unwrap(),
            "SELECT pg_catalog.create_distributed_table('s.\"Lead\"\"er\"'::pg_catalog.regclass, 'id''); SELECT 1; --'::pg_catalog.text, colocate_with => 'none'::pg_catalog.text, shard_count => 4)"
        );
        assert!(
            all[4].starts_with("SELECT pg_catalog.undistribute_table('s.m'"),
            "{}",
            all[4]
        );
        assert_eq!(
            all[6].lines().next().unwrap(),
            "SELECT pg_catalog.citus_schema_undistribute('\"Ten''ant\"\"1\"'::pg_catalog.regnamespace)"
        );
        assert!(all[7].contains("undistribute_table(E'public"), "{}", all[7]);
        assert_eq!(
            all[3].lines().next().unwrap(),
            "SELECT pg_catalog.create_distributed_table('s.m'::pg_catalog.regclass, 't'::pg_catalog.text, colocate_with => 's.\"Lead\"\"er\"'::pg_catalog.text)"
        );
    }
}
