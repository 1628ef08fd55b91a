//! Verdicts beyond row-based sharding, decided from the shape of the schema rather than its size: a
//! schema per tenant (many schemas with the same tables) or per service (schemas of their own tables,
//! nothing shared, no key between them) gets schema-based sharding; a database whose
//! foreign keys tie it into one hierarchy that row-based sharding would cut into pieces, around an
//! entity with fewer rows than shards, stays on one node.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::graph::{Decided, Decision};
use super::{AdviceOptions, ColocationGroup, Kind};
use crate::catalog::{Catalog, TableKind};
use crate::ident::QualifiedName;
use crate::util::{human_bytes, thousands};

/// What the advisor recommends for the database as a whole.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Row-based sharding: tables distributed on a column, reference and local tables.
    #[default]
    Distributed,
    /// Keep the database on one PostgreSQL node for now: every table stays local.
    SingleNode,
    /// Schema-based sharding: every tenant schema distributed with `citus_schema_distribute`.
    SchemaBased,
}

impl Verdict {
    /// Row-based sharding (the default verdict).
    pub fn is_distributed(&self) -> bool {
        *self == Verdict::Distributed
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Distributed => "distributed",
            Verdict::SingleNode => "single_node",
            Verdict::SchemaBased => "schema_based",
        })
    }
}

/// Fewest schemas with the same tables that make a schema-per-tenant layout.
pub const MIN_TENANT_SCHEMAS: usize = 3;

/// Schemas Citus refuses to distribute (`EnsureTenantSchemaNameAllowed` in Citus's
/// `schema_based_sharding.c`).
const UNDISTRIBUTABLE_SCHEMAS: &[&str] =
    &["public", "information_schema", "pg_catalog", "pg_toast"];

/// The tenant schemas of a schema-per-tenant layout: the largest set of at least
/// [`MIN_TENANT_SCHEMAS`] schemas holding tables of the same names (Citus can distribute none of
/// [`UNDISTRIBUTABLE_SCHEMAS`], which stay shared even when they hold the same tables).
pub(super) fn tenant_schemas(cat: &Catalog) -> Option<(Vec<String>, usize)> {
    let mut sets: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for t in &cat.tables {
        sets.entry(t.schema.as_str())
            .or_default()
            .insert(t.name.as_str());
    }
    let mut by_set: BTreeMap<&BTreeSet<&str>, Vec<&str>> = BTreeMap::new();
    for (schema, set) in &sets {
        if !UNDISTRIBUTABLE_SCHEMAS.contains(schema) && !schema.starts_with("pg_") {
            by_set.entry(set).or_default().push(schema);
        }
    }
    let (set, schemas) = by_set.into_iter().max_by(|a, b| {
        a.1.len()
            .cmp(&b.1.len())
            .then_with(|| b.0.len().cmp(&a.0.len()))
    })?;
    (schemas.len() >= MIN_TENANT_SCHEMAS)
        .then(|| (schemas.iter().map(|s| s.to_string()).collect(), set.len()))
}

/// How a schema-based layout was recognised.
pub(super) enum SchemaLayout {
    /// A schema per tenant: the schemas hold tables of the same names, this many each.
    Tenants { tables_each: usize },
    /// A schema per service: each schema holds tables of its own, nothing is shared and no key or
    /// co-location group crosses from one schema to another.
    Services,
}

/// The schemas of a schema-per-service layout (Citus docs: schema-based sharding "fits nicely with
/// typical Microservices architecture, where storage is fully owned by the service"): at least
/// [`MIN_TENANT_SCHEMAS`] distributable schemas hold tables, `public` (and every schema Citus cannot
/// distribute) holds none but a framework's migration bookkeeping, no foreign key leads from one schema
/// into another and no row-based co-location group of `groups` takes tables of two schemas. Each
/// schema is then a unit of its own, and `citus_schema_distribute` places it whole on a node.
pub(super) fn service_schemas(cat: &Catalog, groups: &[ColocationGroup]) -> Option<Vec<String>> {
    let distributable =
        |schema: &str| !UNDISTRIBUTABLE_SCHEMAS.contains(&schema) && !schema.starts_with("pg_");
    let mut schemas: BTreeSet<&str> = BTreeSet::new();
    for t in &cat.tables {
        if !distributable(&t.schema) {
            if !super::graph::bookkeeping(t) {
                return None;
            }
            continue;
        }
        if matches!(
            t.table_kind,
            TableKind::Plain | TableKind::PartitionedParent
        ) {
            schemas.insert(t.schema.as_str());
        }
        if t.foreign_keys
            .iter()
            .any(|f| f.referenced_table.schema != t.schema)
        {
            return None;
        }
    }
    let crosses = groups
        .iter()
        .any(|g| g.tables.iter().any(|t| t.schema != g.leader.schema));
    (schemas.len() >= MIN_TENANT_SCHEMAS && !crosses)
        .then(|| schemas.into_iter().map(str::to_string).collect())
}

/// Schema-based sharding: the tables of the tenant schemas get kind `schema` (one co-location group
/// per schema, named after it); the shared tables become reference tables, so that every tenant joins
/// them on its own node, except the ones too large to copy to every node that no tenant table
/// references (they stay local). Returns the verdict's reasons.
pub(super) fn schema_based(
    cat: &Catalog,
    opts: &AdviceOptions,
    tenants: &[String],
    layout: &SchemaLayout,
    decided: &mut Decided,
) -> Vec<String> {
    let tenant_set: BTreeSet<&str> = tenants.iter().map(String::as_str).collect();
    // Shared tables that a tenant table references: Citus allows those keys only to reference tables.
    let referenced: BTreeSet<QualifiedName> = cat
        .tables
        .iter()
        .filter(|t| tenant_set.contains(t.schema.as_str()))
        .flat_map(|t| t.foreign_keys.iter())
        .filter(|f| !tenant_set.contains(f.referenced_table.schema.as_str()))
        .map(|f| f.referenced_table.clone())
        .collect();
    let count = tenants.len();
    for (i, t) in cat.tables.iter().enumerate() {
        let d = &mut decided.tables[i];
        if tenant_set.contains(t.schema.as_str()) && t.table_kind == TableKind::MaterializedView {
            // citus_schema_distribute takes tables only (and foreign tables, which it refuses).
            *d = Decision {
                kind: Kind::Local,
                column: None,
                group: None,
                reasons: vec!["a materialized view of a tenant schema: citus_schema_distribute leaves it on the coordinator (refresh it there)".into()],
            };
            continue;
        }
        if tenant_set.contains(t.schema.as_str()) {
            let what = match layout {
                SchemaLayout::Tenants { tables_each } => format!(
                    "one of {count} schemas with the same {} (a schema per tenant)",
                    tables_word(*tables_each)
                ),
                SchemaLayout::Services => format!(
                    "one of {count} schemas that each hold tables of their own, with no key between them (a schema per service)"
                ),
            };
            *d = Decision {
                kind: Kind::Schema,
                column: None,
                group: Some(t.schema.clone()),
                reasons: vec![format!(
                    "schema {} is {what}: citus_schema_distribute makes it a single-shard table, co-located with the rest of its schema on one node",
                    crate::ident::quote_ident(&t.schema),
                )],
            };
            continue;
        }
        let q = t.qualified();
        let usable = matches!(
            t.table_kind,
            TableKind::Plain | TableKind::PartitionedParent
        ) && (d.kind != Kind::Local || referenced.contains(&q));
        let partition = t.table_kind == TableKind::Partition;
        if partition {
            // Follows its parent, decided in its own turn.
            d.column = None;
            d.group = None;
            continue;
        }
        *d = if usable && (referenced.contains(&q) || t.total_bytes <= opts.reference_max_bytes) {
            let why = if referenced.contains(&q) {
                "referenced by the tenant schemas' tables (Citus allows their foreign keys to point only into their own schema or to reference tables)"
            } else {
                "shared by the tenants: a copy on every node joins with every tenant schema"
            };
            Decision {
                kind: Kind::Reference,
                column: None,
                group: None,
                reasons: vec![format!(
                    "shared table ({}, {} row(s)): {why} → reference table",
                    human_bytes(t.total_bytes),
                    thousands(t.rows())
                )],
            }
        } else if usable {
            Decision {
                kind: Kind::Local,
                column: None,
                group: None,
                reasons: vec![format!(
                    "shared table of {}, more than a reference table may hold ({}), that no tenant table references: stays local on the coordinator",
                    human_bytes(t.total_bytes),
                    human_bytes(opts.reference_max_bytes)
                )],
            }
        } else {
            Decision {
                kind: Kind::Local,
                column: None,
                group: None,
                reasons: std::mem::take(&mut d.reasons),
            }
        };
    }
    // Partitions follow their parent's kind.
    let kind_of: BTreeMap<QualifiedName, Kind> = cat
        .tables
        .iter()
        .zip(&decided.tables)
        .map(|(t, d)| (t.qualified(), d.kind))
        .collect();
    for (t, d) in cat.tables.iter().zip(decided.tables.iter_mut()) {
        if let (TableKind::Partition, Some(p)) = (t.table_kind, &t.parent) {
            if let Some(k) = kind_of.get(p) {
                if !tenant_set.contains(t.schema.as_str()) {
                    d.kind = *k;
                    d.reasons = vec![format!("a partition of {p}: follows it")];
                }
            }
        }
    }
    decided.groups.clear();
    let shared = cat
        .tables
        .iter()
        .filter(|t| !tenant_set.contains(t.schema.as_str()))
        .count();
    let first = match layout {
        SchemaLayout::Tenants { tables_each } => format!(
            "{count} schemas hold the same {} ({}): a schema per tenant. Citus 12+ shards such a database by schema: citus_schema_distribute moves each tenant schema, whole, to a node of its own choosing, without a distribution column or changes to the application",
            tables_word(*tables_each),
            list(tenants)
        ),
        SchemaLayout::Services => format!(
            "{count} schemas ({}) each hold tables of their own, no foreign key leads from one into another and nothing is shared in public: a schema per service. Citus 12+ shards such a database by schema (Citus docs: microservices): citus_schema_distribute moves each schema, whole, to a node of its own choosing, without a distribution column or changes to the services",
            list(tenants)
        ),
    };
    let change = match layout {
        SchemaLayout::Tenants { .. } => format!(
            "what would change the answer: fewer than {MIN_TENANT_SCHEMAS} schemas with the same tables, or tenants kept as rows of shared tables (a tenant column) rather than as schemas"
        ),
        SchemaLayout::Services => format!(
            "what would change the answer: fewer than {MIN_TENANT_SCHEMAS} such schemas, tables in public other than migration bookkeeping, or a foreign key (or a shared key column) between two schemas"
        ),
    };
    let mut why = vec![first];
    if shared > 0 {
        why.push(format!(
            "the {shared} other {} are shared by the tenants: reference tables first (a copy on every node), local where they are too large and no tenant table references them",
            if shared == 1 { "table" } else { "tables" }
        ));
    }
    why.push(change);
    why
}

/// Whether the database is better kept on one node, with the reasons: the foreign keys tie the tables
/// into one hierarchy, row-based sharding would cut it into several co-location groups with foreign
/// keys between them, and the entity those groups have in common (the tenant the hierarchy could be
/// sharded by: not a lookup the layout makes a reference table, unless its name says tenant) has fewer
/// rows than shards. The total size decides only above `single_node_max_bytes`
/// (then one node is no longer enough, whatever the shape).
pub(super) fn single_node(
    cat: &Catalog,
    opts: &AdviceOptions,
    shards: u32,
    decided: &Decided,
) -> Option<Vec<String>> {
    let bytes = super::table_bytes(cat);
    if bytes > opts.single_node_max_bytes {
        return None;
    }
    let index: BTreeMap<QualifiedName, usize> = cat
        .tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.qualified(), i))
        .collect();
    // A partition's foreign keys are its parent's.
    let owner = |i: usize| -> usize {
        let t = &cat.tables[i];
        match (&t.table_kind, &t.parent) {
            (TableKind::Partition, Some(p)) => index.get(p).copied().unwrap_or(i),
            _ => i,
        }
    };
    let group = |i: usize| -> Option<&str> {
        let d = &decided.tables[owner(i)];
        (d.kind == Kind::Distributed)
            .then_some(d.group.as_deref())
            .flatten()
    };
    let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, t) in cat.tables.iter().enumerate() {
        if t.table_kind != TableKind::Partition {
            if let Some(g) = group(i) {
                *sizes.entry(g).or_default() += 1;
            }
        }
    }
    let multi: BTreeSet<&str> = sizes
        .iter()
        .filter(|(_, n)| **n >= 2)
        .map(|(g, _)| *g)
        .collect();
    if multi.len() < 2 {
        return None;
    }
    // Foreign keys between distributed tables of different groups, and, for each table, the groups
    // whose tables reference it.
    let mut crossing: BTreeSet<(QualifiedName, QualifiedName)> = BTreeSet::new();
    let mut referenced_from: BTreeMap<usize, BTreeSet<&str>> = BTreeMap::new();
    for (i, t) in cat.tables.iter().enumerate() {
        let Some(ga) = group(i) else { continue };
        for f in &t.foreign_keys {
            let Some(&j) = index.get(&f.referenced_table) else {
                continue;
            };
            let j = owner(j);
            referenced_from.entry(j).or_default().insert(ga);
            if let Some(gb) = group(j) {
                if gb != ga {
                    crossing.insert((cat.tables[owner(i)].qualified(), cat.tables[j].qualified()));
                }
            }
        }
    }
    if crossing.is_empty() {
        return None;
    }
    // The common entity: referenced from two or more groups, with fewer rows than shards, and an entity
    // rather than a lookup — one the row-based layout does not make a reference table (a status, a
    // country, a plan), or one whose name says it is the tenant (a store, a company).
    let entity = |j: usize| {
        decided.tables[j].kind != Kind::Reference || super::column::tenant_like(&cat.tables[j].name)
    };
    let (root, from) = referenced_from
        .iter()
        .filter(|(j, gs)| gs.len() >= 2 && cat.tables[**j].rows() < shards as i64 && entity(**j))
        .max_by(|a, b| {
            a.1.len().cmp(&b.1.len()).then_with(|| {
                cat.tables[*b.0]
                    .qualified()
                    .cmp(&cat.tables[*a.0].qualified())
            })
        })?;
    let root_t = &cat.tables[*root];
    let groups: Vec<String> = multi.iter().map(|g| format!("{g:?}")).collect();
    // The examples: the keys of the largest tables first.
    let mut crossing: Vec<(QualifiedName, QualifiedName)> = crossing.into_iter().collect();
    let bytes_of = |q: &QualifiedName| index.get(q).map_or(0, |&i| cat.tables[i].total_bytes);
    crossing.sort_by_key(|(a, b)| std::cmp::Reverse((bytes_of(a), bytes_of(b))));
    let examples: Vec<String> = crossing
        .iter()
        .take(3)
        .map(|(a, b)| format!("{a} → {b}"))
        .collect();
    let from: Vec<String> = from.iter().map(|g| format!("{g:?}")).collect();
    Some(vec![
        format!(
            "the foreign keys tie the tables into one hierarchy, but no key co-locates it: row-based sharding would cut it into {} co-location groups ({}) with {} foreign {} between them (e.g. {}), so their joins would cross nodes",
            multi.len(),
            groups.join(", "),
            crossing.len(),
            if crossing.len() == 1 { "key" } else { "keys" },
            examples.join(", ")
        ),
        format!(
            "the entity those groups have in common, {} (referenced from groups {}), has {} {}: fewer than the {shards} shards, so a tenant key on it could not spread the data over the nodes",
            root_t.qualified(),
            from.join(", "),
            thousands(root_t.rows()),
            if root_t.rows() == 1 { "row" } else { "rows" }
        ),
        format!(
            "{} of table data: one PostgreSQL node serves it, with every join and constraint local (Citus's docs: a workload one node handles well does not need Citus)",
            human_bytes(bytes)
        ),
        format!(
            "what would change the answer: a tenant column with at least {shards} distinct values that the large tables carry (one key whose hierarchy covers most of the data), or more than {} of data; then plan the tables distributed (verdict \"distributed\")",
            human_bytes(opts.single_node_max_bytes)
        ),
    ])
}

/// Turns every decision local, saying in each table's reasons what row-based sharding would have made
/// of it.
pub(super) fn all_local(cat: &Catalog, decided: &mut Decided) {
    for (t, d) in cat.tables.iter().zip(decided.tables.iter_mut()) {
        let would = match (d.kind, &d.column, &d.group) {
            (Kind::Distributed, Some(c), Some(g)) => {
                format!(
                    "distributed on {} in group {g:?}",
                    crate::ident::quote_ident(c)
                )
            }
            (Kind::Distributed, Some(c), None) => {
                format!("distributed on {}", crate::ident::quote_ident(c))
            }
            (k, _, _) => k.to_string(),
        };
        let reasons = if t.table_kind == TableKind::Partition {
            vec!["a partition: stays local with its parent".into()]
        } else if d.kind == Kind::Local {
            std::mem::take(&mut d.reasons)
        } else {
            vec![format!(
                "the database stays on one node (verdict single_node): a plain PostgreSQL table; row-based sharding would make it {would}"
            )]
        };
        *d = Decision {
            kind: Kind::Local,
            column: None,
            group: None,
            reasons,
        };
    }
    decided.groups.clear();
}

fn tables_word(n: usize) -> String {
    if n == 1 {
        "table".into()
    } else {
        format!("{n} tables")
    }
}

/// The first few names, then how many more.
fn list(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut v: Vec<&str> = names.iter().take(SHOWN).map(String::as_str).collect();
    let more;
    if names.len() > SHOWN {
        more = format!("… {} more", names.len() - SHOWN);
        v.push(&more);
    }
    v.join(", ")
}
