//! Counting the NULLs of the planned distribution columns on the source: one `UNION ALL` query for every
//! column that may hold NULLs (columns declared NOT NULL are skipped), because COPY into Citus fails on
//! the first row whose distribution column is NULL.

use std::collections::{HashMap, HashSet};

use tokio_postgres::Client;

use super::{Advice, Blocker, Kind, Severity};
use crate::catalog::{Catalog, Table, TableKind};
use crate::connect::query;
use crate::error::{Result, Side};
use crate::ident::{quote_ident, QualifiedName};
use crate::plan::Plan;
use crate::util::thousands;

/// Counts NULLs in `(table, column)` pairs with one query; returns the pairs that have some, with the count.
pub async fn count_column_nulls(
    client: &Client,
    columns: &[(QualifiedName, String)],
) -> Result<Vec<(QualifiedName, String, i64)>> {
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let sql = columns
        .iter()
        .enumerate()
        .map(|(i, (t, c))| {
            format!(
                "SELECT {i}::int4 AS i, count(*)::int8 AS n FROM {} WHERE {} IS NULL",
                t.quoted(),
                quote_ident(c)
            )
        })
        .collect::<Vec<_>>()
        .join("\nUNION ALL\n");
    let rows = query(
        client,
        Side::Source,
        "counting NULLs in the distribution columns",
        &sql,
        &[],
    )
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let (i, n): (i32, i64) = (r.get(0), r.get(1));
        if n > 0 {
            let (t, c) = &columns[i as usize];
            out.push((t.clone(), c.clone(), n));
        }
    }
    out.sort();
    Ok(out)
}

/// The nullable distribution columns of the plan's distributed tables.
fn nullable_columns(catalog: &Catalog, plan: &Plan) -> Vec<(QualifiedName, String)> {
    let by_name: HashMap<(&str, &str), &Table> = catalog
        .tables
        .iter()
        .rev()
        .map(|t| ((t.schema.as_str(), t.name.as_str()), t))
        .collect();
    let parents: HashSet<(&str, &str)> = catalog
        .tables
        .iter()
        .filter_map(|t| t.parent.as_ref())
        .map(|p| (p.schema.as_str(), p.name.as_str()))
        .collect();
    plan.tables
        .iter()
        .filter(|p| p.kind == Kind::Distributed)
        .filter_map(|p| {
            let col = p.distribution_column.as_ref()?;
            let t = by_name.get(&(p.schema.as_str(), p.name.as_str()))?;
            let c = t.column(col)?;
            // A table whose storage is empty right now (pg_relation_size, not statistics) holds no
            // row and so no NULL: no need to scan it. Partitioned and inheritance parents are always
            // scanned, their rows live in other tables.
            let empty = t.table_kind != TableKind::PartitionedParent
                && t.heap_bytes == 0
                && !parents.contains(&(t.schema.as_str(), t.name.as_str()));
            (!c.not_null && !empty).then(|| (p.qualified(), col.clone()))
        })
        .collect()
}

/// One blocker (severity error) per column that holds NULLs, with the count and the fix.
pub fn null_blockers(found: &[(QualifiedName, String, i64)]) -> Vec<Blocker> {
    found
        .iter()
        .map(|(t, c, n)| Blocker {
            table: t.clone(),
            code: "nulls_in_distribution_column".into(),
            severity: Severity::Error,
            message: format!(
                "{t}.{} is NULL in {} row(s): Citus rejects rows with a NULL distribution column, so the copy would fail",
                quote_ident(c),
                thousands(*n)
            ),
            fix: Some(crate::plan::null_fix(t, c)),
        })
        .collect()
}

/// Counts the NULLs in the plan's distribution columns on the source: blockers for those that have some.
pub async fn count_plan_nulls(
    client: &Client,
    catalog: &Catalog,
    plan: &Plan,
) -> Result<Vec<Blocker>> {
    let found = count_column_nulls(client, &nullable_columns(catalog, plan)).await?;
    Ok(null_blockers(&found))
}

/// Counts the NULLs in the advised distribution columns and puts the result into the advice: the
/// estimate from the statistics is replaced by the real count (an error), or dropped when there are none.
pub async fn count_nulls(client: &Client, catalog: &Catalog, advice: &mut Advice) -> Result<()> {
    let plan = Plan::from_advice(advice);
    let columns = nullable_columns(catalog, &plan);
    let found = null_blockers(&count_column_nulls(client, &columns).await?);
    let checked: HashSet<(&str, &str)> = columns
        .iter()
        .map(|(q, _)| (q.schema.as_str(), q.name.as_str()))
        .collect();
    let mut found_by: HashMap<(&str, &str), Vec<&Blocker>> = HashMap::new();
    for b in &found {
        found_by
            .entry((b.table.schema.as_str(), b.table.name.as_str()))
            .or_default()
            .push(b);
    }
    for t in &mut advice.tables {
        let key = (t.schema.as_str(), t.name.as_str());
        if checked.contains(&key) {
            t.blockers
                .retain(|b| b.code != "nulls_in_distribution_column");
        }
        for &b in found_by.get(&key).into_iter().flatten() {
            t.blockers.insert(0, b.clone());
        }
    }
    Ok(())
}
