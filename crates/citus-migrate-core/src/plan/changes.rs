//! The changes a plan makes to the target's tables (the source is never changed), besides
//! `extend_keys`: foreign keys dropped on the target, key columns of one co-location group given one
//! integer type, and a tenant column added to a table that reaches its tenant only through a parent,
//! filled during the copy from the parent's row. [`target_catalog`] is the source's catalog as the
//! target will have it, which the checks and the SQL read; [`add_required`] is what an advised plan needs.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::advice::column::int_width;
use crate::advice::Kind;
use crate::catalog::{Catalog, Column, ForeignKey, Table, TableKind};
use crate::ident::{quote_ident, QualifiedName};
use crate::plan::extend::{fk_rewrite, keys_lacking};
use crate::plan::{Plan, PlanTable};

/// One change to a table on the target (`changes` of a plan table; `docs/plan-format.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case", deny_unknown_fields)]
pub enum TableChange {
    /// `03-post-data.sql` does not create this foreign key of the table (Citus cannot keep it);
    /// `rollback.sql` creates it again.
    DropForeignKey {
        foreign_key: String,
        /// Why (informational).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        reason: String,
    },
    /// `01-pre-data.sql` gives the column this integer type (`smallint`, `integer` or `bigint`, not
    /// narrower than the source's): co-located columns need one type.
    ColumnType {
        column: String,
        #[serde(rename = "type")]
        type_name: String,
    },
    /// `01-pre-data.sql` adds `column` (NOT NULL) to the table; the copy fills it from the row that
    /// the foreign keys named in `through` lead to, one after the other from this table, taking that
    /// row's `from_column` (default: `column`).
    AddColumn {
        column: String,
        through: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_column: Option<String>,
    },
}

/// An added column, resolved against the source's catalog.
#[derive(Debug, Clone)]
pub struct AddedColumn {
    pub table: QualifiedName,
    pub column: String,
    /// The column it copies, on the last table of the path (with its type).
    pub from: Column,
    /// `(foreign key, the table it is on)`, from the table to the one that has `from`.
    pub path: Vec<(ForeignKey, QualifiedName)>,
    /// NOT NULL along the whole path: every row reaches a parent row.
    pub not_null: bool,
}

impl AddedColumn {
    /// The value of the column for a row of `outer` (the table, named by its qualified name in the
    /// FROM clause, without alias): a scalar subquery over the path's tables.
    pub fn expression(&self, catalog: &Catalog) -> String {
        let alias = |i: usize| quote_ident(&format!("citus_migrate_p{i}"));
        let rows = |q: &QualifiedName| match catalog.table(q).map(|t| t.table_kind) {
            Some(TableKind::Plain) | None => format!("ONLY {}", q.quoted()),
            Some(_) => q.quoted(),
        };
        let join = |fk: &ForeignKey, from: &str, to: &str| {
            fk.columns
                .iter()
                .zip(&fk.referenced_columns)
                .map(|(c, r)| {
                    format!(
                        "{to}.{} OPERATOR(pg_catalog.=) {from}.{}",
                        quote_ident(r),
                        quote_ident(c)
                    )
                })
                .collect::<Vec<_>>()
                .join(" AND ")
        };
        let mut from = String::new();
        for (i, (fk, _)) in self.path.iter().enumerate().skip(1) {
            from.push_str(&format!(
                " JOIN {} AS {} ON {}",
                rows(&fk.referenced_table),
                alias(i),
                join(fk, &alias(i - 1), &alias(i))
            ));
        }
        let first = &self.path[0].0;
        format!(
            "(SELECT {}.{} FROM {} AS {}{from} WHERE {})",
            alias(self.path.len() - 1),
            quote_ident(&self.from.name),
            rows(&first.referenced_table),
            alias(0),
            join(first, &self.table.quoted(), &alias(0))
        )
    }
}

/// The columns the plan adds, per table, each with the expression that computes it from a row of the
/// source table: what the copy reads ([`crate::copy::CopyOptions::computed_columns`]) and verify
/// compares ([`crate::verify::VerifyOptions::computed_columns`]).
pub fn computed_columns(
    catalog: &Catalog,
    plan: &Plan,
) -> HashMap<QualifiedName, Vec<(String, String)>> {
    let mut out: HashMap<QualifiedName, Vec<(String, String)>> = HashMap::new();
    for a in added_columns(catalog, plan).0 {
        let e = a.expression(catalog);
        out.entry(a.table).or_default().push((a.column, e));
    }
    out
}

/// [`computed_columns`] for a plan alone (`copy --plan`, `verify --plan`): empty when the plan adds no
/// column, else read with the source's catalog (of the tables `filters` selects).
pub async fn computed_columns_on_source(
    source: &crate::conninfo::ConnInfo,
    plan: &Plan,
    filters: &crate::filter::Selection,
) -> crate::error::Result<HashMap<QualifiedName, Vec<(String, String)>>> {
    if !adds_columns(plan) {
        return Ok(HashMap::new());
    }
    let read = crate::catalog::ReadOptions {
        filters: filters.clone(),
        exact_counts: false,
        jobs: 1,
    };
    let catalog = crate::catalog::analyze(source, &read).await?;
    Ok(computed_columns(&catalog, plan))
}

/// Whether the plan adds a column to any table.
pub fn adds_columns(plan: &Plan) -> bool {
    plan.tables
        .iter()
        .flat_map(|p| &p.changes)
        .any(|c| matches!(c, TableChange::AddColumn { .. }))
}

/// A change that does not fit the source: the table it is on, and what is wrong.
pub type Problem = (QualifiedName, String);

pub(crate) fn find_fk<'a>(t: &'a Table, name: &str) -> Option<&'a ForeignKey> {
    t.foreign_keys.iter().find(|f| f.name == name)
}

/// The plan's added columns, resolved on the source's catalog, and the changes that do not fit it.
pub fn added_columns(catalog: &Catalog, plan: &Plan) -> (Vec<AddedColumn>, Vec<Problem>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for p in &plan.tables {
        let Some(t) = catalog.table(&p.qualified()) else {
            continue;
        };
        for ch in &p.changes {
            let TableChange::AddColumn {
                column,
                through,
                from_column,
            } = ch
            else {
                continue;
            };
            match resolve(catalog, t, column, through, from_column.as_deref()) {
                Ok(a) => out.push(a),
                Err(e) => problems.push((t.qualified(), e)),
            }
        }
    }
    (out, problems)
}

fn resolve(
    catalog: &Catalog,
    t: &Table,
    column: &str,
    through: &[String],
    from_column: Option<&str>,
) -> Result<AddedColumn, String> {
    let name = t.qualified();
    if t.column(column).is_some() {
        return Err(format!(
            "add_column: {name} already has a column {}",
            quote_ident(column)
        ));
    }
    if t.table_kind != TableKind::Plain {
        return Err(format!(
            "add_column: {name} is a {}; a column is added only to a plain table",
            t.table_kind.label()
        ));
    }
    if through.is_empty() {
        return Err(format!(
            "add_column {}: \"through\" names no foreign key of {name}",
            quote_ident(column)
        ));
    }
    let mut cur = t;
    let mut path = Vec::new();
    let mut not_null = true;
    for fk_name in through {
        let Some(fk) = find_fk(cur, fk_name) else {
            return Err(format!(
                "add_column {}: {} has no foreign key {}",
                quote_ident(column),
                cur.qualified(),
                quote_ident(fk_name)
            ));
        };
        not_null &= fk
            .columns
            .iter()
            .all(|c| cur.column(c).is_some_and(|c| c.not_null));
        path.push((fk.clone(), cur.qualified()));
        cur = catalog.table(&fk.referenced_table).ok_or_else(|| {
            format!(
                "add_column {}: {} references {}, which is not selected",
                quote_ident(column),
                cur.qualified(),
                fk.referenced_table
            )
        })?;
    }
    let wanted = from_column.unwrap_or(column);
    let Some(from) = cur.column(wanted) else {
        return Err(format!(
            "add_column {}: {} (where the foreign keys lead) has no column {}",
            quote_ident(column),
            cur.qualified(),
            quote_ident(wanted)
        ));
    };
    Ok(AddedColumn {
        table: name,
        column: column.to_string(),
        not_null: not_null && from.not_null,
        from: from.clone(),
        path,
    })
}

/// The `column_type` changes that do not fit the source: an unknown column, a type that is not an
/// integer type, or one narrower than the source's. (A foreign key to drop that the source does not
/// have is no problem: there is nothing to drop.)
pub fn type_problems(catalog: &Catalog, plan: &Plan) -> Vec<Problem> {
    let mut out = Vec::new();
    for p in &plan.tables {
        let Some(t) = catalog.table(&p.qualified()) else {
            continue;
        };
        let added = |c: &str| {
            p.changes
                .iter()
                .any(|ch| matches!(ch, TableChange::AddColumn { column, .. } if column == c))
        };
        for ch in &p.changes {
            if let TableChange::ColumnType { column, type_name } = ch {
                let width = int_type(type_name).map(|(w, _)| w);
                let problem = match (t.column(column), width) {
                        (None, _) if added(column) => Some(format!(
                            "column_type: {} is added by the plan, with its parent's type",
                            quote_ident(column)
                        )),
                        (None, _) => Some(format!("column_type: {} has no column {}", t.qualified(), quote_ident(column))),
                        (_, None) => Some(format!("column_type {}: {type_name:?} is not smallint, integer or bigint (the plan changes integer widths only)", quote_ident(column))),
                        (Some(c), Some(w)) if int_width(&c.base_type).is_none_or(|cw| cw > w) => Some(format!(
                            "column_type {}: {} is {} on the source; {type_name} would not hold every value",
                            quote_ident(column),
                            t.qualified(),
                            c.type_name
                        )),
                        _ => None,
                    };
                out.extend(problem.map(|m| (t.qualified(), m)));
            }
        }
    }
    out
}

/// The width of an integer type name, and its base name: `bigint` / `int8` → (8, `int8`).
fn int_type(name: &str) -> Option<(u8, &'static str)> {
    match name.trim().to_ascii_lowercase().as_str() {
        "smallint" | "int2" => Some((2, "int2")),
        "integer" | "int" | "int4" => Some((4, "int4")),
        "bigint" | "int8" => Some((8, "int8")),
        _ => None,
    }
}

/// The source's catalog as the target will have it after the plan's changes: added columns (with
/// the statistics of the column they copy), integer types changed, dropped foreign keys gone.
/// Borrowed when the plan changes nothing.
pub fn target_catalog<'a>(catalog: &'a Catalog, plan: &Plan) -> Cow<'a, Catalog> {
    if plan.tables.iter().all(|p| p.changes.is_empty()) {
        return Cow::Borrowed(catalog);
    }
    let (added, _) = added_columns(catalog, plan);
    let mut out = catalog.clone();
    let index: HashMap<QualifiedName, usize> = out
        .tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.qualified(), i))
        .collect();
    for a in added {
        let t = &mut out.tables[index[&a.table]];
        let mut c = a.from.clone();
        c.name = a.column.clone();
        c.attnum = t.columns.iter().map(|c| c.attnum).max().unwrap_or(0) + 1;
        c.not_null = true;
        c.default = None;
        c.identity = None;
        c.generated = None;
        c.sequence = None;
        t.columns.push(c);
    }
    for p in &plan.tables {
        let Some(&i) = index.get(&p.qualified()) else {
            continue;
        };
        let t = &mut out.tables[i];
        for ch in &p.changes {
            match ch {
                TableChange::DropForeignKey { foreign_key, .. } => {
                    t.foreign_keys.retain(|f| f.name != *foreign_key)
                }
                TableChange::ColumnType { column, type_name } => {
                    if let (Some(c), Some((_, base))) = (
                        t.columns.iter_mut().find(|c| c.name == *column),
                        int_type(type_name),
                    ) {
                        c.type_name = canonical_int(base).to_string();
                        c.base_type = base.to_string();
                    }
                }
                TableChange::AddColumn { .. } => {}
            }
        }
    }
    // The tables that reference a changed table see the change too.
    let dropped: Vec<(QualifiedName, String)> = plan
        .tables
        .iter()
        .flat_map(|p| {
            p.changes.iter().filter_map(move |ch| match ch {
                TableChange::DropForeignKey { foreign_key, .. } => {
                    Some((p.qualified(), foreign_key.clone()))
                }
                _ => None,
            })
        })
        .collect();
    for t in &mut out.tables {
        t.referenced_by
            .retain(|r| !dropped.contains(&(r.table.clone(), r.constraint.clone())));
    }
    Cow::Owned(out)
}

/// `format_type`'s name of an integer base type.
fn canonical_int(base: &str) -> &'static str {
    match base {
        "int2" => "smallint",
        "int4" => "integer",
        _ => "bigint",
    }
}

/// Sets what the plan needs to apply on Citus, for a plan the advisor made: `extend_keys` where a
/// distributed table's keys lack its distribution column (not on partitioned tables: their partitions'
/// keys need a person), one integer type per co-location group (the widest), and every foreign key
/// Citus cannot keep dropped on the target with the reason. What is left for the checks needs a
/// decision: NULL distribution values, keys of partitioned tables, exclusion constraints, other types.
pub fn add_required(plan: &mut Plan, catalog: &Catalog) {
    // With the columns the plan adds already.
    let with_added = target_catalog(catalog, plan).into_owned();
    let tables: HashMap<QualifiedName, &Table> = with_added
        .tables
        .iter()
        .map(|t| (t.qualified(), t))
        .collect();
    for p in plan
        .tables
        .iter_mut()
        .filter(|p| p.kind == Kind::Distributed)
    {
        let (Some(t), Some(col)) = (tables.get(&p.qualified()), p.distribution_column.as_deref())
        else {
            continue;
        };
        let (keys, idx) = keys_lacking(t, col);
        if t.table_kind != TableKind::PartitionedParent
            && t.column(col).is_some()
            && !(keys.is_empty() && idx.is_empty())
        {
            p.extend_keys = true;
        }
    }
    unify_types(plan, &tables);
    let target = target_catalog(catalog, plan).into_owned();
    let mut drops: Vec<(QualifiedName, String, String)> = Vec::new();
    for t in target
        .tables
        .iter()
        .filter(|t| t.table_kind != TableKind::Partition)
    {
        for fk in &t.foreign_keys {
            if let Some(reason) = unkeepable(&target, plan, t, fk) {
                drops.push((t.qualified(), fk.name.clone(), reason));
            }
        }
    }
    for (table, fk, reason) in drops {
        if let Some(p) = plan.tables.iter_mut().find(|p| p.qualified() == table) {
            p.changes.push(TableChange::DropForeignKey {
                foreign_key: fk,
                reason,
            });
        }
    }
}

/// The widest integer type of each co-location group for the columns narrower than it.
fn unify_types(plan: &mut Plan, tables: &HashMap<QualifiedName, &Table>) {
    let mut changes: Vec<(QualifiedName, String, &'static str)> = Vec::new();
    for g in plan.groups() {
        let cols: Vec<(QualifiedName, &Column)> = std::iter::once(g.leader)
            .chain(g.members.iter().copied())
            .filter_map(|m: &PlanTable| {
                let t = tables.get(&m.qualified())?;
                Some((m.qualified(), t.column(m.distribution_column.as_deref()?)?))
            })
            .collect();
        let widths: Vec<Option<u8>> = cols.iter().map(|(_, c)| int_width(&c.base_type)).collect();
        if widths.iter().any(Option::is_none) {
            continue;
        }
        let widest = widths.iter().flatten().max().copied().unwrap_or(8);
        for (q, c) in &cols {
            if int_width(&c.base_type) < Some(widest) {
                let base = match widest {
                    2 => "int2",
                    4 => "int4",
                    _ => "int8",
                };
                changes.push((q.clone(), c.name.clone(), canonical_int(base)));
            }
        }
    }
    for (q, column, ty) in changes {
        if let Some(p) = plan.tables.iter_mut().find(|p| p.qualified() == q) {
            p.changes.push(TableChange::ColumnType {
                column,
                type_name: ty.to_string(),
            });
        }
    }
}

/// Why Citus cannot keep foreign key `fk` of `t` under `plan` when the plan could drop it: a reference
/// table referencing a distributed one, or two distributed tables that are not co-located, or whose key
/// maps another column onto the referenced table's distribution column (rows of one tenant pointing at
/// another's). `None` when the key is kept (or is a decision for a person: keys to or from local tables).
pub fn unkeepable(catalog: &Catalog, plan: &Plan, t: &Table, fk: &ForeignKey) -> Option<String> {
    let a = t.qualified();
    let b = &fk.referenced_table;
    let (pa, pb) = (plan.table(&a)?, plan.table(b)?);
    match (pa.kind, pb.kind) {
        (Kind::Reference, Kind::Distributed) => Some(format!(
            "{a} is a reference table and {b} is distributed: Citus does not allow a reference table's foreign key to a distributed table"
        )),
        (Kind::Distributed, Kind::Distributed) => {
            let (da, db) = (pa.distribution_column.as_deref()?, pb.distribution_column.as_deref()?);
            if plan.group_of(&a) != plan.group_of(b) {
                return Some(format!(
                    "{a} and {b} are distributed but not co-located: Citus keeps foreign keys between co-located tables only"
                ));
            }
            let on_dist = fk
                .columns
                .iter()
                .zip(&fk.referenced_columns)
                .any(|(x, y)| x == da && y == db);
            if on_dist || fk_rewrite(catalog, plan, t, fk).is_some() {
                return None;
            }
            Some(match fk.referenced_columns.iter().position(|c| c == db) {
                Some(i) => format!(
                    "it maps {a}.{} onto {b}.{}, the distribution column, which {a} is not distributed by ({}): a row may reference another tenant's row, which Citus cannot check",
                    quote_ident(&fk.columns[i]),
                    quote_ident(db),
                    quote_ident(da)
                ),
                None => format!(
                    "it does not include the distribution columns ({a}.{}, {b}.{}) and {b} has no unique key it could reference with them",
                    quote_ident(da),
                    quote_ident(db)
                ),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_tagged_and_strict() {
        let v: Vec<TableChange> = serde_json::from_str(
            r#"[{"change":"drop_foreign_key","foreign_key":"f"},
                {"change":"column_type","column":"c","type":"bigint"},
                {"change":"add_column","column":"tenant_id","through":["a_b_fkey"]}]"#,
        )
        .unwrap();
        assert_eq!(v.len(), 3);
        assert!(serde_json::from_str::<TableChange>(
            r#"{"change":"column_type","column":"c","typ":"bigint"}"#
        )
        .is_err());
        assert!(
            serde_json::from_str::<TableChange>(r#"{"change":"rename","column":"c"}"#).is_err()
        );
        assert_eq!(int_type(" BIGINT"), Some((8, "int8")));
        assert_eq!(int_type("numeric"), None);
    }
}
