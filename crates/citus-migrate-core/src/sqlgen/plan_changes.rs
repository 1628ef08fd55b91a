//! Changes the plan requires in the post-data section: with `extend_keys`, the primary key, unique
//! constraints and unique indexes of a distributed table get its distribution column in front, and the
//! foreign keys of co-located tables that reference them get theirs. pg_dump's item for each such
//! object is replaced in place, so the order stays dependency-safe.

use super::post_data::{tag, PostDataItem, PostDataKind};
use crate::advice::Kind;
use crate::catalog::Catalog;
use crate::ident::{comment_text, quote_ident, QualifiedName};
use crate::plan::extend::{fk_rewrite, fk_sql, index_sql, key_sql, keys_lacking};
use crate::plan::Plan;

/// Replaces (or, when pg_dump did not dump it, appends) the SQL of every object the plan changes.
/// Returns how many statements changed.
pub fn apply(catalog: &Catalog, plan: &Plan, items: &mut Vec<PostDataItem>) -> usize {
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
    n
}
