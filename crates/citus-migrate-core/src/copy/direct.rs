//! A chunk copied straight into the shard placements on the workers (see [`super::shard_route`]).
//!
//! Exactly once across several nodes: every node's part of the chunk is a transaction that ends with
//! `PREPARE TRANSACTION 'citus_migrate_<table oid>_<chunk>_<nonce>_<shard id>'`; then the chunk's
//! bookkeeping row is marked on the coordinator with `citus_migrate_<table oid>_<chunk>_<nonce>` and
//! committed (the decision); then the shards' transactions run
//! `COMMIT PREPARED`. Whatever a crash leaves prepared is resolved by [`recover`] from the bookkeeping:
//! committed when its chunk's row names it, rolled back otherwise.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{pin_mut, SinkExt};
use tokio_postgres::Client;

use super::bookkeeping;
use super::chunk::Chunk;
use super::retry::Failure;
use super::shard_route::ShardMap;
use super::worker::{Conns, Ctx, Outcome};
use super::TableJob;
use crate::connect::{connect, execute, query};
use crate::conninfo::ConnInfo;
use crate::error::{Error, Result, Side};
use crate::ident::quote_literal;

/// Rows buffered per shard before they are sent.
const SHARD_BATCH_BYTES: usize = 64 << 10;

/// The target's connection options pointed at one node.
pub fn node_info(target: &ConnInfo, node: &(String, u16)) -> ConnInfo {
    let mut info = target.clone();
    info.hosts = vec![node.0.clone()];
    info.hostaddrs = Vec::new();
    info.ports = vec![node.1];
    info
}

/// Why the nodes of `map` cannot be written directly, or `None` when they can: each must accept a
/// connection with the target's credentials and allow prepared transactions.
pub async fn probe(target: &ConnInfo, map: &ShardMap) -> Option<String> {
    for node in &map.nodes {
        let client = match connect(&node_info(target, node)).await {
            Ok(c) => c,
            Err(e) => {
                return Some(format!(
                    "cannot connect to node {}:{} ({e})",
                    node.0, node.1
                ))
            }
        };
        let rows = query(
            &client,
            Side::Target,
            "reading max_prepared_transactions",
            "SHOW max_prepared_transactions",
            &[],
        )
        .await;
        let allowed = rows.ok().and_then(|r| {
            r.first()
                .and_then(|r| r.get::<_, String>(0).parse::<i64>().ok())
        });
        if allowed.unwrap_or(0) <= 0 {
            return Some(format!(
                "node {}:{} has max_prepared_transactions = 0",
                node.0, node.1
            ));
        }
    }
    None
}

fn gid_prefix(map: &ShardMap, chunk: Option<&Chunk>) -> String {
    match chunk {
        Some(c) => format!("citus_migrate_{}_{}_", map.table_oid, c.index),
        None => format!("citus_migrate_{}_", map.table_oid),
    }
}

/// Resolves the prepared transactions of `map`'s table (of one chunk, when given) left on its nodes.
pub async fn recover(
    control: &Client,
    target: &ConnInfo,
    map: &ShardMap,
    chunk: Option<&Chunk>,
) -> Result<u32> {
    let prefix = gid_prefix(map, chunk);
    let pattern = format!("{}%", prefix.replace('_', "\\_"));
    let mut resolved = 0;
    for node in &map.nodes {
        let client = connect(&node_info(target, node)).await?;
        let rows = query(
            &client,
            Side::Target,
            "listing prepared transactions",
            "SELECT gid FROM pg_prepared_xacts WHERE database = current_database() AND gid LIKE $1",
            &[(&pattern, tokio_postgres::types::Type::TEXT)],
        )
        .await?;
        for r in rows {
            let gid: String = r.get(0);
            // `<txn>_<shard id>`; the bookkeeping records `<txn>`.
            let txn = gid.rsplit_once('_').map_or(gid.as_str(), |(t, _)| t);
            let commit = bookkeeping::txn_committed(control, txn).await?;
            let verb = if commit {
                "COMMIT PREPARED"
            } else {
                "ROLLBACK PREPARED"
            };
            execute(
                &client,
                Side::Target,
                "resolving a prepared transaction",
                &format!("{verb} {}", quote_literal(&gid)),
            )
            .await?;
            resolved += 1;
        }
    }
    Ok(resolved)
}

async fn timed<T>(
    stall: Duration,
    side: Side,
    what: &str,
    fut: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(stall, fut).await {
        Err(_) => Err(Failure::stalled(Error::Other(format!(
            "{side}: no progress for {}s while {what}; the connection looks dead",
            stall.as_secs()
        )))),
        Ok(r) => r.map_err(|e| Failure::from(Error::db(side, what, e))),
    }
}

fn nonce() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (t ^ (std::process::id() as u64) << 32).wrapping_add(COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// One attempt at a chunk, worker-direct: one connection and one COPY per shard, fed as rows arrive.
pub(super) async fn attempt(
    ctx: &Ctx,
    conns: &mut Conns,
    job: &TableJob,
    map: &ShardMap,
    chunk: &Chunk,
    retry: bool,
) -> Result<Outcome, Failure> {
    if conns.target.is_none() {
        conns.target = Some(connect(&ctx.target).await?);
    }
    if retry {
        // What an earlier attempt prepared is committed or rolled back first (it holds locks).
        let control = conns.target.as_ref().unwrap();
        recover(control, &ctx.target, map, Some(chunk)).await?;
        if let Some((rows, bytes)) = bookkeeping::committed(control, &job.name, chunk).await? {
            return Ok(Outcome {
                rows,
                bytes,
                by_this_run: false,
            });
        }
    }
    if conns.source.is_none() {
        conns.source = Some(
            ctx.snapshot
                .reader(&ctx.source)
                .await
                .map_err(Failure::from)?,
        );
    }
    for shard in &map.shards {
        if !conns.shards.contains_key(&shard.id) {
            let client = connect(&node_info(&ctx.target, &map.nodes[shard.node])).await?;
            conns.shards.insert(shard.id, client);
        }
    }
    let result = stream_chunk(ctx, conns, job, map, chunk).await;
    if result.is_err() {
        // The shard connections may be mid-COPY or mid-transaction: start afresh next time.
        conns.shards.clear();
    }
    result
}

async fn stream_chunk(
    ctx: &Ctx,
    conns: &mut Conns,
    job: &TableJob,
    map: &ShardMap,
    chunk: &Chunk,
) -> Result<Outcome, Failure> {
    let control = conns.target.as_ref().unwrap();
    let source = conns.source.as_ref().unwrap();
    let stall = ctx.opts.stall_timeout;
    let clients: Vec<&Client> = map.shards.iter().map(|s| &conns.shards[&s.id]).collect();
    futures::future::try_join_all(clients.iter().map(|c| {
        timed(
            stall,
            Side::Target,
            "starting a chunk transaction on a worker",
            c.batch_execute(&ctx.begin_sql),
        )
    }))
    .await?;
    let mut sinks =
        futures::future::try_join_all(map.shards.iter().zip(&clients).map(|(shard, c)| {
            let sql = format!("COPY {} {} FROM STDIN", shard.relation, job.copy_columns);
            async move {
                let sink = timed(
                    stall,
                    Side::Target,
                    "starting COPY into a shard",
                    c.copy_in::<_, Bytes>(&sql),
                )
                .await?;
                Ok::<_, Failure>(Box::pin(sink))
            }
        }))
        .await?;

    let out = timed(
        stall,
        Side::Source,
        "starting COPY TO STDOUT",
        source.copy_out(&job.copy_out_base.for_chunk(chunk)),
    )
    .await?;
    pin_mut!(out);
    let mut bufs: Vec<BytesMut> = vec![BytesMut::new(); map.shards.len()];
    let (mut rows, mut bytes, mut unreported_rows, mut unreported_bytes) = (0u64, 0u64, 0u64, 0u64);
    while let Some(row) = super::stream::next_row(&mut out, stall).await? {
        let shard = map.route(&row).map_err(|why| Failure {
            error: Error::Precondition {
                side: Side::Source,
                message: format!("{}: {why}", job.name),
            },
            retryable: false,
        })?;
        bufs[shard].extend_from_slice(&row);
        rows += 1;
        bytes += row.len() as u64;
        unreported_rows += 1;
        unreported_bytes += row.len() as u64;
        if bufs[shard].len() >= SHARD_BATCH_BYTES {
            let data = bufs[shard].split().freeze();
            timed(
                stall,
                Side::Target,
                "sending COPY data to a shard",
                sinks[shard].send(data),
            )
            .await?;
        }
        if unreported_bytes >= 1 << 20 {
            ctx.state
                .advance(job.index, unreported_bytes, unreported_rows);
            (unreported_rows, unreported_bytes) = (0, 0);
            ctx.check_cancelled()?;
        }
    }
    ctx.state
        .advance(job.index, unreported_bytes, unreported_rows);
    let accepted: Vec<u64> =
        futures::future::try_join_all(sinks.iter_mut().zip(bufs.iter_mut()).map(
            |(sink, buf)| async move {
                if !buf.is_empty() {
                    let data = buf.split().freeze();
                    timed(
                        stall,
                        Side::Target,
                        "sending COPY data to a shard",
                        sink.send(data),
                    )
                    .await?;
                }
                timed(
                    stall,
                    Side::Target,
                    "finishing COPY into a shard",
                    sink.as_mut().finish(),
                )
                .await
            },
        ))
        .await?;
    drop(sinks);
    let accepted: u64 = accepted.iter().sum();
    if accepted != rows {
        return Err(Failure::from(Error::Other(format!(
            "target: the shards accepted {accepted} rows but {rows} were sent"
        ))));
    }

    // One name for the chunk (recorded in the bookkeeping); each shard's transaction adds its shard id.
    let txn = format!("{}{:016x}", gid_prefix(map, Some(chunk)), nonce());
    let gids: Vec<String> = map
        .shards
        .iter()
        .map(|sh| format!("{txn}_{}", sh.id))
        .collect();
    futures::future::try_join_all(clients.iter().zip(&gids).map(|(c, gid)| async move {
        let prepare = format!("PREPARE TRANSACTION {}", quote_literal(gid));
        timed(
            stall,
            Side::Target,
            "preparing a chunk on a worker",
            c.batch_execute(&prepare),
        )
        .await
    }))
    .await?;
    execute(
        control,
        Side::Target,
        "starting the bookkeeping transaction",
        "BEGIN",
    )
    .await?;
    let marked =
        bookkeeping::mark_committed(control, &job.name, chunk, rows, bytes, Some(&txn)).await?;
    if !marked {
        execute(control, Side::Target, "rolling back", "ROLLBACK").await?;
        recover(control, &ctx.target, map, Some(chunk)).await?;
        let (rows, bytes) = bookkeeping::committed(control, &job.name, chunk)
            .await?
            .unwrap_or_default();
        return Ok(Outcome {
            rows,
            bytes,
            by_this_run: false,
        });
    }
    if let Some(p) = ctx.test_pause {
        tokio::time::sleep(p).await;
    }
    timed(
        stall,
        Side::Target,
        "committing a chunk",
        control.batch_execute("COMMIT"),
    )
    .await?;
    // Decided: the chunk is committed. Finish it on the nodes; what fails here is repaired by `recover`.
    let finished =
        futures::future::join_all(clients.iter().zip(&gids).map(|(c, gid)| async move {
            let commit = format!("COMMIT PREPARED {}", quote_literal(gid));
            timed(
                stall,
                Side::Target,
                "committing a chunk on a worker",
                c.batch_execute(&commit),
            )
            .await
        }))
        .await;
    if finished.iter().any(|r| r.is_err()) {
        recover(control, &ctx.target, map, Some(chunk))
            .await
            .map_err(Failure::from)?;
    }
    Ok(Outcome {
        rows,
        bytes,
        by_this_run: true,
    })
}

/// The shard connections of one stream, by shard id.
pub type ShardConns = HashMap<i64, Client>;
