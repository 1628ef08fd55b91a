//! Proving that the target holds what the source holds: per table (and per key range) a row count and
//! a 128-bit order-independent content checksum computed on the server on both sides
//! (`sql/verify_checksum.sql`, under the pinned settings of `sql/verify_session.sql`); the Citus layout
//! of the target against the plan; and every sequence on the target past the source's value.
//!
//! Nothing is fetched row by row: each side returns three numbers per range.
//!
//! Entry point: [`verify()`], with [`VerifyOptions`] (a plan's layout from [`expected_layout`]), gives
//! a [`VerifyReport`]; [`checksum`] is the count and checksum of one table on one connection.

use std::collections::{BTreeSet, HashMap};

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::advice::Kind;
use crate::catalog::{self, ReadOptions};
use crate::connect::{connect, execute, query};
use crate::conninfo::ConnInfo;
use crate::error::{Error, Result, Side};
use crate::filter::Selection;
use crate::ident::{quote_ident, QualifiedName};
use crate::plan::Plan;
use crate::progress::Progress;

const SQL_SESSION: &str = include_str!("sql/verify_session.sql");
const SQL_COLUMNS: &str = include_str!("sql/verify_columns.sql");
const SQL_LAYOUT: &str = include_str!("sql/verify_layout.sql");
const SQL_CHECKSUM: &str = include_str!("sql/verify_checksum.sql");
const SQL_CHECKSUM_MD5: &str = include_str!("sql/verify_checksum_md5.sql");

/// How rows are hashed: both sides must use the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowHash {
    /// PostgreSQL's `hashtextextended` with two seeds (fast; the same on servers of the same byte
    /// order).
    Hashtextextended,
    /// md5 halves (portable everywhere, slower).
    Md5,
}

/// Chooses the row hash: `hashtextextended` when both servers compute the same value for a probe
/// string, else md5.
pub(crate) async fn choose_hash(source: &Client, target: &Client) -> Result<RowHash> {
    const PROBE: &str = "SELECT hashtextextended('citus-migrate verify probe: ü €', 0)::text, hashtextextended('x', 1)::text";
    let (a, b) = futures::try_join!(
        query(source, Side::Source, "probing the row hash", PROBE, &[]),
        query(target, Side::Target, "probing the row hash", PROBE, &[])
    )?;
    let vals =
        |rows: &[tokio_postgres::Row]| (rows[0].get::<_, String>(0), rows[0].get::<_, String>(1));
    Ok(if vals(&a) == vals(&b) {
        RowHash::Hashtextextended
    } else {
        RowHash::Md5
    })
}

/// Version of the JSON report; bumped on incompatible changes.
pub const VERIFY_FORMAT_VERSION: u32 = 1;

/// How a table is expected to be laid out on the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum LayoutKind {
    /// Hash-distributed on `column`; when `colocate_with` is given, in the same co-location group as
    /// that table.
    Distributed {
        column: String,
        colocate_with: Option<QualifiedName>,
    },
    Reference,
    /// A plain table on the coordinator (or a Citus-local table).
    Local,
    /// A table of a distributed schema: a single-shard table, in the one co-location group of its
    /// schema, which no other schema shares.
    Schema,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedLayout {
    pub table: QualifiedName,
    #[serde(flatten)]
    pub kind: LayoutKind,
}

/// A part of a table that is checked on its own. `predicate` is a SQL condition valid on both sides
/// (a key range from the copy planner); `None` is the whole table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    pub predicate: Option<String>,
}

impl Range {
    pub fn whole() -> Self {
        Range { predicate: None }
    }

    fn label(&self) -> String {
        self.predicate
            .clone()
            .unwrap_or_else(|| "whole table".into())
    }
}

/// What to verify.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Which source tables to compare (all user tables when empty).
    pub filters: Selection,
    /// When set (from a plan), the target's Citus layout must match it.
    pub expected_layout: Option<Vec<ExpectedLayout>>,
    /// Parallel connections per side.
    pub jobs: usize,
    /// Check that the target's sequences are past the source's values.
    pub check_sequences: bool,
    /// Key ranges per table; tables not listed are compared whole.
    pub ranges: HashMap<QualifiedName, Vec<Range>>,
    /// For tables without `ranges`, use the integer-key ranges the copy recorded on the target (its
    /// bookkeeping table), so a difference names the chunk; tables the copy split by pages (ctid,
    /// meaningful on the source only) are compared whole.
    pub copy_ranges: bool,
    /// Columns only the target stores, per table: `(column, expression)`, the expression computing
    /// the column from a row of the source table (a plan's added tenant column:
    /// [`crate::plan::changes::computed_columns`]). Compared like the others.
    pub computed_columns: HashMap<QualifiedName, Vec<(String, String)>>,
}

/// Count and checksum of one range on one side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checksum {
    pub rows: i64,
    /// 32 hex digits: the two 64-bit sums of the rows' md5 halves, modulo 2^64 each.
    pub digest: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RangeCheck {
    pub range: Option<String>,
    pub source: Checksum,
    pub target: Option<Checksum>,
    pub equal: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableCheck {
    pub table: QualifiedName,
    /// The columns compared, in the order they were hashed (by name).
    pub columns: Vec<String>,
    pub source_rows: i64,
    /// `None` when the table is missing on the target.
    pub target_rows: Option<i64>,
    pub ranges: Vec<RangeCheck>,
    pub equal: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayoutCheck {
    pub table: QualifiedName,
    pub expected: LayoutKind,
    /// What the target has, in words (`distributed on tenant_id, co-location 3`, `reference`, `local`).
    pub actual: String,
    pub equal: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SequenceCheck {
    pub sequence: QualifiedName,
    /// The source's last value (`None`: never used).
    pub source_last_value: Option<i64>,
    /// `None` when the sequence is missing on the target or never used there.
    pub target_last_value: Option<i64>,
    pub target_exists: bool,
    pub ok: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DifferenceKind {
    MissingTable,
    Columns,
    RowCount,
    Content,
    Layout,
    Sequence,
}

/// One thing that does not match, named precisely enough to act on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Difference {
    pub kind: DifferenceKind,
    /// The table or sequence, quoted.
    pub object: String,
    /// The key range, when the difference is inside one.
    pub range: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VerifyReport {
    pub format_version: u32,
    /// How the rows were hashed.
    pub hash: RowHash,
    pub tables: Vec<TableCheck>,
    pub layout: Vec<LayoutCheck>,
    pub sequences: Vec<SequenceCheck>,
    pub differences: Vec<Difference>,
    pub equal: bool,
}

impl VerifyReport {
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::Other(format!("cannot write JSON: {e}")))
    }
}

/// The plan's layout for `verify`: reference tables, distributed tables on their column (members of a
/// co-location group co-located with its leader), and the rest local.
pub fn expected_layout(plan: &Plan) -> Vec<ExpectedLayout> {
    let mut out = Vec::new();
    for g in plan.groups() {
        for t in std::iter::once(g.leader).chain(g.members.iter().copied()) {
            let colocate_with =
                (t.qualified() != g.leader.qualified()).then(|| g.leader.qualified());
            if let Some(column) = &t.distribution_column {
                out.push(ExpectedLayout {
                    table: t.qualified(),
                    kind: LayoutKind::Distributed {
                        column: column.clone(),
                        colocate_with,
                    },
                });
            }
        }
    }
    for t in &plan.tables {
        if out.iter().any(|e| e.table == t.qualified()) {
            continue;
        }
        let kind = match t.kind {
            Kind::Reference => LayoutKind::Reference,
            Kind::Local => LayoutKind::Local,
            Kind::Schema => LayoutKind::Schema,
            Kind::Distributed => match &t.distribution_column {
                Some(c) => LayoutKind::Distributed {
                    column: c.clone(),
                    colocate_with: None,
                },
                None => continue,
            },
        };
        out.push(ExpectedLayout {
            table: t.qualified(),
            kind,
        });
    }
    out
}

/// The settings of every checksum transaction.
async fn begin_pinned(client: &Client, side: Side) -> Result<()> {
    execute(
        client,
        side,
        "starting a checksum transaction",
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
    )
    .await?;
    execute(
        client,
        side,
        "pinning the session settings for checksums",
        SQL_SESSION,
    )
    .await
}

/// The checksum statement for `table` over `columns` (hashed in the given order) and an optional
/// range predicate.
pub(crate) fn checksum_sql(
    hash: RowHash,
    table: &QualifiedName,
    columns: &[String],
    computed: &[(String, String)],
    predicate: Option<&str>,
) -> String {
    let cols: Vec<String> = columns
        .iter()
        .map(|c| match computed.iter().find(|(n, _)| n == c) {
            Some((_, e)) => e.clone(),
            None => quote_ident(c),
        })
        .collect();
    let template = match hash {
        RowHash::Hashtextextended => SQL_CHECKSUM,
        RowHash::Md5 => SQL_CHECKSUM_MD5,
    };
    let body = template
        .lines()
        .filter(|l| !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    body.replace("{columns}", &cols.join(", "))
        .replace("{table}", &table.quoted())
        .replace(
            "{where}",
            &predicate
                .map(|p| format!("({p})"))
                .unwrap_or_else(|| "true".into()),
        )
}

/// Folds a numeric sum (as text) to 64 bits, as hex.
fn fold64(sum: &str) -> String {
    match sum.parse::<i128>() {
        Ok(v) => format!("{:016x}", v as u64),
        Err(_) => sum.to_string(),
    }
}

/// Count and checksum of one range on one side, computed in a read-only transaction with the pinned
/// settings.
pub async fn checksum(
    client: &Client,
    side: Side,
    hash: RowHash,
    table: &QualifiedName,
    columns: &[String],
    predicate: Option<&str>,
) -> Result<Checksum> {
    checksum_computed(client, side, hash, table, columns, &[], predicate).await
}

/// [`checksum`], with some columns computed by an expression (`(column, expression)`).
async fn checksum_computed(
    client: &Client,
    side: Side,
    hash: RowHash,
    table: &QualifiedName,
    columns: &[String],
    computed: &[(String, String)],
    predicate: Option<&str>,
) -> Result<Checksum> {
    begin_pinned(client, side).await?;
    let sql = checksum_sql(hash, table, columns, computed, predicate);
    let res = query(
        client,
        side,
        &format!("computing the checksum of {table}"),
        &sql,
        &[],
    )
    .await;
    let end = execute(
        client,
        side,
        "ending a checksum transaction",
        if res.is_ok() { "COMMIT" } else { "ROLLBACK" },
    )
    .await;
    let rows = res?;
    end?;
    let row = rows
        .first()
        .ok_or_else(|| Error::Other(format!("{side}: the checksum of {table} returned no row")))?;
    let hi: String = row.get("sum_hi");
    let lo: String = row.get("sum_lo");
    Ok(Checksum {
        rows: row.get("row_count"),
        digest: format!("{}{}", fold64(&hi), fold64(&lo)),
    })
}

/// The ranges of the copy's chunks recorded on the target, for the tables whose chunks are integer-key
/// ranges (the same predicate selects the same rows on both sides). Empty when the target has no copy
/// bookkeeping.
pub(crate) async fn copy_ranges(
    target: &Client,
    tables: &[QualifiedName],
) -> Result<HashMap<QualifiedName, Vec<Range>>> {
    let exists = query(
        target,
        Side::Target,
        "looking for the copy bookkeeping",
        &format!(
            "SELECT to_regclass({}) IS NOT NULL",
            crate::ident::quote_literal(crate::copy::bookkeeping::PROGRESS_TABLE)
        ),
        &[],
    )
    .await?;
    if !exists[0].get::<_, bool>(0) {
        return Ok(HashMap::new());
    }
    let plans = crate::copy::bookkeeping::load(target, tables).await?;
    Ok(plans
        .into_iter()
        .filter(|(_, chunks)| {
            chunks.len() > 1
                && chunks
                    .iter()
                    .all(|c| matches!(c.chunk.range, crate::copy::chunk::ChunkRange::Key { .. }))
        })
        .map(|(t, chunks)| {
            (
                t,
                chunks
                    .iter()
                    .map(|c| Range {
                        predicate: c.chunk.predicate(),
                    })
                    .collect(),
            )
        })
        .collect())
}

/// Columns per table, from `verify_columns.sql`.
type ColumnMap = HashMap<QualifiedName, Vec<(String, bool)>>;

async fn read_columns(client: &Client, side: Side) -> Result<ColumnMap> {
    let rows = query(client, side, "reading the table columns", SQL_COLUMNS, &[]).await?;
    let mut map: ColumnMap = HashMap::new();
    for r in rows {
        map.entry(QualifiedName::new(
            r.get::<_, String>("schema"),
            r.get::<_, String>("name"),
        ))
        .or_default()
        .push((r.get("column_name"), r.get("generated")));
    }
    Ok(map)
}

/// One row of `verify_layout.sql`.
#[derive(Debug, Clone)]
struct TargetLayout {
    method: String,
    repmodel: String,
    column: Option<String>,
    colocation_id: i64,
}

impl TargetLayout {
    fn describe(&self) -> String {
        match (self.method.as_str(), self.repmodel.as_str()) {
            ("h", _) => format!(
                "distributed on {} (co-location group {})",
                self.column.as_deref().unwrap_or("?"),
                self.colocation_id
            ),
            ("n", "t") => "reference".into(),
            ("n", "s") if self.colocation_id != 0 => {
                format!("single-shard (co-location group {})", self.colocation_id)
            }
            ("n", _) => "Citus-local".into(),
            (m, _) => format!("distributed with method {m:?}"),
        }
    }
}

async fn read_layout(client: &Client) -> Result<Option<HashMap<QualifiedName, TargetLayout>>> {
    let side = Side::Target;
    let has = query(
        client,
        side,
        "looking for the citus extension",
        "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')",
        &[],
    )
    .await?;
    if !has[0].get::<_, bool>(0) {
        return Ok(None);
    }
    let rows = query(
        client,
        side,
        "reading the Citus table layout",
        SQL_LAYOUT,
        &[],
    )
    .await?;
    Ok(Some(
        rows.into_iter()
            .map(|r| {
                (
                    QualifiedName::new(r.get::<_, String>("schema"), r.get::<_, String>("name")),
                    TargetLayout {
                        method: r.get("method"),
                        repmodel: r.get("repmodel"),
                        column: r.get("dist_column"),
                        colocation_id: r.get("colocation_id"),
                    },
                )
            })
            .collect(),
    ))
}

/// Compares the target's Citus layout with what the plan expects.
fn check_layout(
    expected: &[ExpectedLayout],
    actual: Option<&HashMap<QualifiedName, TargetLayout>>,
    diffs: &mut Vec<Difference>,
) -> Vec<LayoutCheck> {
    let mut out = Vec::new();
    // The co-location groups of each distributed schema's tables, and the schemas of each group.
    let mut schema_groups: HashMap<&str, std::collections::BTreeSet<i64>> = HashMap::new();
    let mut group_schemas: HashMap<i64, std::collections::BTreeSet<&str>> = HashMap::new();
    for e in expected.iter().filter(|e| e.kind == LayoutKind::Schema) {
        if let Some(l) = actual.and_then(|m| m.get(&e.table)) {
            schema_groups
                .entry(&e.table.schema)
                .or_default()
                .insert(l.colocation_id);
            group_schemas
                .entry(l.colocation_id)
                .or_default()
                .insert(&e.table.schema);
        }
    }
    for e in expected {
        let a = actual.and_then(|m| m.get(&e.table));
        let actual_text = match (actual, a) {
            (None, _) => "no Citus on the target".to_string(),
            (Some(_), None) => "local".to_string(),
            (Some(_), Some(l)) => l.describe(),
        };
        let (equal, why) = match (&e.kind, a) {
            (LayoutKind::Local, None) => (true, String::new()),
            (LayoutKind::Local, Some(l)) => (
                l.method == "n" && l.repmodel != "t" && l.colocation_id == 0,
                String::new(),
            ),
            (LayoutKind::Schema, Some(l))
                if l.method == "n" && l.repmodel == "s" && l.colocation_id != 0 =>
            {
                let groups = &schema_groups[e.table.schema.as_str()];
                let schemas = &group_schemas[&l.colocation_id];
                if groups.len() > 1 {
                    (
                        false,
                        format!(
                            "; the tables of schema {} are in {} co-location groups",
                            crate::ident::quote_ident(&e.table.schema),
                            groups.len()
                        ),
                    )
                } else if schemas.len() > 1 {
                    (
                        false,
                        format!(
                            "; its co-location group is shared by {} schemas",
                            schemas.len()
                        ),
                    )
                } else {
                    (true, String::new())
                }
            }
            (LayoutKind::Reference, Some(l)) => {
                (l.method == "n" && l.repmodel == "t", String::new())
            }
            (
                LayoutKind::Distributed {
                    column,
                    colocate_with,
                },
                Some(l),
            ) if l.method == "h" => {
                if l.column.as_deref() != Some(column.as_str()) {
                    (false, String::new())
                } else if let Some(other) = colocate_with {
                    match actual.and_then(|m| m.get(other)) {
                        Some(o) if o.colocation_id == l.colocation_id => (true, String::new()),
                        Some(o) => (
                            false,
                            format!(
                                "; expected co-located with {other}, which is in co-location group {}",
                                o.colocation_id
                            ),
                        ),
                        None => (false, format!("; expected co-located with {other}, which is not distributed")),
                    }
                } else {
                    (true, String::new())
                }
            }
            _ => (false, String::new()),
        };
        if !equal {
            diffs.push(Difference {
                kind: DifferenceKind::Layout,
                object: e.table.to_string(),
                range: None,
                message: format!(
                    "expected {}, target has {actual_text}{why}",
                    describe_expected(&e.kind)
                ),
            });
        }
        out.push(LayoutCheck {
            table: e.table.clone(),
            expected: e.kind.clone(),
            actual: actual_text,
            equal,
        });
    }
    out
}

fn describe_expected(k: &LayoutKind) -> String {
    match k {
        LayoutKind::Distributed {
            column,
            colocate_with: Some(o),
        } => format!("distributed on {column} co-located with {o}"),
        LayoutKind::Distributed {
            column,
            colocate_with: None,
        } => format!("distributed on {column}"),
        LayoutKind::Reference => "reference".into(),
        LayoutKind::Local => "local".into(),
        LayoutKind::Schema => {
            "part of distributed schema (single-shard, co-located per schema)".into()
        }
    }
}

/// Compares source and target: contents of every selected table, the layout when expected, and the
/// sequences. Differences are collected, never returned as errors; errors are for failures to run.
pub async fn verify(
    source: &ConnInfo,
    target: &ConnInfo,
    opts: &VerifyOptions,
    progress: &dyn Progress,
) -> Result<VerifyReport> {
    let src = connect(source).await?;
    let tgt = connect(target).await?;
    let read_opts = ReadOptions {
        filters: opts.filters.clone(),
        exact_counts: false,
        jobs: 1,
    };
    let catalog = catalog::read(&src, &read_opts).await?;
    catalog::require_matches(&catalog, &opts.filters)?;
    catalog::require_data(&catalog, &opts.filters, "compare")?;
    let (src_cols, tgt_cols) = futures::try_join!(
        read_columns(&src, Side::Source),
        read_columns(&tgt, Side::Target)
    )?;
    let mut diffs = Vec::new();

    // Work list: the tables that hold rows, with the columns both sides share, in name order.
    struct Job {
        table: QualifiedName,
        columns: Vec<String>,
        /// Source-side expressions of computed columns.
        computed: Vec<(String, String)>,
        ranges: Vec<Range>,
        expected_bytes: u64,
        expected_rows: u64,
    }
    let hash = choose_hash(&src, &tgt).await?;
    let mut recorded = HashMap::new();
    if opts.copy_ranges {
        recorded = copy_ranges(&tgt, &catalog.data_tables()).await?;
    }
    let mut jobs = Vec::new();
    let mut missing: Vec<(QualifiedName, i64)> = Vec::new();
    for t in catalog.tables.iter().filter(|t| t.holds_data()) {
        let name = t.qualified();
        let computed = opts
            .computed_columns
            .get(&name)
            .cloned()
            .unwrap_or_default();
        let s: BTreeSet<&str> = src_cols
            .get(&name)
            .map(|v| v.iter().map(|(c, _)| c.as_str()).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .chain(computed.iter().map(|(c, _)| c.as_str()))
            .collect();
        let Some(tc) = tgt_cols.get(&name) else {
            missing.push((name, t.rows()));
            continue;
        };
        let tset: BTreeSet<&str> = tc.iter().map(|(c, _)| c.as_str()).collect();
        let only_source: Vec<&str> = s.difference(&tset).copied().collect();
        let only_target: Vec<&str> = tset.difference(&s).copied().collect();
        if !only_source.is_empty() || !only_target.is_empty() {
            let mut parts = Vec::new();
            if !only_source.is_empty() {
                parts.push(format!(
                    "columns missing on the target: {}",
                    only_source.join(", ")
                ));
            }
            if !only_target.is_empty() {
                parts.push(format!(
                    "columns only on the target: {}",
                    only_target.join(", ")
                ));
            }
            diffs.push(Difference {
                kind: DifferenceKind::Columns,
                object: name.to_string(),
                range: None,
                message: format!(
                    "{} (contents compared over the shared columns)",
                    parts.join("; ")
                ),
            });
        }
        let columns: Vec<String> = s.intersection(&tset).map(|c| c.to_string()).collect();
        let ranges = opts
            .ranges
            .get(&name)
            .or_else(|| recorded.get(&name))
            .cloned()
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| vec![Range::whole()]);
        jobs.push(Job {
            table: name,
            columns,
            computed,
            ranges,
            expected_bytes: t.total_bytes.max(0) as u64,
            expected_rows: t.rows().max(0) as u64,
        });
    }

    // Checksums, `jobs` tables at a time, each on its own pair of connections.
    let n = opts.jobs.max(1).min(jobs.len().max(1));
    let mut pairs = Vec::with_capacity(n);
    pairs.push((src, tgt));
    for _ in 1..n {
        pairs.push((connect(source).await?, connect(target).await?));
    }
    let pool = tokio::sync::Mutex::new(pairs);
    let mut checks: Vec<TableCheck> = stream::iter(jobs)
        .map(|job| {
            let pool = &pool;
            async move {
                let (s, t) = pool
                    .lock()
                    .await
                    .pop()
                    .expect("one connection pair per job");
                progress.table_started(&job.table, job.expected_bytes, job.expected_rows);
                let mut ranges = Vec::with_capacity(job.ranges.len());
                let mut result = Ok(());
                for r in &job.ranges {
                    let p = r.predicate.as_deref();
                    match futures::try_join!(
                        checksum_computed(
                            &s,
                            Side::Source,
                            hash,
                            &job.table,
                            &job.columns,
                            &job.computed,
                            p
                        ),
                        checksum(&t, Side::Target, hash, &job.table, &job.columns, p)
                    ) {
                        Ok((a, b)) => {
                            // The bytes are the share of the table's size read on each side.
                            let bytes = job.expected_bytes / job.ranges.len().max(1) as u64;
                            progress.advance(&job.table, bytes, a.rows.max(0) as u64);
                            let equal = a == b;
                            ranges.push(RangeCheck {
                                range: r.predicate.clone(),
                                source: a,
                                target: Some(b),
                                equal,
                            });
                        }
                        Err(e) => {
                            result = Err(e);
                            break;
                        }
                    }
                }
                progress.table_finished(&job.table);
                pool.lock().await.push((s, t));
                result?;
                let source_rows = ranges.iter().map(|r| r.source.rows).sum();
                let target_rows = ranges
                    .iter()
                    .filter_map(|r| r.target.as_ref())
                    .map(|c| c.rows)
                    .sum();
                let equal = ranges.iter().all(|r| r.equal);
                Ok::<_, Error>(TableCheck {
                    table: job.table,
                    columns: job.columns,
                    source_rows,
                    target_rows: Some(target_rows),
                    ranges,
                    equal,
                })
            }
        })
        .buffer_unordered(n)
        .try_collect()
        .await?;

    // Missing tables still get their source count, on the first connection.
    let (src, tgt) = pool
        .into_inner()
        .pop()
        .expect("at least one connection pair");
    for (name, _) in missing {
        let cols: Vec<String> = src_cols
            .get(&name)
            .map(|v| v.iter().map(|(c, _)| c.clone()).collect())
            .unwrap_or_default();
        let a = checksum(&src, Side::Source, hash, &name, &cols, None).await?;
        diffs.push(Difference {
            kind: DifferenceKind::MissingTable,
            object: name.to_string(),
            range: None,
            message: format!(
                "table missing on the target ({} rows on the source)",
                crate::util::thousands(a.rows)
            ),
        });
        checks.push(TableCheck {
            table: name,
            columns: cols,
            source_rows: a.rows,
            target_rows: None,
            ranges: vec![RangeCheck {
                range: None,
                source: a,
                target: None,
                equal: false,
            }],
            equal: false,
        });
    }
    checks.sort_by(|a, b| a.table.cmp(&b.table));
    for t in &checks {
        for r in &t.ranges {
            let Some(tc) = &r.target else { continue };
            if r.equal {
                continue;
            }
            let range = if t.ranges.len() > 1 {
                Some(
                    Range {
                        predicate: r.range.clone(),
                    }
                    .label(),
                )
            } else {
                r.range.clone()
            };
            let (kind, message) = if r.source.rows != tc.rows {
                (
                    DifferenceKind::RowCount,
                    format!(
                        "{} rows on the source, {} on the target ({:+})",
                        crate::util::thousands(r.source.rows),
                        crate::util::thousands(tc.rows),
                        tc.rows - r.source.rows
                    ),
                )
            } else {
                (
                    DifferenceKind::Content,
                    format!(
                        "same row count ({}) but different contents (checksum {} on the source, {} on the target)",
                        crate::util::thousands(r.source.rows),
                        r.source.digest,
                        tc.digest
                    ),
                )
            };
            diffs.push(Difference {
                kind,
                object: t.table.to_string(),
                range,
                message,
            });
        }
    }

    let layout = match &opts.expected_layout {
        Some(expected) => {
            let actual = read_layout(&tgt).await?;
            check_layout(expected, actual.as_ref(), &mut diffs)
        }
        None => Vec::new(),
    };

    let mut sequences = Vec::new();
    if opts.check_sequences {
        let (s, t) = futures::try_join!(
            crate::sequences::read(&src, Side::Source),
            crate::sequences::read(&tgt, Side::Target)
        )?;
        for name in crate::sequences::selected(&catalog, &opts.filters, &s) {
            let source_last_value = s.get(&name).copied().flatten();
            let target_exists = t.contains_key(&name);
            let target_last_value = t.get(&name).copied().flatten();
            let ok = target_exists
                && match (source_last_value, target_last_value) {
                    (None, _) => true,
                    (Some(a), Some(b)) => b >= a,
                    (Some(_), None) => false,
                };
            if !ok {
                let message = if !target_exists {
                    "sequence missing on the target".to_string()
                } else {
                    format!(
                        "the target's sequence is at {}, behind the source's {}: new rows would reuse ids",
                        target_last_value.map(|v| v.to_string()).unwrap_or_else(|| "its start (never used)".into()),
                        source_last_value.unwrap_or_default()
                    )
                };
                diffs.push(Difference {
                    kind: DifferenceKind::Sequence,
                    object: name.to_string(),
                    range: None,
                    message,
                });
            }
            sequences.push(SequenceCheck {
                sequence: name,
                source_last_value,
                target_last_value,
                target_exists,
                ok,
            });
        }
    }

    let equal = diffs.is_empty();
    Ok(VerifyReport {
        format_version: VERIFY_FORMAT_VERSION,
        hash,
        tables: checks,
        layout,
        sequences,
        differences: diffs,
        equal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_statement_quotes_everything() {
        let sql = checksum_sql(
            RowHash::Hashtextextended,
            &QualifiedName::new("My Schema", "t"),
            &["a".into(), "Weird\"Col".into()],
            &[],
            Some("id >= 10"),
        );
        assert!(sql.contains("ROW(a, \"Weird\"\"Col\")::text"), "{sql}");
        assert!(
            sql.contains("FROM ONLY \"My Schema\".t WHERE (id >= 10)"),
            "{sql}"
        );
        assert!(!sql.contains("--"), "{sql}");
        assert!(sql.contains("hashtextextended"), "{sql}");
        let md5 = checksum_sql(
            RowHash::Md5,
            &QualifiedName::new("s", "t"),
            &["a".into()],
            &[("a".into(), "(SELECT 1)".into())],
            None,
        );
        assert!(md5.contains("md5(ROW((SELECT 1))::text)"), "{md5}");
        let md5 = checksum_sql(
            RowHash::Md5,
            &QualifiedName::new("s", "t"),
            &["a".into()],
            &[],
            None,
        );
        assert!(
            md5.contains("md5(ROW(a)::text)") && md5.contains("WHERE true"),
            "{md5}"
        );
    }

    #[test]
    fn sums_fold_to_64_bits() {
        assert_eq!(fold64("0"), "0000000000000000");
        assert_eq!(fold64("-1"), "ffffffffffffffff");
        assert_eq!(fold64("18446744073709551617"), "0000000000000001");
    }

    #[test]
    fn layout_mismatches_are_named() {
        let mut actual = HashMap::new();
        actual.insert(
            QualifiedName::new("public", "a"),
            TargetLayout {
                method: "h".into(),
                repmodel: "s".into(),
                column: Some("tenant_id".into()),
                colocation_id: 1,
            },
        );
        actual.insert(
            QualifiedName::new("public", "b"),
            TargetLayout {
                method: "h".into(),
                repmodel: "s".into(),
                column: Some("tenant_id".into()),
                colocation_id: 2,
            },
        );
        let expected = vec![
            ExpectedLayout {
                table: QualifiedName::new("public", "a"),
                kind: LayoutKind::Distributed {
                    column: "tenant_id".into(),
                    colocate_with: None,
                },
            },
            ExpectedLayout {
                table: QualifiedName::new("public", "b"),
                kind: LayoutKind::Distributed {
                    column: "tenant_id".into(),
                    colocate_with: Some(QualifiedName::new("public", "a")),
                },
            },
            ExpectedLayout {
                table: QualifiedName::new("public", "c"),
                kind: LayoutKind::Reference,
            },
        ];
        let mut diffs = Vec::new();
        let checks = check_layout(&expected, Some(&actual), &mut diffs);
        assert_eq!(
            checks.iter().map(|c| c.equal).collect::<Vec<_>>(),
            vec![true, false, false]
        );
        assert!(
            diffs[0].message.contains("co-location group 1"),
            "{:?}",
            diffs[0]
        );
        assert!(
            diffs[1]
                .message
                .contains("expected reference, target has local"),
            "{:?}",
            diffs[1]
        );
    }

    #[test]
    fn a_distributed_schema_is_one_group_of_single_shard_tables_of_its_own() {
        let single = |colocation_id| TargetLayout {
            method: "n".into(),
            repmodel: "s".into(),
            column: None,
            colocation_id,
        };
        let mut actual = HashMap::new();
        for (s, n, g) in [
            ("t1", "a", 5),
            ("t1", "b", 5),
            ("t2", "a", 6),
            ("t2", "b", 7),
            ("t3", "a", 5),
        ] {
            actual.insert(QualifiedName::new(s, n), single(g));
        }
        // A Citus-local table (co-location 0) is local, not part of a schema.
        actual.insert(QualifiedName::new("t4", "a"), single(0));
        actual.insert(QualifiedName::new("public", "l"), single(0));
        let expected: Vec<ExpectedLayout> = [
            ("t1", "a"),
            ("t1", "b"),
            ("t2", "a"),
            ("t2", "b"),
            ("t3", "a"),
            ("t4", "a"),
        ]
        .iter()
        .map(|(s, n)| ExpectedLayout {
            table: QualifiedName::new(*s, *n),
            kind: LayoutKind::Schema,
        })
        .chain(std::iter::once(ExpectedLayout {
            table: QualifiedName::new("public", "l"),
            kind: LayoutKind::Local,
        }))
        .collect();
        let mut diffs = Vec::new();
        let checks = check_layout(&expected, Some(&actual), &mut diffs);
        // t1 shares its group with t3; t2's tables are in two groups; t4.a is Citus-local.
        assert_eq!(
            checks.iter().map(|c| c.equal).collect::<Vec<_>>(),
            vec![false, false, false, false, false, false, true]
        );
        assert!(
            diffs[0].message.contains("shared by 2 schemas"),
            "{:?}",
            diffs[0]
        );
        assert!(
            diffs[2].message.contains("in 2 co-location groups"),
            "{:?}",
            diffs[2]
        );
        assert!(
            diffs[5].message.contains("target has Citus-local"),
            "{:?}",
            diffs[5]
        );
        // Each schema in a group of its own: all as planned.
        actual.insert(QualifiedName::new("t2", "b"), single(6));
        actual.insert(QualifiedName::new("t3", "a"), single(8));
        actual.insert(QualifiedName::new("t4", "a"), single(9));
        let mut diffs = Vec::new();
        let checks = check_layout(&expected, Some(&actual), &mut diffs);
        assert!(checks.iter().all(|c| c.equal), "{diffs:?}");
    }
}
