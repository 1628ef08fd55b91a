//! The advisor: from the catalog's facts, a distribution plan a Citus expert would sign — for every
//! table its kind (distributed / reference / local), distribution column and co-location group, with
//! short reasons and ranked candidate columns. What stands in the way of the advised plan is for the
//! plan's checks to find (`plan::checks`, a later stage).
//!
//! Entry point: [`advise`], from a [`Catalog`] and [`AdviceOptions`] to an [`Advice`];
//! [`crate::plan::Plan::from_advice`] makes it a plan.
//!
//! The rules (see `docs/advice.md`): follow the foreign-key graph to the entity at its root (the tenant
//! of a multi-tenant schema, the order of an order/line pair); tables whose keys lead to the same root
//! share a co-location group; small tables that others reference and that carry no such key become
//! reference tables; what is left is distributed on its best own column. Names are hints only; types
//! and statistics decide whether a column can be a distribution column at all.

pub(crate) mod column;
mod graph;
mod verdict;

pub use verdict::{Verdict, MIN_TENANT_SCHEMAS};

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, TableKind};
use crate::ident::QualifiedName;
use crate::util::human_bytes;

/// What a table becomes in Citus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Sharded over the workers by its distribution column.
    Distributed,
    /// Replicated to every node; joins with anything.
    Reference,
    /// Stays a plain PostgreSQL table on the coordinator.
    Local,
    /// Belongs to a distributed schema (`citus_schema_distribute`): a single-shard table, co-located
    /// with the other tables of its schema.
    Schema,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Distributed => "distributed",
            Kind::Reference => "reference",
            Kind::Local => "local",
            Kind::Schema => "schema",
        })
    }
}

/// One possible distribution column of a table, with its score (0–100, higher is better).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub column: String,
    pub score: u32,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableAdvice {
    pub schema: String,
    pub name: String,
    pub kind: Kind,
    pub distribution_column: Option<String>,
    pub colocation_group: Option<String>,
    pub reasons: Vec<String>,
    pub candidates: Vec<Candidate>,
    /// The distribution column is one the target gets: filled by the copy from a parent's row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub added_column: Option<AddedColumn>,
    /// Partitions follow their parent and are not listed in the plan.
    #[serde(skip)]
    pub is_partition: bool,
}

impl TableAdvice {
    pub fn qualified(&self) -> QualifiedName {
        QualifiedName::new(&self.schema, &self.name)
    }
}

/// A column the advice adds to a table on the target (the plan's `add_column` change): `column`, read
/// through the foreign keys `through` from the parent's `from_column`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddedColumn {
    pub column: String,
    pub through: Vec<String>,
    pub from_column: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColocationGroup {
    pub name: String,
    /// The type every member's distribution column has (`format_type`).
    pub column_type: String,
    /// Distributed first; the others are created `colocate_with` it.
    pub leader: QualifiedName,
    pub tables: Vec<QualifiedName>,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardCountAdvice {
    pub count: u32,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Advice {
    pub database: String,
    pub server_version: String,
    pub tables: Vec<TableAdvice>,
    pub colocation_groups: Vec<ColocationGroup>,
    pub shard_count: ShardCountAdvice,
    /// Row-based sharding, one node, or schema-based sharding.
    pub verdict: Verdict,
    /// Why, and what would change the answer (empty for `distributed`).
    pub verdict_reasons: Vec<String>,
}

impl Advice {
    pub fn table(&self, name: &QualifiedName) -> Option<&TableAdvice> {
        self.tables
            .iter()
            .find(|t| t.schema == name.schema && t.name == name.name)
    }
}

#[derive(Debug, Clone)]
pub struct AdviceOptions {
    /// Shards per co-location group; suggested from the data when `None`.
    pub shard_count: Option<u32>,
    /// Largest table (total bytes) that may become a reference table.
    pub reference_max_bytes: i64,
    /// A table may become a reference table only when it holds at most this share of the rows of
    /// the largest table.
    pub reference_max_share: f64,
    /// Above this much table data (total bytes) the verdict is never `single_node`.
    pub single_node_max_bytes: i64,
    /// Joins and filters of the application's queries (`crate::workload`), weighed next to the
    /// foreign keys; empty: the schema alone decides.
    pub workload: WorkloadWeights,
}

/// What an application's queries join and filter on, each edge with its share (0–1) of the
/// workload's weight ([`crate::workload::Workload::weights`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkloadWeights {
    /// `a.x = b.y` joins: (a, x, b, y, share).
    pub joins: Vec<(QualifiedName, String, QualifiedName, String, f64)>,
    /// `a.x = value` filters: (a, x, share).
    pub filters: Vec<(QualifiedName, String, f64)>,
}

impl Default for AdviceOptions {
    fn default() -> Self {
        AdviceOptions {
            shard_count: None,
            reference_max_bytes: 1 << 30,
            reference_max_share: 0.1,
            single_node_max_bytes: 100 << 30,
            workload: WorkloadWeights::default(),
        }
    }
}

/// Advises a distribution for every table of `catalog`.
pub fn advise(catalog: &Catalog, opts: &AdviceOptions) -> Advice {
    let mut shard_count = shard_count(catalog, opts);
    let mut decided = graph::decide(catalog, opts, shard_count.count);
    let layout = verdict::tenant_schemas(catalog)
        .map(|(schemas, tables_each)| (schemas, verdict::SchemaLayout::Tenants { tables_each }))
        .or_else(|| {
            verdict::service_schemas(catalog, &decided.groups)
                .map(|schemas| (schemas, verdict::SchemaLayout::Services))
        });
    let (verdict, verdict_reasons) = if let Some((schemas, layout)) = layout {
        let why = verdict::schema_based(catalog, opts, &schemas, &layout, &mut decided);
        (Verdict::SchemaBased, why)
    } else if let Some(why) = verdict::single_node(catalog, opts, shard_count.count, &decided) {
        verdict::all_local(catalog, &mut decided);
        (Verdict::SingleNode, why)
    } else {
        (Verdict::Distributed, Vec::new())
    };
    if opts.shard_count.is_none() && verdict == Verdict::Distributed {
        shard_count
            .reason
            .push_str(&workload(catalog, &decided.groups));
    }
    let mut tables: Vec<TableAdvice> = Vec::with_capacity(catalog.tables.len());
    for (i, t) in catalog.tables.iter().enumerate() {
        let d = &decided.tables[i];
        let mut candidates: Vec<Candidate> = t
            .columns
            .iter()
            .filter_map(|c| column::score(t, c, shard_count.count).map(|(s, r)| (c, s, r)))
            .map(|(c, mut score, reasons)| {
                if d.column.as_deref() == Some(c.name.as_str()) {
                    score = score.max(1);
                }
                Candidate {
                    column: c.name.clone(),
                    score,
                    reasons,
                }
            })
            .collect();
        candidates.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.column.cmp(&b.column)));
        // The chosen column first: the others are alternatives.
        if let Some(pos) = d
            .column
            .as_ref()
            .and_then(|c| candidates.iter().position(|x| &x.column == c))
        {
            let chosen = candidates.remove(pos);
            candidates.insert(0, chosen);
        }
        candidates.truncate(5);
        tables.push(TableAdvice {
            schema: t.schema.clone(),
            name: t.name.clone(),
            kind: d.kind,
            distribution_column: d.column.clone(),
            colocation_group: d.group.clone(),
            reasons: d.reasons.clone(),
            candidates,
            // Only while the table is still distributed on it (a verdict may have changed that).
            added_column: decided
                .added
                .get(&i)
                .filter(|a| d.kind == Kind::Distributed && d.column.as_ref() == Some(&a.column))
                .cloned(),
            is_partition: t.table_kind == TableKind::Partition,
        });
    }
    Advice {
        database: catalog.database.clone(),
        server_version: catalog.server_version.clone(),
        tables,
        colocation_groups: decided.groups,
        shard_count,
        verdict,
        verdict_reasons,
    }
}

/// The bytes of every table that holds rows (partitions, not their parents; no views).
fn table_bytes(catalog: &Catalog) -> i64 {
    catalog
        .tables
        .iter()
        .filter(|t| t.holds_data())
        .map(|t| t.total_bytes)
        .sum()
}

/// Citus guidance: 32 shards (the default) suit multi-tenant apps and small clusters; analytics on
/// large data wants more shards than worker cores, so bigger data gets more.
fn shard_count(catalog: &Catalog, opts: &AdviceOptions) -> ShardCountAdvice {
    if let Some(n) = opts.shard_count {
        return ShardCountAdvice {
            count: n,
            reason: "the shard count given by the user".into(),
        };
    }
    let bytes = table_bytes(catalog);
    const GIB: i64 = 1 << 30;
    let (count, why) = if bytes >= 1024 * GIB {
        (128, "over 1 TB of data: 128 shards keep shards near 10 GB and let the cluster grow to many workers")
    } else if bytes >= 100 * GIB {
        (64, "over 100 GB of data: 64 shards keep shards small enough to rebalance and give parallelism on bigger clusters")
    } else {
        (32, "the Citus default")
    };
    ShardCountAdvice {
        count,
        reason: format!("{} of table data; {why}", human_bytes(bytes)),
    }
}

/// The shape of the advised layout, in Citus's terms, for the shard count's reason.
fn workload(catalog: &Catalog, groups: &[ColocationGroup]) -> String {
    // Tables with a tenant-like column, looked up once rather than per group member.
    let with_tenant: HashSet<QualifiedName> = catalog
        .tables
        .iter()
        .filter(|t| t.columns.iter().any(|c| column::tenant_like(&c.name)))
        .map(|t| t.qualified())
        .collect();
    let tenant = groups
        .iter()
        .find(|g| g.tables.len() >= 3 && g.tables.iter().any(|t| with_tenant.contains(t)));
    match tenant {
        Some(g) => format!(
            ". Multi-tenant layout (group {:?} shares one tenant key over {} tables): Citus recommends 32 to 128 shards, so that tenants spread over many workers and the rebalancer can move them",
            g.name,
            g.tables.len()
        ),
        None => ". Real-time analytics layout (no tenant key shared by three or more tables: the large tables are distributed on their own entity keys): Citus suggests about 2 to 4 shards per worker core, so set a higher shard count on a bigger cluster".to_string(),
    }
}

#[cfg(test)]
mod tests;
