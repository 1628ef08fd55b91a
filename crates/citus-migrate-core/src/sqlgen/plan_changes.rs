//! Changes the plan requires in the generated SQL. In the post-data section: with `extend_keys`, the
//! primary key, unique constraints and unique indexes of a distributed table get its distribution
//! column in front, and the foreign keys of co-located tables that reference them get theirs; pg_dump's
//! item for each such object is replaced in place, so the order stays dependency-safe; the foreign keys
//! the plan drops are left out. In the pre-data section: added columns and unified integer types
//! ([`pre_data`]). In `rollback.sql`: all of it undone on the tables brought back ([`rollback`]).

use super::post_data::{tag, PostDataItem, PostDataKind};
use crate::advice::Kind;
use crate::catalog::Catalog;
use crate::ident::{comment_text, quote_ident, QualifiedName};
use crate::plan::changes::{added_columns, TableChange};
use crate::plan::extend::{fk_rewrite, fk_sql, index_sql, key_sql, keys_lacking};
use crate::plan::Plan;

/// Replaces (or, when pg_dump did not dump it, appends) the SQL of every object the plan changes, and
/// leaves out the foreign keys it drops. `catalog` is the target's view of the source's
/// ([`crate::plan::changes::target_catalog`]). Returns how many statements changed, and a line for
/// each foreign key left out (which, on which table, why).
pub fn apply(
    catalog: &Catalog,
    plan: &Plan,
    items: &mut Vec<PostDataItem>,
) -> (usize, Vec<String>) {
    let mut dropped = Vec::new();
    for p in &plan.tables {
        for ch in &p.changes {
            if let TableChange::DropForeignKey {
                foreign_key,
                reason,
            } = ch
            {
                let name = tag(&format!("{} {foreign_key}", p.name));
                items.retain(|i| {
                    !(i.kind == PostDataKind::ForeignKey
                        && i.name == name
                        && i.table.as_ref() == Some(&p.qualified()))
                });
                dropped.push(format!(
                    "foreign key {} on {}: {reason}",
                    quote_ident(foreign_key),
                    p.qualified()
                ));
            }
        }
    }
    let mut changes: Vec<(PostDataKind, QualifiedName, String, String, String)> = Vec::new();
    for p in plan
        .tables
        .iter()
        .filter(|p| p.extend_keys && p.kind == Kind::Distributed)
    {
        let (Some(t), Some(col)) = (
            catalog.table(&p.qualified()),
            p.distribution_column.as_deref(),
        ) else {
            continue;
        };
        let (keys, idx) = keys_lacking(t, col);
        for k in keys {
            let primary = t.primary_key.as_ref().is_some_and(|pk| pk.name == k.name);
            let why = format!(
                "extend_keys: {} in front of {}",
                quote_ident(col),
                quote_ident(&k.name)
            );
            changes.push((
                PostDataKind::Constraint,
                t.qualified(),
                tag(&format!("{} {}", t.name, k.name)),
                key_sql(&t.qualified(), k, primary, col),
                why,
            ));
        }
        for i in idx {
            if let Some(sql) = index_sql(i, col) {
                changes.push((
                    PostDataKind::Index,
                    t.qualified(),
                    tag(&i.name),
                    sql,
                    format!(
                        "extend_keys: {} in front of {}",
                        quote_ident(col),
                        quote_ident(&i.name)
                    ),
                ));
            }
        }
    }
    for a in &catalog.tables {
        for fk in &a.foreign_keys {
            if let Some((from, to)) = fk_rewrite(catalog, plan, a, fk) {
                let why = format!(
                    "extend_keys: the key it references now starts with {}",
                    quote_ident(&to[0])
                );
                changes.push((
                    PostDataKind::ForeignKey,
                    a.qualified(),
                    tag(&format!("{} {}", a.name, fk.name)),
                    fk_sql(&a.qualified(), fk, &from, &to),
                    why,
                ));
            }
        }
    }
    let n = changes.len();
    for (kind, table, name, sql, why) in changes {
        let sql = format!("-- changed by the plan ({})\n{sql}", comment_text(&why));
        match items
            .iter_mut()
            .find(|i| i.kind == kind && i.name == name && i.table.as_ref() == Some(&table))
        {
            Some(item) => item.sql = sql,
            None => items.push(PostDataItem {
                kind,
                table: Some(table),
                name,
                sql,
            }),
        }
    }
    (n, dropped)
}

/// The statements that follow pg_dump's pre-data section: the added columns (NOT NULL: the copy fills
/// every row) and the integer types the plan unifies. `source` is the source's catalog.
pub fn pre_data(source: &Catalog, plan: &Plan) -> String {
    let (added, _) = added_columns(source, plan);
    let mut out = String::new();
    for a in &added {
        out.push_str(&format!(
            "ALTER TABLE {} ADD COLUMN {} {} NOT NULL;\n",
            a.table.quoted(),
            quote_ident(&a.column),
            a.from.type_name
        ));
    }
    for p in &plan.tables {
        for ch in &p.changes {
            if let TableChange::ColumnType { column, type_name } = ch {
                out.push_str(&format!(
                    "ALTER TABLE {} ALTER COLUMN {} TYPE {};\n",
                    p.qualified().quoted(),
                    quote_ident(column),
                    int_type_sql(type_name)
                ));
            }
        }
    }
    if out.is_empty() {
        return out;
    }
    format!("\n-- citus-migrate: the plan's changes to the tables on the target (plan.json \"changes\")\n{out}")
}

/// A `column_type` type as SQL: only integer type names pass the checks; anything else is quoted.
fn int_type_sql(name: &str) -> String {
    match name.trim().to_ascii_lowercase().as_str() {
        n @ ("smallint" | "integer" | "bigint" | "int2" | "int4" | "int8" | "int") => n.to_string(),
        other => quote_ident(other),
    }
}

/// The statements of `rollback.sql` after the tables are plain again: the foreign keys the plan
/// rewrote dropped, the extended keys and indexes back to the source's, added columns dropped, types
/// back, and the foreign keys the plan rewrote or dropped created as on the source. Each may run
/// again (`IF EXISTS`, drop before create). `source` is the source's catalog, `target` the target's
/// view of it.
pub fn rollback(source: &Catalog, target: &Catalog, plan: &Plan) -> Vec<String> {
    let mut drops = Vec::new();
    let mut restore = Vec::new();
    let mut fks = Vec::new();
    let mut undo_fk = |a: &crate::catalog::Table, fk: &crate::catalog::ForeignKey| {
        let q = a.qualified();
        drops.push(format!(
            "ALTER TABLE IF EXISTS ONLY {q} DROP CONSTRAINT IF EXISTS {};",
            quote_ident(&fk.name)
        ));
        fks.push(fk_sql(&q, fk, &fk.columns, &fk.referenced_columns));
    };
    for a in &target.tables {
        for fk in &a.foreign_keys {
            if fk_rewrite(target, plan, a, fk).is_some() {
                undo_fk(a, fk);
            }
        }
    }
    for p in &plan.tables {
        let Some(a) = source.table(&p.qualified()) else {
            continue;
        };
        for ch in &p.changes {
            if let TableChange::DropForeignKey { foreign_key, .. } = ch {
                if let Some(fk) = a.foreign_keys.iter().find(|f| f.name == *foreign_key) {
                    undo_fk(a, fk);
                }
            }
        }
    }
    for p in plan
        .tables
        .iter()
        .filter(|p| p.extend_keys && p.kind == Kind::Distributed)
    {
        let (Some(t), Some(col)) = (
            source.table(&p.qualified()),
            p.distribution_column.as_deref(),
        ) else {
            continue;
        };
        let q = t.qualified();
        let (keys, idx) = keys_lacking(t, col);
        for k in keys {
            restore.push(format!(
                "ALTER TABLE IF EXISTS ONLY {q} DROP CONSTRAINT IF EXISTS {};\nALTER TABLE ONLY {q} ADD CONSTRAINT {} {};",
                quote_ident(&k.name),
                quote_ident(&k.name),
                k.definition
            ));
        }
        for i in idx {
            restore.push(format!(
                "DROP INDEX IF EXISTS {}.{};\n{};",
                quote_ident(&t.schema),
                quote_ident(&i.name),
                i.definition
            ));
        }
    }
    let (added, _) = added_columns(source, plan);
    for a in &added {
        restore.push(format!(
            "ALTER TABLE IF EXISTS ONLY {} DROP COLUMN IF EXISTS {};",
            a.table.quoted(),
            quote_ident(&a.column)
        ));
    }
    for p in &plan.tables {
        let Some(t) = source.table(&p.qualified()) else {
            continue;
        };
        for ch in &p.changes {
            if let TableChange::ColumnType { column, .. } = ch {
                if let Some(c) = t.column(column) {
                    restore.push(format!(
                        "ALTER TABLE IF EXISTS {} ALTER COLUMN {} TYPE {};",
                        t.qualified().quoted(),
                        quote_ident(column),
                        c.type_name
                    ));
                }
            }
        }
    }
    drops.into_iter().chain(restore).chain(fks).collect()
}
