//! The progress table on the target (`citus_migrate.copy_progress`, see `sql/copy_progress.sql`): the
//! plan of every table's chunks, and which of them are committed. A chunk's row is marked in the same
//! transaction that commits the chunk's data, which is what makes a resumed copy exactly-once.

use std::collections::HashMap;

use tokio_postgres::types::Type;
use tokio_postgres::{Client, SimpleQueryMessage};

use super::chunk::{Chunk, ChunkRange};
use super::sql::DURABLE_COMMIT;
use crate::connect::{execute, execute_script, query};
use crate::error::{Error, Result, Side};
use crate::ident::{quote_literal, QualifiedName};

const SQL_PROGRESS_TABLE: &str = include_str!("../sql/copy_progress.sql");

/// The bookkeeping table, quoted.
pub(crate) const PROGRESS_TABLE: &str = "citus_migrate.copy_progress";

/// A chunk of a recorded plan, with what its commit recorded.
#[derive(Debug, Clone)]
pub(crate) struct PlannedChunk {
    pub(crate) chunk: Chunk,
    /// `(rows, bytes)` once committed.
    pub(super) committed: Option<(u64, u64)>,
}

/// Creates the schema and table when missing.
pub(super) async fn ensure(client: &Client) -> Result<()> {
    execute_script(
        client,
        Side::Target,
        "creating the copy bookkeeping table",
        SQL_PROGRESS_TABLE,
    )
    .await
}

/// The recorded plans of `tables` (tables without a plan are absent from the map).
pub(crate) async fn load(
    client: &Client,
    tables: &[QualifiedName],
) -> Result<HashMap<QualifiedName, Vec<PlannedChunk>>> {
    let schemas: Vec<&str> = tables.iter().map(|t| t.schema.as_str()).collect();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let sql = format!(
        "SELECT p.table_schema, p.table_name, p.chunk, p.chunk_count, p.range_kind, p.key_column, p.range_lo, \
                p.range_hi, p.committed_at IS NOT NULL AS committed, COALESCE(p.rows, 0), COALESCE(p.bytes, 0) \
         FROM {PROGRESS_TABLE} p \
         JOIN unnest($1::text[], $2::text[]) AS w(s, n) ON w.s = p.table_schema AND w.n = p.table_name \
         ORDER BY 1, 2, 3"
    );
    let rows = query(
        client,
        Side::Target,
        "reading the copy bookkeeping",
        &sql,
        &[(&schemas, Type::TEXT_ARRAY), (&names, Type::TEXT_ARRAY)],
    )
    .await?;
    let mut out: HashMap<QualifiedName, Vec<PlannedChunk>> = HashMap::new();
    for r in rows {
        let table = QualifiedName::new(r.get::<_, String>(0), r.get::<_, String>(1));
        let kind: String = r.get(4);
        let (lo, hi): (Option<i64>, Option<i64>) = (r.get(6), r.get(7));
        let range = match kind.as_str() {
            "key" => ChunkRange::Key {
                column: r.get::<_, Option<String>>(5).unwrap_or_default(),
                lo,
                hi,
            },
            "pages" => ChunkRange::Pages { lo, hi },
            _ => ChunkRange::All,
        };
        let chunk = Chunk {
            index: r.get::<_, i32>(2) as u32,
            count: r.get::<_, i32>(3) as u32,
            range,
        };
        let committed = r
            .get::<_, bool>(8)
            .then(|| (r.get::<_, i64>(9) as u64, r.get::<_, i64>(10) as u64));
        out.entry(table)
            .or_default()
            .push(PlannedChunk { chunk, committed });
    }
    for (table, plan) in &out {
        let complete = plan
            .iter()
            .enumerate()
            .all(|(i, p)| p.chunk.index as usize == i && p.chunk.count as usize == plan.len());
        if !complete {
            return Err(Error::Precondition {
                side: Side::Target,
                message: format!(
                    "the copy bookkeeping of {table} in {PROGRESS_TABLE} is incomplete (rows were deleted by hand?)"
                ),
                remedy: Some(crate::error::Remedy::TruncateTable),
            });
        }
    }
    Ok(out)
}

fn range_values(range: &ChunkRange) -> (&'static str, String, Option<i64>, Option<i64>) {
    match range {
        ChunkRange::All => ("all", "NULL".into(), None, None),
        ChunkRange::Key { column, lo, hi } => ("key", quote_literal(column), *lo, *hi),
        ChunkRange::Pages { lo, hi } => ("pages", "NULL".into(), *lo, *hi),
    }
}

fn int_or_null(v: Option<i64>) -> String {
    v.map_or_else(|| "NULL".to_string(), |v| v.to_string())
}

/// Records a new plan for `table` (replacing any old one), in one transaction; with `truncate` the
/// table's rows are removed in that same transaction, so rows and bookkeeping never disagree.
pub(super) async fn start_table(
    client: &Client,
    table: &QualifiedName,
    chunks: &[Chunk],
    truncate: bool,
) -> Result<()> {
    let mut sql = format!("BEGIN;\n{DURABLE_COMMIT};\n");
    if truncate {
        sql.push_str(&format!("TRUNCATE {};\n", table.quoted()));
    }
    sql.push_str(&format!(
        "DELETE FROM {PROGRESS_TABLE} WHERE table_schema = {} AND table_name = {};\n",
        quote_literal(&table.schema),
        quote_literal(&table.name)
    ));
    let values: Vec<String> = chunks
        .iter()
        .map(|c| {
            let (kind, column, lo, hi) = range_values(&c.range);
            format!(
                "({}, {}, {}, {}, '{kind}', {column}, {}, {})",
                quote_literal(&table.schema),
                quote_literal(&table.name),
                c.index,
                c.count,
                int_or_null(lo),
                int_or_null(hi)
            )
        })
        .collect();
    sql.push_str(&format!(
        "INSERT INTO {PROGRESS_TABLE} (table_schema, table_name, chunk, chunk_count, range_kind, key_column, range_lo, range_hi) VALUES\n{};\nCOMMIT;",
        values.join(",\n")
    ));
    let context = if truncate {
        "emptying the target table and recording its copy plan"
    } else {
        "recording the copy plan"
    };
    let result = execute(client, Side::Target, context, &sql).await;
    if result.is_err() {
        let _ = client.batch_execute("ROLLBACK").await;
    }
    result
}

/// Marks a chunk committed, in the transaction open on `client`, naming `txn` (the prepared
/// transactions of a worker-direct chunk); false when it already was (by another run).
pub(super) async fn mark_committed(
    client: &Client,
    table: &QualifiedName,
    chunk: &Chunk,
    rows: u64,
    bytes: u64,
    txn: Option<&str>,
) -> Result<bool> {
    let sql = format!(
        "UPDATE {PROGRESS_TABLE} SET committed_at = now(), rows = {rows}, bytes = {bytes}, txn = {} \
         WHERE table_schema = {} AND table_name = {} AND chunk = {} AND committed_at IS NULL",
        txn.map_or_else(|| "NULL".to_string(), quote_literal),
        quote_literal(&table.schema),
        quote_literal(&table.name),
        chunk.index
    );
    let msgs = client.simple_query(&sql).await.map_err(|e| {
        Error::db(
            Side::Target,
            "recording the chunk in the copy bookkeeping",
            e,
        )
    })?;
    Ok(msgs
        .iter()
        .any(|m| matches!(m, SimpleQueryMessage::CommandComplete(1))))
}

/// `(rows, bytes)` when the chunk is committed.
pub(super) async fn committed(
    client: &Client,
    table: &QualifiedName,
    chunk: &Chunk,
) -> Result<Option<(u64, u64)>> {
    let sql = format!(
        "SELECT COALESCE(rows, 0), COALESCE(bytes, 0) FROM {PROGRESS_TABLE} \
         WHERE table_schema = $1 AND table_name = $2 AND chunk = $3 AND committed_at IS NOT NULL"
    );
    let index = chunk.index as i32;
    let rows = query(
        client,
        Side::Target,
        "reading the copy bookkeeping",
        &sql,
        &[
            (&table.schema, Type::TEXT),
            (&table.name, Type::TEXT),
            (&index, Type::INT4),
        ],
    )
    .await?;
    Ok(rows
        .first()
        .map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, i64>(1) as u64)))
}

/// Whether the prepared transactions named `txn` belong to a committed chunk.
pub(super) async fn txn_committed(client: &Client, txn: &str) -> Result<bool> {
    Ok(!committed_txns(client, &[txn]).await?.is_empty())
}

/// Which of `txns` belong to committed chunks (one query for all of them).
pub(super) async fn committed_txns(
    client: &Client,
    txns: &[&str],
) -> Result<std::collections::HashSet<String>> {
    let sql = format!(
        "SELECT txn FROM {PROGRESS_TABLE} WHERE txn = ANY($1) AND committed_at IS NOT NULL"
    );
    let rows = query(
        client,
        Side::Target,
        "reading the copy bookkeeping",
        &sql,
        &[(&txns, Type::TEXT_ARRAY)],
    )
    .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}
