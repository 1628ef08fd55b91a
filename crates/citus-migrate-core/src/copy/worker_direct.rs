//! A chunk copied straight into the shard placements on the workers (see [`super::shard_route`]).
//!
//! A chunk's rows are first sorted out by shard into the stream's spill files ([`super::spill`]); then
//! every node holding rows of the chunk loads its shards one after another over one connection, in one
//! transaction (measured: far less CPU on the workers than one COPY per shard fed as rows arrive).
//!
//! Exactly once across several nodes: every node's part of the chunk is a transaction that ends with
//! `PREPARE TRANSACTION 'citus_migrate_<table oid>_<chunk>_<nonce>_<node>'`; then the chunk's
//! bookkeeping row is marked on the coordinator with `citus_migrate_<table oid>_<chunk>_<nonce>` and
//! committed (the decision); then the nodes' transactions run
//! `COMMIT PREPARED`. Whatever a crash leaves prepared is resolved from the bookkeeping (committed when
//! its chunk's row names it, rolled back otherwise): at the start of the next run by
//! [`recover_leftovers`], before a chunk is retried by `recover`.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures::{pin_mut, SinkExt};
use tokio_postgres::types::Type;
use tokio_postgres::Client;

use super::bookkeeping;
use super::chunk::Chunk;
use super::retry::Failure;
use super::shard_route::{BinaryTuples, Shard, ShardMap, BINARY_HEADER, BINARY_TRAILER};
use super::spill::{ShardFile, Spill};
use super::stream::{Conns, Ctx, Outcome};
use super::TableJob;
use crate::connect::{connect, execute, query};
use crate::conninfo::ConnInfo;
use crate::error::{Error, Result, Side};
use crate::ident::quote_literal;

/// Size of the CopyData messages that load a shard from its spill file.
const LOAD_MESSAGE_BYTES: usize = 1 << 20;

/// The target's connection options pointed at one node.
pub fn node_info(target: &ConnInfo, node: &(String, u16)) -> ConnInfo {
    let mut info = target.clone();
    info.hosts = vec![node.0.clone()];
    info.hostaddrs = Vec::new();
    info.ports = vec![node.1];
    info
}

/// Why the nodes of `map` cannot be written directly, or `None` when they can: each must accept a
/// connection with the target's credentials and allow prepared transactions. A node checked before
/// (its connection is in `nodes`) is not asked again; a good one's connection is kept there.
pub async fn probe(target: &ConnInfo, map: &ShardMap, nodes: &mut NodeConns) -> Option<String> {
    for node in &map.nodes {
        if nodes.contains_key(node) {
            continue;
        }
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
        nodes.insert(node.clone(), client);
    }
    None
}

/// What the prepared transactions of one chunk of `map`'s table are named with.
fn gid_prefix(map: &ShardMap, chunk: &Chunk) -> String {
    format!("{GID_PREFIX}{}_{}_", map.table_oid, chunk.index)
}

/// Opens the connections to `map`'s nodes that `nodes` lacks.
async fn connect_nodes(target: &ConnInfo, nodes: &mut NodeConns, map: &ShardMap) -> Result<()> {
    for node in &map.nodes {
        if !nodes.contains_key(node) {
            let client = connect(&node_info(target, node)).await?;
            nodes.insert(node.clone(), client);
        }
    }
    Ok(())
}

/// Resolves the prepared transactions named with `prefix` (one chunk's, or one attempt's) of `map`'s
/// table left on its nodes (by an earlier attempt, or another run), over the connections in `nodes`
/// (opened where missing). `lock` says whether the caller holds the chunk's lock (see [`lock_chunk`])
/// in the transaction open on `control`.
async fn recover(
    control: &Client,
    target: &ConnInfo,
    nodes: &mut NodeConns,
    map: &ShardMap,
    prefix: &str,
    lock: ChunkLock,
) -> Result<u32> {
    connect_nodes(target, nodes, map).await?;
    let mut resolved = 0;
    for node in &map.nodes {
        resolved += resolve_on_node(control, &nodes[node], prefix, |_| true, lock).await?;
    }
    Ok(resolved)
}

/// Whether the caller holds the lock of the chunk whose prepared transactions are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkLock {
    /// Held in the transaction open on the control connection: every undecided transaction of the
    /// chunk is a dead attempt's (or the caller's own) and is rolled back.
    Held,
    /// Not held: an undecided transaction is rolled back only when its chunk's lock can be taken (its
    /// run is gone); one whose run still holds the lock may yet be committed by it and is left alone.
    Try,
}

/// The advisory lock of a chunk, taken in the transaction open on `control` and held until its
/// decision commits or rolls back: from before a chunk's parts are prepared on the nodes until the
/// decision, so that no other run (or retry) rolls back prepared parts that may still be committed.
/// Blocks while another run holds it. Keys: the table's oid (as int4) and the chunk's index.
async fn lock_chunk(control: &Client, table_oid: u32, chunk: u32) -> Result<()> {
    query(
        control,
        Side::Target,
        "locking a chunk's decision",
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[
            (&(table_oid as i32), Type::INT4),
            (&(chunk as i32), Type::INT4),
        ],
    )
    .await
    .map(|_| ())
}

/// At the start of a run: the prepared transactions an interrupted run left on the nodes of these
/// tables, committed or rolled back from the bookkeeping, with one query per node whatever the number
/// of tables (other tables' transactions are left alone). Also when this run goes through the
/// coordinator: a leftover holds locks on its shards. Returns how many were resolved, and the nodes
/// that could not be reached to look.
pub async fn recover_leftovers(
    control: &Client,
    target: &ConnInfo,
    nodes: &mut NodeConns,
    maps: &[&ShardMap],
) -> Result<(u32, Vec<String>)> {
    let tables: std::collections::HashSet<u32> = maps.iter().map(|m| m.table_oid).collect();
    let mut all: Vec<&(String, u16)> = maps.iter().flat_map(|m| &m.nodes).collect();
    all.sort();
    all.dedup();
    let (mut resolved, mut unreachable) = (0, Vec::new());
    for node in all {
        if !nodes.contains_key(node) {
            match connect(&node_info(target, node)).await {
                Ok(client) => {
                    nodes.insert(node.clone(), client);
                }
                Err(e) => {
                    unreachable.push(format!("{}:{} ({e})", node.0, node.1));
                    continue;
                }
            }
        }
        let ours = |gid: &str| table_oid_of(gid).is_some_and(|oid| tables.contains(&oid));
        resolved +=
            resolve_on_node(control, &nodes[node], GID_PREFIX, ours, ChunkLock::Try).await?;
    }
    Ok((resolved, unreachable))
}

/// What every prepared transaction of this tool is named with.
const GID_PREFIX: &str = "citus_migrate_";

/// The table oid in a prepared transaction's name (`citus_migrate_<oid>_<chunk>_<nonce>_<node>`).
fn table_oid_of(gid: &str) -> Option<u32> {
    chunk_of(gid).map(|(oid, _)| oid)
}

/// The table oid and chunk index in a prepared transaction's name.
fn chunk_of(gid: &str) -> Option<(u32, u32)> {
    let mut parts = gid.strip_prefix(GID_PREFIX)?.split('_');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Commits or rolls back, as the bookkeeping says, this node's prepared transactions whose names
/// start with `prefix` and that `wanted` accepts. The decision is read from the bookkeeping, whose
/// commits are durable before any `COMMIT PREPARED` (see `commit_chunk`). A transaction that is gone
/// by the time it is resolved was resolved by its own run: not an error.
async fn resolve_on_node(
    control: &Client,
    client: &Client,
    prefix: &str,
    wanted: impl Fn(&str) -> bool,
    lock: ChunkLock,
) -> Result<u32> {
    let pattern = format!("{}%", prefix.replace('_', "\\_"));
    let rows = query(
        client,
        Side::Target,
        "listing prepared transactions",
        "SELECT gid FROM pg_prepared_xacts WHERE database = current_database() AND gid LIKE $1",
        &[(&pattern, Type::TEXT)],
    )
    .await?;
    let mut resolved = 0;
    for r in rows {
        let gid: String = r.get(0);
        if !wanted(&gid) {
            continue;
        }
        // `<txn>_<node>`; the bookkeeping records `<txn>`.
        let txn = gid.rsplit_once('_').map_or(gid.as_str(), |(t, _)| t);
        if bookkeeping::txn_committed(control, txn).await? {
            resolved += finish_prepared(client, &gid, true).await?;
            continue;
        }
        if lock == ChunkLock::Held {
            resolved += finish_prepared(client, &gid, false).await?;
            continue;
        }
        // Undecided: only a run that still holds the chunk's lock can decide it; when the lock is
        // free, that run is gone (or decided meanwhile: read the decision again under the lock).
        let Some((oid, index)) = chunk_of(&gid) else {
            continue;
        };
        execute(
            control,
            Side::Target,
            "starting a recovery transaction",
            "BEGIN",
        )
        .await?;
        let result = async {
            let free = query(
                control,
                Side::Target,
                "trying a chunk's lock",
                "SELECT pg_try_advisory_xact_lock($1, $2)",
                &[(&(oid as i32), Type::INT4), (&(index as i32), Type::INT4)],
            )
            .await?
            .first()
            .is_some_and(|r| r.get::<_, bool>(0));
            if !free {
                return Ok(0);
            }
            let commit = bookkeeping::txn_committed(control, txn).await?;
            finish_prepared(client, &gid, commit).await
        }
        .await;
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let ended = execute(control, Side::Target, "ending a recovery transaction", end).await;
        resolved += result?;
        ended?;
    }
    Ok(resolved)
}

/// `COMMIT PREPARED` or `ROLLBACK PREPARED` of `gid`; 0 when it no longer exists (its own run
/// resolved it meanwhile), else 1.
async fn finish_prepared(client: &Client, gid: &str, commit: bool) -> Result<u32> {
    let verb = if commit {
        "COMMIT PREPARED"
    } else {
        "ROLLBACK PREPARED"
    };
    match client
        .batch_execute(&format!("{verb} {}", quote_literal(gid)))
        .await
    {
        Ok(()) => Ok(1),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_OBJECT) => Ok(0),
        Err(e) => Err(Error::db(
            Side::Target,
            "resolving a prepared transaction",
            e,
        )),
    }
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

/// [`timed`] for a step that returns this crate's errors.
async fn timed_result<T>(
    stall: Duration,
    what: &str,
    fut: impl Future<Output = Result<T>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(stall, fut).await {
        Err(_) => Err(Failure::stalled(Error::Other(format!(
            "target: no progress for {}s while {what}; the connection looks dead",
            stall.as_secs()
        )))),
        Ok(r) => r.map_err(Failure::from),
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

/// One attempt at a chunk, worker-direct: the rows are read from the source and sorted out by shard
/// into the stream's spill files, then every node loads its shards in one transaction.
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
        let prefix = gid_prefix(map, chunk);
        recover(
            control,
            &ctx.target,
            &mut conns.nodes,
            map,
            &prefix,
            ChunkLock::Try,
        )
        .await?;
        if let Some((rows, bytes)) = bookkeeping::committed(control, &job.name, chunk).await? {
            return Ok(Outcome::earlier((rows, bytes)));
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
    connect_nodes(&ctx.target, &mut conns.nodes, map).await?;
    if conns.spill.as_ref().map(|s| s.shards.len()) != Some(map.shards.len()) {
        conns.spill = Some(Spill::new(map.shards.len())?);
    }
    let result = copy_chunk(ctx, conns, job, map, chunk).await;
    if result.is_err() {
        // The node connections may be mid-COPY or mid-transaction: start afresh next time.
        conns.nodes.clear();
    }
    result
}

/// Reads the chunk's rows from the source into the spill files; returns the rows and bytes read.
async fn read_chunk(
    ctx: &Ctx,
    source: &Client,
    spill: &mut Spill,
    job: &TableJob,
    map: &ShardMap,
    chunk: &Chunk,
) -> Result<(u64, u64), Failure> {
    let stall = ctx.opts.stall_timeout;
    spill.reset()?;
    let out = timed(
        stall,
        Side::Source,
        "starting COPY TO STDOUT",
        source.copy_out(&job.copy_out_base.for_chunk(chunk)),
    )
    .await?;
    pin_mut!(out);
    let mut tuples = BinaryTuples::default();
    let bad_row = |why: String| Failure {
        error: Error::Precondition {
            side: Side::Source,
            message: format!("{}: {why}", job.name),
        },
        retryable: false,
    };
    let (mut rows, mut bytes, mut unreported_rows, mut unreported_bytes) = (0u64, 0u64, 0u64, 0u64);
    while let Some(message) = super::pump::next_row(&mut out, stall).await? {
        // Text: a message is one row. Binary: whole tuples, the header before the first.
        let mut rest = &message[..];
        loop {
            let (row, shard) = if job.binary {
                match tuples.next(&mut rest, map.field).map_err(bad_row)? {
                    None => break,
                    Some((row, value)) => (row, map.route_binary(value).map_err(bad_row)?),
                }
            } else {
                if rest.is_empty() {
                    break;
                }
                let row = std::mem::take(&mut rest);
                (row, map.route(row).map_err(bad_row)?)
            };
            spill.push(shard, row)?;
            rows += 1;
            bytes += row.len() as u64;
            unreported_rows += 1;
            unreported_bytes += row.len() as u64;
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
    if job.binary && !tuples.ended() {
        return Err(bad_row(
            "the source's binary COPY output ended without its trailer".into(),
        ));
    }
    spill.finish_writing()?;
    Ok((rows, bytes))
}

async fn send(
    mut sink: std::pin::Pin<&mut tokio_postgres::CopyInSink<Bytes>>,
    data: Bytes,
    stall: Duration,
) -> Result<(), Failure> {
    timed(
        stall,
        Side::Target,
        "sending COPY data to a shard",
        sink.send(data),
    )
    .await
}

/// Loads one node's shards from the spill files in one transaction and prepares it as `gid`.
async fn load_node(
    ctx: &Ctx,
    client: &Client,
    job: &TableJob,
    shards: Vec<(&Shard, &mut ShardFile)>,
    gid: &str,
) -> Result<(), Failure> {
    let stall = ctx.opts.stall_timeout;
    timed(
        stall,
        Side::Target,
        "starting a chunk transaction on a worker",
        client.batch_execute(&ctx.begin_sql),
    )
    .await?;
    let with = if job.binary {
        " WITH (FORMAT binary)"
    } else {
        ""
    };
    for (shard, file) in shards {
        let sql = format!(
            "COPY {} {} FROM STDIN{with}",
            shard.relation, job.copy_columns
        );
        let sink = timed(
            stall,
            Side::Target,
            "starting COPY into a shard",
            client.copy_in::<_, Bytes>(&sql),
        )
        .await?;
        pin_mut!(sink);
        if job.binary {
            send(sink.as_mut(), Bytes::from_static(BINARY_HEADER), stall).await?;
        }
        while let Some(piece) = file.read_piece(LOAD_MESSAGE_BYTES)? {
            send(sink.as_mut(), piece, stall).await?;
        }
        if job.binary {
            send(sink.as_mut(), Bytes::from_static(BINARY_TRAILER), stall).await?;
        }
        let accepted = timed(
            stall,
            Side::Target,
            "finishing COPY into a shard",
            sink.as_mut().finish(),
        )
        .await?;
        if accepted != file.rows {
            return Err(Failure::from(Error::Other(format!(
                "target: shard {} accepted {accepted} rows but {} were sent",
                shard.relation, file.rows
            ))));
        }
        ctx.check_cancelled()?;
    }
    let prepare = format!("PREPARE TRANSACTION {}", quote_literal(gid));
    timed(
        stall,
        Side::Target,
        "preparing a chunk on a worker",
        client.batch_execute(&prepare),
    )
    .await
}

async fn copy_chunk(
    ctx: &Ctx,
    conns: &mut Conns,
    job: &TableJob,
    map: &ShardMap,
    chunk: &Chunk,
) -> Result<Outcome, Failure> {
    let stall = ctx.opts.stall_timeout;
    let spill = conns.spill.as_mut().unwrap();
    let (rows, bytes) =
        read_chunk(ctx, conns.source.as_ref().unwrap(), spill, job, map, chunk).await?;

    // One name for the chunk (recorded in the bookkeeping); each node's transaction adds its index.
    // Nodes without rows in this chunk have nothing to do.
    let txn = format!("{}{:016x}", gid_prefix(map, chunk), nonce());
    let mut per_node: Vec<Vec<(&Shard, &mut ShardFile)>> =
        (0..map.nodes.len()).map(|_| Vec::new()).collect();
    for (shard, file) in map.shards.iter().zip(spill.shards.iter_mut()) {
        if file.rows > 0 {
            per_node[shard.node].push((shard, file));
        }
    }
    let loads: Vec<(usize, Vec<(&Shard, &mut ShardFile)>)> = per_node
        .into_iter()
        .enumerate()
        .filter(|(_, shards)| !shards.is_empty())
        .collect();
    let gids: Vec<(usize, String)> = loads
        .iter()
        .map(|(node, _)| (*node, format!("{txn}_{node}")))
        .collect();
    // The decision's transaction is opened first and takes the chunk's lock, so that no other run
    // rolls back this attempt's prepared parts before they are decided (and a run that loses the
    // race for the chunk waits here, then finds it committed).
    let control = conns.target.as_ref().unwrap();
    execute(
        control,
        Side::Target,
        "starting the bookkeeping transaction",
        "BEGIN; SET LOCAL idle_in_transaction_session_timeout = 0",
    )
    .await?;
    timed_result(
        stall,
        "waiting for a chunk's lock",
        lock_chunk(control, map.table_oid, chunk.index),
    )
    .await?;
    if let Some((rows, bytes)) = bookkeeping::committed(control, &job.name, chunk).await? {
        // Another run committed it: finish what it left prepared, under the lock.
        let prefix = gid_prefix(map, chunk);
        recover(
            control,
            &ctx.target,
            &mut conns.nodes,
            map,
            &prefix,
            ChunkLock::Held,
        )
        .await?;
        execute(
            control,
            Side::Target,
            "ending the bookkeeping transaction",
            "ROLLBACK",
        )
        .await?;
        return Ok(Outcome::earlier((rows, bytes)));
    }
    let nodes = &conns.nodes;
    let loaded = futures::future::try_join_all(loads.into_iter().zip(&gids).map(
        |((node, shards), (_, gid))| load_node(ctx, &nodes[&map.nodes[node]], job, shards, gid),
    ))
    .await;
    if let Err(e) = loaded {
        // Undecided, and only this attempt (holding the chunk's lock) could decide it: its prepared
        // parts are rolled back now, on fresh node connections (a failed one may be mid-COPY);
        // what cannot be reached now is resolved by the next attempt or run.
        conns.nodes.clear();
        let _ = recover(
            control,
            &ctx.target,
            &mut conns.nodes,
            map,
            &txn,
            ChunkLock::Held,
        )
        .await;
        let _ = control.batch_execute("ROLLBACK").await;
        conns.nodes.clear();
        return Err(e);
    }
    // An error here may have come after the decision committed: the next attempt reads it.
    if let Some((rows, bytes)) =
        super::stream::commit_chunk(ctx, control, job, chunk, rows, bytes, Some(&txn)).await?
    {
        // The chunk was committed by another run (its bookkeeping was replaced meanwhile): this
        // attempt's parts, undecided and its own, are rolled back.
        recover(
            control,
            &ctx.target,
            &mut conns.nodes,
            map,
            &txn,
            ChunkLock::Held,
        )
        .await?;
        return Ok(Outcome::earlier((rows, bytes)));
    }
    // Decided (and durable): the chunk is committed. Finish it on the nodes; what fails here is
    // repaired by `recover`.
    let nodes = &conns.nodes;
    let finished = futures::future::join_all(gids.iter().map(|(node, gid)| {
        let client = &nodes[&map.nodes[*node]];
        async move {
            let commit = format!("COMMIT PREPARED {}", quote_literal(gid));
            timed(
                stall,
                Side::Target,
                "committing a chunk on a worker",
                client.batch_execute(&commit),
            )
            .await
        }
    }))
    .await;
    if finished.iter().any(|r| r.is_err()) {
        // On fresh connections: the failed one may be the reason.
        conns.nodes.clear();
        recover(
            control,
            &ctx.target,
            &mut conns.nodes,
            map,
            &txn,
            ChunkLock::Try,
        )
        .await
        .map_err(Failure::from)?;
    }
    Ok(Outcome {
        rows,
        bytes,
        by_this_run: true,
    })
}

/// The node connections of one stream, by `(host, port)`: shared by every table the stream copies
/// (each chunk's transaction is complete on its connection), so a stream holds one per node.
pub type NodeConns = HashMap<(String, u16), Client>;

#[cfg(test)]
mod tests {
    #[test]
    fn table_oid_of_prepared_transaction_names() {
        use super::table_oid_of;
        assert_eq!(table_oid_of("citus_migrate_16384_3_00ff_1"), Some(16384));
        assert_eq!(table_oid_of("citus_migrate_x_3"), None);
        assert_eq!(table_oid_of("citus_1_2_3_4"), None);
    }
}
