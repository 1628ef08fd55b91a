//! Sequences: reading their last values on either side, choosing the ones that belong to a selection
//! of tables, and setting the target's past the source's (the `sequences` step of `migrate`; `verify`
//! checks the result).

use std::collections::{BTreeMap, BTreeSet};

use tokio_postgres::Client;

use crate::catalog::Catalog;
use crate::connect::{execute, query};
use crate::error::{Result, Side};
use crate::filter::Selection;
use crate::ident::{quote_literal, QualifiedName};

pub const SQL_SEQUENCES: &str = include_str!("sql/sequences.sql");

/// Every sequence with the last value it handed out (`None`: never used).
pub async fn read(client: &Client, side: Side) -> Result<BTreeMap<QualifiedName, Option<i64>>> {
    let rows = query(client, side, "reading the sequences", SQL_SEQUENCES, &[]).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                QualifiedName::new(r.get::<_, String>("schema"), r.get::<_, String>("name")),
                r.get("last_value"),
            )
        })
        .collect())
}

/// The sequences that go with a selection: those owned by the selected tables (serial and identity
/// columns) and, when no table patterns were given, every sequence in the selected schemas.
pub fn selected(
    catalog: &Catalog,
    filters: &Selection,
    all: &BTreeMap<QualifiedName, Option<i64>>,
) -> BTreeSet<QualifiedName> {
    let mut set: BTreeSet<QualifiedName> = catalog
        .tables
        .iter()
        .flat_map(|t| t.columns.iter().filter_map(|c| c.sequence.clone()))
        .collect();
    if filters.tables.is_empty() {
        set.extend(all.keys().filter(|s| filters.includes(s)).cloned());
    }
    set
}

/// Sets every selected sequence on the target to the source's last value (so the next value handed
/// out is past it), or, with `primary` (the source is its hot standby), to the higher of the two: a
/// lagging standby's value is behind its primary's, a caught-up standby's may be ahead (a sequence logs
/// values before it hands them out). Sequences the source never used are left alone. Returns how
/// many were set.
/// `setval` is pg_catalog's with exact argument types: the target has the source's functions by now,
/// and a `public.setval(regclass, integer, boolean)` would match an untyped call better.
pub async fn advance(
    source: &Client,
    primary: Option<&Client>,
    target: &Client,
    catalog: &Catalog,
    filters: &Selection,
    mut after_each: impl FnMut(),
) -> Result<usize> {
    let mut values = read(source, Side::Source).await?;
    if let Some(primary) = primary {
        for (name, v) in read(primary, Side::Source).await? {
            let e = values.entry(name).or_insert(None);
            *e = (*e).max(v);
        }
    }
    let mut n = 0;
    for name in selected(catalog, filters, &values) {
        let Some(Some(v)) = values.get(&name) else {
            continue;
        };
        let sql = format!(
            "SELECT pg_catalog.setval({}::pg_catalog.regclass, '{v}'::pg_catalog.int8, true)",
            quote_literal(&name.quoted())
        );
        execute(
            target,
            Side::Target,
            &format!("setting sequence {name}"),
            &sql,
        )
        .await?;
        n += 1;
        after_each();
    }
    Ok(n)
}
