//! What stands between a plan and Citus: Citus's rules checked against the source's catalog
//! ([`check`], the rules themselves are in `rules.rs`) and, for the distribution columns, the NULLs in
//! the data ([`check_source`]). Every finding is a [`Blocker`] with a stable [`Code`]; a plan with an
//! error among them is [`Error::PlanBlocked`] where [`crate::sqlgen`] prepares or generates it.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use tokio_postgres::Client;

use super::rules::null_fix;
use super::Plan;
use crate::advice::Kind;
use crate::catalog::{Catalog, Table, TableKind};
use crate::connect::query;
use crate::error::{Error, Result, Side};
use crate::ident::{quote_ident, QualifiedName};
use crate::util::thousands;

pub use super::rules::check;

/// The codes, each with the stable string it is written as (in JSON, CSV and messages).
macro_rules! codes {
    ($($variant:ident = $text:literal,)*) => {
        /// What a blocker is about. Written as its stable string (list in `docs/advice.md`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[non_exhaustive]
        pub enum Code {
            $(#[serde(rename = $text)] $variant,)*
        }

        impl Code {
            #[cfg(test)]
            const ALL: &'static [Code] = &[$(Code::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)*
                }
            }
        }
    };
}

codes! {
    UnknownTable = "unknown_table",
    PartitionInPlan = "partition_in_plan",
    UnsupportedRelation = "unsupported_relation",
    Inheritance = "inheritance",
    MissingDistributionColumn = "missing_distribution_column",
    UnexpectedDistributionColumn = "unexpected_distribution_column",
    UnexpectedColocation = "unexpected_colocation",
    NoPrimaryKey = "no_primary_key",
    UnknownColumn = "unknown_column",
    UnsuitableType = "unsuitable_type",
    LowCardinality = "low_cardinality",
    Skew = "skew",
    NullsInDistributionColumn = "nulls_in_distribution_column",
    ExtendKeysPartitioned = "extend_keys_partitioned",
    KeyExtended = "key_extended",
    PkMissingDistributionColumn = "pk_missing_distribution_column",
    UniqueMissingDistributionColumn = "unique_missing_distribution_column",
    UniqueIndexMissingDistributionColumn = "unique_index_missing_distribution_column",
    ExclusionMissingDistributionColumn = "exclusion_missing_distribution_column",
    ShardCountOnMember = "shard_count_on_member",
    ColocationTypeMismatch = "colocation_type_mismatch",
    TriggerOnDistributedTable = "trigger_on_distributed_table",
    RuleOnDistributedTable = "rule_on_distributed_table",
    IdentityColumn = "identity_column",
    FkToUnselectedTable = "fk_to_unselected_table",
    FkNotOnDistributionColumn = "fk_not_on_distribution_column",
    FkBetweenNonColocatedTables = "fk_between_non_colocated_tables",
    ReferenceToDistributedFk = "reference_to_distributed_fk",
    FkToLocalTable = "fk_to_local_table",
    LocalToDistributedFk = "local_to_distributed_fk",
    LocalToReferenceFk = "local_to_reference_fk",
    SingleNodeNotLocal = "single_node_not_local",
    SchemaNotDistributable = "schema_not_distributable",
    SchemaPartlyPlanned = "schema_partly_planned",
    FkAcrossDistributedSchema = "fk_across_distributed_schema",
    InvalidChange = "invalid_change",
    ForeignKeyDropped = "foreign_key_dropped",
    ColumnTypeChanged = "column_type_changed",
    ColumnAdded = "column_added",
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Citus would reject the plan (or the data) until this is fixed.
    Error,
    /// Works, but worth knowing or fixing.
    Warning,
}

/// Something that stands in the way of a plan, or is worth fixing first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Blocker {
    /// The table it is about.
    pub table: QualifiedName,
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    /// SQL that fixes it, where one exists (to run on the source before generating again).
    pub fix: Option<String>,
}

/// `table [code]: message`.
impl std::fmt::Display for Blocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [{}]: {}", self.table, self.code, self.message)
    }
}

/// [`check`], with the NULLs of the plan's distribution columns counted on the source (one query):
/// for every column counted, the estimate from the statistics gives way to the count, an error when
/// there are NULLs (a NULL distribution value makes COPY into Citus fail).
pub async fn check_source(client: &Client, catalog: &Catalog, plan: &Plan) -> Result<Vec<Blocker>> {
    let mut blockers = check(catalog, plan);
    let mut columns: Vec<(QualifiedName, String, String)> = nullable_columns(catalog, plan)
        .into_iter()
        .map(|(t, c)| {
            let e = quote_ident(&c);
            (t, c, e)
        })
        .collect();
    // An added column is NULL where the path to its parent's row is.
    let (added, _) = super::changes::added_columns(catalog, plan);
    columns.extend(
        added
            .iter()
            .filter(|a| {
                !a.not_null
                    && plan
                        .table(&a.table)
                        .and_then(|p| p.distribution_column.as_deref())
                        == Some(&a.column)
            })
            .map(|a| (a.table.clone(), a.column.clone(), a.expression(catalog))),
    );
    let found = count_column_nulls(client, &columns).await?;
    let counted: HashSet<&QualifiedName> = columns.iter().map(|(t, _, _)| t).collect();
    blockers.retain(|b| !(b.code == Code::NullsInDistributionColumn && counted.contains(&b.table)));
    blockers.extend(found.iter().map(|(t, c, n)| Blocker {
        table: t.clone(),
        code: Code::NullsInDistributionColumn,
        severity: Severity::Error,
        message: format!(
            "{t}.{} is NULL in {} row(s): Citus rejects rows with a NULL distribution column, so the copy would fail",
            quote_ident(c),
            thousands(*n)
        ),
        fix: Some(null_fix(t, c)),
    }));
    Ok(blockers)
}

/// The warnings among `blockers` when there is no error; otherwise [`Error::PlanBlocked`] with the
/// plan and all of them.
pub(crate) fn applicable(plan: &Plan, blockers: Vec<Blocker>) -> Result<Vec<Blocker>> {
    if blockers.iter().any(|b| b.severity == Severity::Error) {
        return Err(Error::PlanBlocked {
            plan: Box::new(plan.clone()),
            blockers,
        });
    }
    Ok(blockers)
}

/// Counts NULLs in `(table, column, expression)` with one query; returns the columns that have some,
/// with the count.
async fn count_column_nulls(
    client: &Client,
    columns: &[(QualifiedName, String, String)],
) -> Result<Vec<(QualifiedName, String, i64)>> {
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    let sql = columns
        .iter()
        .enumerate()
        .map(|(i, (t, _, e))| {
            format!(
                "SELECT {i}::int4 AS i, count(*)::int8 AS n FROM {} WHERE {e} IS NULL",
                t.quoted()
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
            let (t, c, _) = &columns[i as usize];
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every code is written as its stable string, and `docs/advice.md` lists exactly these.
    #[test]
    fn codes_are_the_documented_strings() {
        let docs = include_str!("../../../../docs/advice.md");
        let table = docs
            .split("## Blocker codes")
            .nth(1)
            .expect("docs/advice.md has a Blocker codes section");
        let mut documented: Vec<&str> = table
            .lines()
            .take_while(|l| l.is_empty() || l.starts_with('|'))
            .filter_map(|l| l.split('|').nth(1))
            .flat_map(|cell| cell.split('`').skip(1).step_by(2))
            .collect();
        documented.sort_unstable();
        let mut codes: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
        codes.sort_unstable();
        assert_eq!(codes, documented);
        for code in Code::ALL {
            assert_eq!(serde_json::to_string(code).unwrap(), format!("\"{code}\""));
        }
    }
}
