//! Reading the source's catalog: tables, sizes, columns, constraints, foreign keys, indexes, triggers,
//! rules, policies, statistics and extensions, in a handful of set-based queries (the `.sql` files in
//! `src/sql/`), never one query per table.
//!
//! Entry point: [`analyze`] (connects, reads, counts rows when asked) gives the [`Catalog`]; [`read`]
//! does the reading on a connection of your own.

use std::collections::HashMap;

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::connect::query;
use crate::error::{Error, Result, Side};
use crate::filter::Selection;
use crate::ident::QualifiedName;

const SQL_TABLES: &str = include_str!("sql/catalog_tables.sql");
const SQL_COLUMNS: &str = include_str!("sql/catalog_columns.sql");
const SQL_CONSTRAINTS: &str = include_str!("sql/catalog_constraints.sql");
const SQL_INDEXES: &str = include_str!("sql/catalog_indexes.sql");
const SQL_OBJECTS: &str = include_str!("sql/catalog_objects.sql");
const SQL_STATS: &str = include_str!("sql/catalog_stats.sql");
const SQL_DATABASE: &str = include_str!("sql/catalog_database.sql");

/// What kind of relation a table is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableKind {
    Plain,
    PartitionedParent,
    Partition,
    InheritanceChild,
    Foreign,
    MaterializedView,
}

impl TableKind {
    /// How messages and reports name it: `table`, `partitioned table`, `partition`, ….
    pub fn label(self) -> &'static str {
        match self {
            TableKind::Plain => "table",
            TableKind::PartitionedParent => "partitioned table",
            TableKind::Partition => "partition",
            TableKind::InheritanceChild => "inheritance child",
            TableKind::Foreign => "foreign table",
            TableKind::MaterializedView => "materialized view",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Catalog {
    pub database: String,
    pub server_version: String,
    pub server_version_num: i32,
    /// The installed Citus version, when the source already has the extension.
    pub citus_version: Option<String>,
    pub extensions: Vec<Extension>,
    pub current_user: String,
    pub database_bytes: i64,
    /// Set when the server is a streaming hot standby (in recovery): how far its replay is behind.
    #[serde(default)]
    pub standby: Option<Standby>,
    pub tables: Vec<Table>,
}

/// How far a hot standby's replay is behind what it has received.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Standby {
    /// WAL received from the primary but not yet replayed.
    pub unreplayed_bytes: i64,
    /// Seconds since the commit time of the last transaction replayed; `None` before the first one.
    /// On an idle primary this grows without any lag.
    pub last_replay_age_seconds: Option<f64>,
    /// `hot_standby_feedback`: without it the primary's cleanup can cancel a long read on the standby.
    #[serde(default)]
    pub feedback: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Extension {
    pub name: String,
    pub version: String,
    pub schema: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table {
    pub schema: String,
    pub name: String,
    pub oid: u32,
    pub table_kind: TableKind,
    pub unlogged: bool,
    /// The partitioned parent or inheritance parent.
    pub parent: Option<QualifiedName>,
    pub partition_key: Option<String>,
    pub partition_bound: Option<String>,
    pub heap_bytes: i64,
    pub index_bytes: i64,
    pub toast_bytes: i64,
    pub total_bytes: i64,
    /// From `pg_class.reltuples`; for a partitioned parent the sum over its partitions; `-1` when the
    /// table was never vacuumed or analyzed.
    pub rows_estimate: i64,
    /// Real `count(*)`, with `--exact-counts`.
    pub rows_exact: Option<i64>,
    /// Rows updated or deleted since the server's statistics were last reset (`pg_stat_user_tables`
    /// `n_tup_upd + n_tup_del`): how often the application rewrites the table.
    #[serde(default)]
    pub rewrites: i64,
    pub owner: String,
    pub access_method: Option<String>,
    pub comment: Option<String>,
    pub columns: Vec<Column>,
    pub primary_key: Option<KeyConstraint>,
    pub unique_constraints: Vec<KeyConstraint>,
    pub exclusion_constraints: Vec<KeyConstraint>,
    pub check_constraints: Vec<KeyConstraint>,
    pub foreign_keys: Vec<ForeignKey>,
    /// Foreign keys of other tables that point at this one: `(table, constraint name)`.
    pub referenced_by: Vec<Reference>,
    pub indexes: Vec<Index>,
    pub triggers: Vec<DbObject>,
    pub rules: Vec<DbObject>,
    pub policies: Vec<DbObject>,
    pub rls_enabled: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub attnum: i32,
    /// `format_type` of the column, e.g. `character varying(20)`, `bigint`, `public.mood`.
    pub type_name: String,
    /// Base type name (for a domain, the type under it), e.g. `int8`, `uuid`, `timestamptz`.
    pub base_type: String,
    /// `pg_type.typcategory` of the base type: N numeric, S string, D date/time, B boolean, U user…
    pub type_category: String,
    /// `pg_type.typtype`: b base, d domain, e enum, c composite, r range, m multirange.
    pub type_kind: String,
    pub not_null: bool,
    pub default: Option<String>,
    /// `always` or `by_default` for identity columns.
    pub identity: Option<String>,
    /// The generation expression marker: `stored` for generated columns.
    pub generated: Option<String>,
    pub sequence: Option<QualifiedName>,
    pub stats: Option<ColumnStats>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColumnStats {
    pub null_frac: f64,
    /// As in `pg_stats`: positive = a count, negative = minus the fraction of rows that are distinct.
    pub n_distinct: f64,
    pub most_common_freqs: Vec<f64>,
    pub correlation: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyConstraint {
    pub name: String,
    pub columns: Vec<String>,
    pub definition: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ForeignKey {
    pub name: String,
    pub columns: Vec<String>,
    pub referenced_table: QualifiedName,
    pub referenced_columns: Vec<String>,
    pub on_update: String,
    pub on_delete: String,
    pub match_type: String,
    pub deferrable: bool,
    pub validated: bool,
    pub definition: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reference {
    pub table: QualifiedName,
    pub constraint: String,
    pub columns: Vec<String>,
    pub referenced_columns: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Index {
    pub name: String,
    pub columns: Vec<String>,
    pub unique: bool,
    pub primary: bool,
    pub partial: bool,
    pub expressions: bool,
    pub method: String,
    pub backs_constraint: bool,
    pub bytes: i64,
    pub definition: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DbObject {
    pub name: String,
    pub definition: String,
    pub enabled: bool,
}

impl Table {
    pub fn qualified(&self) -> QualifiedName {
        QualifiedName::new(&self.schema, &self.name)
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The best row count we have: exact when counted, else the estimate (0 when unknown).
    pub fn rows(&self) -> i64 {
        self.rows_exact.unwrap_or(self.rows_estimate.max(0))
    }

    /// Tables that hold rows themselves (not partitioned parents, foreign tables or views).
    pub fn holds_data(&self) -> bool {
        matches!(
            self.table_kind,
            TableKind::Plain | TableKind::Partition | TableKind::InheritanceChild
        )
    }
}

impl Catalog {
    /// The tables whose rows are copied and compared: every selected table that holds rows itself.
    pub fn data_tables(&self) -> Vec<QualifiedName> {
        self.tables
            .iter()
            .filter(|t| t.holds_data())
            .map(|t| t.qualified())
            .collect()
    }

    pub fn table(&self, name: &QualifiedName) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.schema == name.schema && t.name == name.name)
    }

    pub fn has_extension(&self, name: &str) -> bool {
        self.extensions.iter().any(|e| e.name == name)
    }
}

/// Options for [`read`].
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub filters: Selection,
    /// Count rows with `count(*)` (in parallel, on `jobs` extra connections made by `connect`).
    pub exact_counts: bool,
    pub jobs: usize,
}

fn s(row: &tokio_postgres::Row, col: &str) -> String {
    row.get::<_, Option<String>>(col).unwrap_or_default()
}

fn opt(row: &tokio_postgres::Row, col: &str) -> Option<String> {
    row.get::<_, Option<String>>(col).filter(|v| !v.is_empty())
}

fn action(code: &str) -> String {
    match code {
        "a" => "no action",
        "r" => "restrict",
        "c" => "cascade",
        "n" => "set null",
        "d" => "set default",
        _ => "",
    }
    .to_string()
}

/// Reads the catalog of the database `client` is connected to (always the source side).
pub async fn read(client: &Client, opts: &ReadOptions) -> Result<Catalog> {
    read_on(&[client], opts).await
}

/// Like [`read`], spreading the catalog queries over several connections to the same database (they
/// run at the same time; each is still one set-based query for the whole database).
pub(crate) async fn read_on(clients: &[&Client], opts: &ReadOptions) -> Result<Catalog> {
    let side = Side::Source;
    assert!(!clients.is_empty(), "read_on needs at least one connection");
    // Spread by weight (measured on 5,000 tables): sizing the tables and sizing the indexes each need
    // PostgreSQL to open every relation, so they go to different connections; the rest fills in.
    let on = |slot: usize| clients[slot % clients.len()];
    let (rows, idxs, cons, cols, stats, objs, db) = futures::try_join!(
        query(on(0), side, "reading the table list", SQL_TABLES, &[]),
        query(on(1), side, "reading indexes", SQL_INDEXES, &[]),
        query(on(2), side, "reading constraints", SQL_CONSTRAINTS, &[]),
        query(on(2), side, "reading columns", SQL_COLUMNS, &[]),
        query(on(1), side, "reading column statistics", SQL_STATS, &[]),
        query(
            on(2),
            side,
            "reading triggers, rules and policies",
            SQL_OBJECTS,
            &[]
        ),
        query(on(0), side, "reading database facts", SQL_DATABASE, &[]),
    )?;
    let db = db
        .first()
        .ok_or_else(|| Error::Other("catalog: no database row".into()))?;
    let extensions: Vec<Extension> = serde_json::from_str(&s(db, "extensions"))
        .map_err(|e| Error::Other(format!("catalog: cannot read the extension list: {e}")))?;

    let parent_of = |r: &tokio_postgres::Row| match (opt(r, "parent_schema"), opt(r, "parent_name"))
    {
        (Some(ps), Some(pn)) => Some(QualifiedName::new(ps, pn)),
        _ => None,
    };
    let candidates: Vec<(QualifiedName, Option<QualifiedName>)> = rows
        .iter()
        .map(|r| {
            let name = QualifiedName::new(s(r, "schema"), s(r, "name"));
            (
                name,
                parent_of(r).filter(|_| r.get::<_, bool>("is_partition")),
            )
        })
        .collect();
    let selected = opts.filters.select(&candidates);
    let mut tables: Vec<Table> = Vec::with_capacity(rows.len());
    for ((r, (name, _)), _) in rows
        .iter()
        .zip(candidates)
        .zip(selected)
        .filter(|(_, selected)| *selected)
    {
        let relkind = s(r, "relkind");
        let parent = parent_of(r);
        let table_kind = match relkind.as_str() {
            "p" => TableKind::PartitionedParent,
            "f" => TableKind::Foreign,
            "m" => TableKind::MaterializedView,
            _ if r.get::<_, bool>("is_partition") => TableKind::Partition,
            _ if parent.is_some() => TableKind::InheritanceChild,
            _ => TableKind::Plain,
        };
        let reltuples: f64 = r.get("reltuples");
        tables.push(Table {
            schema: name.schema,
            name: name.name,
            oid: r.get::<_, i64>("oid") as u32,
            table_kind,
            unlogged: s(r, "persistence") == "u",
            parent,
            partition_key: opt(r, "partition_key"),
            partition_bound: opt(r, "partition_bound"),
            heap_bytes: r.get("heap_bytes"),
            index_bytes: 0,
            toast_bytes: r.get("toast_bytes"),
            // Plus the indexes, added below.
            total_bytes: r.get::<_, i64>("heap_bytes")
                + r.get::<_, i64>("other_fork_bytes")
                + r.get::<_, i64>("toast_bytes"),
            rows_estimate: if reltuples < 0.0 {
                -1
            } else {
                reltuples.round() as i64
            },
            rows_exact: None,
            rewrites: r.get("rewrites"),
            owner: s(r, "owner"),
            access_method: opt(r, "access_method"),
            comment: opt(r, "comment"),
            columns: Vec::new(),
            primary_key: None,
            unique_constraints: Vec::new(),
            exclusion_constraints: Vec::new(),
            check_constraints: Vec::new(),
            foreign_keys: Vec::new(),
            referenced_by: Vec::new(),
            indexes: Vec::new(),
            triggers: Vec::new(),
            rules: Vec::new(),
            policies: Vec::new(),
            rls_enabled: r.get("rls_enabled"),
        });
    }
    let by_oid: HashMap<u32, usize> = tables.iter().enumerate().map(|(i, t)| (t.oid, i)).collect();
    let idx = |r: &tokio_postgres::Row| by_oid.get(&(r.get::<_, i64>("table_oid") as u32)).copied();

    // Column names by (table, attnum), for every relation the columns query saw (also ones the filters
    // leave out, which foreign keys may reference); constraints and indexes give attnums.
    let attnames: HashMap<(u32, i16), String> = cols
        .iter()
        .map(|r| {
            (
                (
                    r.get::<_, i64>("table_oid") as u32,
                    r.get::<_, i32>("attnum") as i16,
                ),
                s(r, "name"),
            )
        })
        .collect();
    let names_of = |oid: u32, attnums: Option<Vec<i16>>| -> Vec<String> {
        attnums
            .unwrap_or_default()
            .into_iter()
            .map(|n| attnames.get(&(oid, n)).cloned().unwrap_or_default())
            .collect()
    };

    for r in &cols {
        let Some(i) = idx(r) else { continue };
        let identity = match s(r, "identity").as_str() {
            "a" => Some("always".to_string()),
            "d" => Some("by_default".to_string()),
            _ => None,
        };
        let generated = match s(r, "generated").as_str() {
            "s" => Some("stored".to_string()),
            "" => None,
            other => Some(other.to_string()),
        };
        let sequence = match (opt(r, "sequence_schema"), opt(r, "sequence_name")) {
            (Some(a), Some(b)) => Some(QualifiedName::new(a, b)),
            _ => None,
        };
        tables[i].columns.push(Column {
            name: s(r, "name"),
            attnum: r.get("attnum"),
            type_name: s(r, "type_name"),
            base_type: s(r, "base_type"),
            type_category: s(r, "type_category"),
            type_kind: s(r, "type_kind"),
            not_null: r.get("not_null"),
            default: opt(r, "default_expr"),
            identity,
            generated,
            sequence,
            stats: None,
        });
    }

    let mut refs: Vec<(QualifiedName, Reference)> = Vec::new();
    for r in &cons {
        let Some(i) = idx(r) else { continue };
        let columns = names_of(r.get::<_, i64>("table_oid") as u32, r.get("column_attnums"));
        let key = KeyConstraint {
            name: s(r, "name"),
            columns: columns.clone(),
            definition: s(r, "definition"),
        };
        let t = &mut tables[i];
        match s(r, "kind").as_str() {
            "p" => t.primary_key = Some(key),
            "u" => t.unique_constraints.push(key),
            "x" => t.exclusion_constraints.push(key),
            "c" => t.check_constraints.push(key),
            "f" => {
                // Partitions inherit their parent's foreign keys; keep them on the parent only.
                if !r.get::<_, bool>("is_local") {
                    continue;
                }
                let fk = ForeignKey {
                    name: key.name.clone(),
                    columns,
                    referenced_table: QualifiedName::new(s(r, "ref_schema"), s(r, "ref_name")),
                    referenced_columns: names_of(
                        r.get::<_, Option<i64>>("ref_oid").unwrap_or(0) as u32,
                        r.get("ref_column_attnums"),
                    ),
                    on_update: action(&s(r, "on_update")),
                    on_delete: action(&s(r, "on_delete")),
                    match_type: match s(r, "match_type").as_str() {
                        "f" => "full",
                        "p" => "partial",
                        _ => "simple",
                    }
                    .to_string(),
                    deferrable: r.get("deferrable"),
                    validated: r.get("validated"),
                    definition: key.definition,
                };
                refs.push((
                    fk.referenced_table.clone(),
                    Reference {
                        table: t.qualified(),
                        constraint: fk.name.clone(),
                        columns: fk.columns.clone(),
                        referenced_columns: fk.referenced_columns.clone(),
                    },
                ));
                t.foreign_keys.push(fk);
            }
            _ => {}
        }
    }
    let by_name: HashMap<QualifiedName, usize> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.qualified(), i))
        .collect();
    for (target, reference) in refs {
        if let Some(&i) = by_name.get(&target) {
            tables[i].referenced_by.push(reference);
        }
    }

    for r in &idxs {
        let Some(i) = idx(r) else { continue };
        let bytes: i64 = r.get("bytes");
        tables[i].index_bytes += bytes;
        tables[i].total_bytes += bytes;
        tables[i].indexes.push(Index {
            name: s(r, "name"),
            columns: {
                let attnums: Vec<i16> = r.get("column_attnums");
                let texts: Option<Vec<String>> = r.get("column_texts");
                let oid = r.get::<_, i64>("table_oid") as u32;
                attnums
                    .iter()
                    .enumerate()
                    .map(|(k, &n)| match (n, &texts) {
                        (0, Some(t)) => t.get(k).cloned().unwrap_or_default(),
                        _ => attnames.get(&(oid, n)).cloned().unwrap_or_default(),
                    })
                    .collect()
            },
            unique: r.get("is_unique"),
            primary: r.get("is_primary"),
            partial: r.get("is_partial"),
            expressions: r.get("has_expressions"),
            method: s(r, "method"),
            backs_constraint: r.get("backs_constraint"),
            bytes,
            definition: s(r, "definition"),
        });
    }

    for r in &objs {
        let Some(i) = idx(r) else { continue };
        let o = DbObject {
            name: s(r, "name"),
            definition: s(r, "definition"),
            enabled: r.get("enabled"),
        };
        match s(r, "kind").as_str() {
            "trigger" => tables[i].triggers.push(o),
            "rule" => tables[i].rules.push(o),
            _ => tables[i].policies.push(o),
        }
    }

    for r in &stats {
        let Some(i) = idx(r) else { continue };
        let name = s(r, "column_name");
        if let Some(c) = tables[i].columns.iter_mut().find(|c| c.name == name) {
            c.stats = Some(ColumnStats {
                null_frac: r.get("null_frac"),
                n_distinct: r.get("n_distinct"),
                most_common_freqs: r
                    .get::<_, Option<Vec<f64>>>("most_common_freqs")
                    .unwrap_or_default(),
                correlation: r.get("correlation"),
            });
        }
    }

    // A partitioned parent's estimate and sizes are the sums over its leaf partitions (at any depth);
    // its estimate stays -1 while none of them was analyzed.
    for t in tables
        .iter_mut()
        .filter(|t| t.table_kind == TableKind::PartitionedParent)
    {
        t.rows_estimate = -1;
    }
    for (leaf, ancestors) in partition_leaves(&tables) {
        let l = &tables[leaf];
        let (rows, heap, index, toast, total) = (
            l.rows_estimate,
            l.heap_bytes,
            l.index_bytes,
            l.toast_bytes,
            l.total_bytes,
        );
        for a in ancestors {
            let p = &mut tables[a];
            if rows >= 0 {
                p.rows_estimate = p.rows_estimate.max(0) + rows;
            }
            p.heap_bytes += heap;
            p.index_bytes += index;
            p.toast_bytes += toast;
            p.total_bytes += total;
        }
    }

    Ok(Catalog {
        database: s(db, "database"),
        server_version: s(db, "server_version"),
        server_version_num: db.get("server_version_num"),
        citus_version: opt(db, "citus_version"),
        extensions,
        current_user: s(db, "current_user"),
        database_bytes: db.get("database_bytes"),
        standby: opt(db, "standby")
            .map(|j| serde_json::from_str(&j))
            .transpose()
            .map_err(|e| Error::Other(format!("catalog: cannot read the standby's state: {e}")))?,
        tables,
    })
}

/// Counts the rows of every table that holds data, `jobs` at a time, each on its own connection from
/// `connect`. Sets `rows_exact` (partitioned parents get the sum of their partitions).
pub(crate) async fn count_rows<F, Fut>(catalog: &mut Catalog, jobs: usize, connect: F) -> Result<()>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Client>>,
{
    let names = catalog.data_tables();
    let user = &catalog.current_user;
    let jobs = jobs.max(1).min(names.len().max(1));
    let mut clients = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        clients.push(connect().await?);
    }
    let pool = tokio::sync::Mutex::new(clients);
    let counts: Vec<(QualifiedName, i64)> = stream::iter(names)
        .map(|name| {
            let pool = &pool;
            async move {
                let client = pool.lock().await.pop().expect("one client per job");
                let sql = format!("SELECT count(*) FROM ONLY {}", name.quoted());
                let res = query(&client, Side::Source, &format!("counting rows of {name}"), &sql, &[])
                    .await
                    .map_err(|e| match e {
                        Error::Db { source, .. }
                            if source.code() == Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) =>
                        {
                            Error::Precondition {
                                side: Side::Source,
                                message: format!(
                                    "cannot count the rows of {name}: {}. The source user needs USAGE on the \
                                     schema and SELECT on the table (GRANT USAGE ON SCHEMA {schema} TO {user}; \
                                     GRANT SELECT ON {table} TO {user};)",
                                    crate::error::db_message(&source),
                                    schema = crate::ident::quote_ident(&name.schema),
                                    table = name.quoted(),
                                    user = crate::ident::quote_ident(user),
                                ),
                                remedy: Some(crate::error::Remedy::ExcludeTableOrNoCounts),
                            }
                        }
                        e => e,
                    });
                pool.lock().await.push(client);
                Ok::<_, Error>((name, res?[0].get::<_, i64>(0)))
            }
        })
        .buffer_unordered(jobs)
        .try_collect()
        .await?;
    let counts: HashMap<QualifiedName, i64> = counts.into_iter().collect();
    for t in catalog.tables.iter_mut() {
        if let Some(n) = counts.get(&t.qualified()) {
            t.rows_exact = Some(*n);
        } else if t.table_kind == TableKind::PartitionedParent {
            t.rows_exact = Some(0);
        }
    }
    for (leaf, ancestors) in partition_leaves(&catalog.tables) {
        let n = catalog.tables[leaf].rows_exact.unwrap_or(0);
        for a in ancestors {
            *catalog.tables[a].rows_exact.get_or_insert(0) += n;
        }
    }
    Ok(())
}

/// Every leaf partition (by index) with the indexes of its partitioned ancestors among `tables`,
/// nearest first.
fn partition_leaves(tables: &[Table]) -> Vec<(usize, Vec<usize>)> {
    let by_name: HashMap<QualifiedName, usize> = tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.qualified(), i))
        .collect();
    let parent_of = |i: usize| -> Option<usize> {
        let t = &tables[i];
        let is_partition = t.table_kind == TableKind::Partition
            || (t.table_kind == TableKind::PartitionedParent && t.parent.is_some());
        let p = *by_name.get(t.parent.as_ref().filter(|_| is_partition)?)?;
        (tables[p].table_kind == TableKind::PartitionedParent).then_some(p)
    };
    let mut out = Vec::new();
    for (i, t) in tables.iter().enumerate() {
        if t.table_kind != TableKind::Partition {
            continue;
        }
        let mut ancestors = Vec::new();
        let mut cur = i;
        while let Some(p) = parent_of(cur) {
            if ancestors.contains(&p) {
                break;
            }
            ancestors.push(p);
            cur = p;
        }
        out.push((i, ancestors));
    }
    out
}

/// The partitioned ancestors (nearest first) of those of `tables` that are partitions, in one query;
/// tables that are not partitions (or do not exist) are left out.
pub(crate) async fn partition_ancestors(
    client: &Client,
    side: Side,
    tables: &[QualifiedName],
) -> Result<HashMap<QualifiedName, Vec<QualifiedName>>> {
    let schemas: Vec<&str> = tables.iter().map(|t| t.schema.as_str()).collect();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let rows = query(
        client,
        side,
        "reading the partitioned tables above the selected tables",
        "SELECT w.schema_name, w.table_name, an.nspname::text, ac.relname::text \
         FROM unnest($1::text[], $2::text[]) AS w(schema_name, table_name) \
         JOIN pg_namespace n ON n.nspname = w.schema_name \
         JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = w.table_name AND c.relispartition \
         CROSS JOIN LATERAL pg_partition_ancestors(c.oid) WITH ORDINALITY AS a(relid, depth) \
         JOIN pg_class ac ON ac.oid = a.relid AND ac.oid <> c.oid \
         JOIN pg_namespace an ON an.oid = ac.relnamespace \
         ORDER BY 1, 2, a.depth",
        &[
            (&schemas, tokio_postgres::types::Type::TEXT_ARRAY),
            (&names, tokio_postgres::types::Type::TEXT_ARRAY),
        ],
    )
    .await?;
    let mut out: HashMap<QualifiedName, Vec<QualifiedName>> = HashMap::new();
    for r in rows {
        out.entry(QualifiedName::new(
            r.get::<_, String>(0),
            r.get::<_, String>(1),
        ))
        .or_default()
        .push(QualifiedName::new(
            r.get::<_, String>(2),
            r.get::<_, String>(3),
        ));
    }
    Ok(out)
}

/// Fails (a usage error) when an include pattern of `filters` selected no table of `catalog`.
pub(crate) fn require_matches(catalog: &Catalog, filters: &Selection) -> Result<()> {
    let unmatched = filters.unmatched(
        &catalog
            .tables
            .iter()
            .map(|t| t.qualified())
            .collect::<Vec<_>>(),
    );
    if unmatched.is_empty() {
        return Ok(());
    }
    Err(Error::Usage(crate::error::UsageProblem::NoMatch {
        database: catalog.database.clone(),
        patterns: unmatched.iter().map(|p| p.to_string()).collect(),
    }))
}

/// Fails when no selected table holds rows, so that nothing is reported as moved or equal over zero
/// tables: a usage error when `filters` narrowed the selection, else a precondition of the source.
/// `what` says what would have been done (`"compare"`, `"migrate"`).
pub(crate) fn require_data(catalog: &Catalog, filters: &Selection, what: &str) -> Result<()> {
    if catalog.tables.iter().any(|t| t.holds_data()) {
        return Ok(());
    }
    let mut message = format!(
        "nothing to {what}: no selected table of the source database {:?} holds rows",
        catalog.database
    );
    if !catalog.tables.is_empty() {
        let shown: Vec<String> = catalog
            .tables
            .iter()
            .take(5)
            .map(|t| format!("{} ({})", t.qualified(), t.table_kind.label()))
            .collect();
        message.push_str(&format!(
            " (selected: {}{})",
            shown.join(", "),
            if catalog.tables.len() > 5 {
                ", …"
            } else {
                ""
            }
        ));
    }
    if filters.is_empty() {
        Err(Error::Precondition {
            remedy: None,
            side: Side::Source,
            message,
        })
    } else {
        Err(Error::usage(format!(
            "{message}; check the table selection (a partitioned table comes with its partitions; the \
             exclude patterns may remove them)"
        )))
    }
}

/// Connects to the source (up to three connections, fewer when `jobs` is smaller), reads its catalog
/// and, with `exact_counts`, counts rows in parallel on `jobs` connections.
pub async fn analyze(source: &crate::conninfo::ConnInfo, opts: &ReadOptions) -> Result<Catalog> {
    let n = if opts.jobs == 0 { 3 } else { opts.jobs.min(3) };
    let clients =
        futures::future::try_join_all((0..n).map(|_| crate::connect::connect(source))).await?;
    let refs: Vec<&Client> = clients.iter().collect();
    let mut catalog = read_on(&refs, opts).await?;
    drop(refs);
    drop(clients);
    require_matches(&catalog, &opts.filters)?;
    if opts.exact_counts {
        count_rows(&mut catalog, opts.jobs, || crate::connect::connect(source)).await?;
    }
    Ok(catalog)
}
