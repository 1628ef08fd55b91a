//! The Citus worker nodes: a chunk copied straight into the shard placements on the workers (see
//! [`super::shard_route`]) instead of through the coordinator. Which tables take this path is decided
//! once per run, by [`choose_routes`].
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
//! [`recover_leftovers`], before a chunk is retried by [`recover_chunk`].

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use futures::{pin_mut, SinkExt};
use tokio_postgres::types::Type;
use tokio_postgres::Client;

use super::bookkeeping;
use super::chunk::Chunk;
use super::job::{ChunkAttempt, Outcome, TableJob};
use super::retry::{next_row, watched, watched_db, within, Failure};
use super::shard_route::{
    self, BinaryTuples, DistKind, Shard, ShardMap, BINARY_HEADER, BINARY_TRAILER,
};
use super::spill::{self, ShardFile, Spill};
use super::sql::BEGIN_DECISION;
use super::CopyOptions;
use crate::connect::{connect, execute, query};
use crate::conninfo::ConnInfo;
use crate::error::{Error, Result, Side};
use crate::ident::{quote_literal, QualifiedName};
use crate::progress::Progress;

/// Size of the CopyData messages that load a shard from its spill file.
const LOAD_MESSAGE_BYTES: usize = 1 << 20;

/// The node connections of a run or of one stream, by `(host, port)`: shared by every table (each
/// chunk's transaction is complete on its connection), so there is one per node.
type NodeConns = HashMap<(String, u16), Client>;

/// A stream's way to the nodes: its connections, and the spill files its chunks are sorted into.
#[derive(Default)]
pub(super) struct Nodes {
    conns: NodeConns,
    spill: Option<Spill>,
}

/// On Citus, before any data moves: which tables go straight to their shards (unless
/// `opts.via_coordinator`; every node checked and connected once, the path said per table); then the
/// prepared transactions an interrupted run left on the nodes of these tables resolved (they hold
/// locks, whatever path this run takes); then the open-files limit raised for the streams' spill files.
pub(super) async fn choose_routes(
    control: &Client,
    target: &ConnInfo,
    jobs: &mut [TableJob],
    opts: &CopyOptions,
    progress: &dyn Progress,
) -> Result<()> {
    let stall = opts.stall_timeout;
    // The shard layouts of all tables in one query.
    let wanted: Vec<(&QualifiedName, &[String])> = jobs
        .iter()
        .map(|j| (&j.name, j.columns.as_slice()))
        .collect();
    let layouts = within(
        stall,
        Side::Target,
        "reading the shards",
        shard_route::load(control, &wanted),
    )
    .await?;
    let maps: Vec<ShardMap> = layouts
        .iter()
        .filter_map(|l| l.as_ref().ok().cloned())
        .collect();
    let mut nodes = NodeConns::new();
    if !opts.via_coordinator {
        for (job, layout) in jobs.iter_mut().zip(layouts) {
            job.route = within(
                stall,
                Side::Target,
                "checking the workers",
                route(target, &mut nodes, &job.name, layout, job.binary, progress),
            )
            .await?;
        }
    }
    // After the checks above (which open the connections they approve of).
    let (resolved, unreachable) = within(
        stall,
        Side::Target,
        "resolving prepared transactions left by an interrupted run",
        recover_leftovers(control, target, &mut nodes, &maps),
    )
    .await?;
    if resolved > 0 {
        progress.message(&format!(
            "resolved {resolved} prepared transaction(s) left on the workers by an interrupted run"
        ));
    }
    for node in unreachable {
        progress.message(&format!(
            "cannot look for prepared transactions left by an interrupted run on node {node}"
        ));
    }
    // Worker-direct streams hold a spill file per shard and a connection per node.
    if let Some((shards, nodes)) = jobs
        .iter()
        .filter_map(|j| j.route.as_ref())
        .map(|m| (m.shards.len(), m.nodes.len()))
        .max()
    {
        let streams = opts.jobs as u64;
        spill::ensure_open_files(
            streams * (shards + nodes + 4) as u64 + 64,
            &format!("copying tables of up to {shards} shards straight to the workers with {streams} parallel jobs"),
        )?;
    }
    Ok(())
}

/// The shard layout of a table when its rows can go straight to the workers; says which path it takes.
async fn route(
    target: &ConnInfo,
    nodes: &mut NodeConns,
    name: &QualifiedName,
    layout: std::result::Result<ShardMap, String>,
    binary: bool,
    progress: &dyn Progress,
) -> Result<Option<ShardMap>> {
    let why_not = match layout {
        Ok(map) => match probe(target, &map, nodes).await {
            Some(why) => why,
            None if map.kind.needs_binary() && !binary => format!(
                "its {} distribution column is routed only when the table moves in binary, and a \
                 column's type differs between the sides or is not a built-in one",
                if map.kind == DistKind::Uuid {
                    "uuid"
                } else {
                    "text"
                }
            ),
            None => {
                progress.message(&format!(
                    "{name}: rows go straight to its {} shards on {} node(s)",
                    map.shards.len(),
                    map.nodes.len()
                ));
                return Ok(Some(map));
            }
        },
        Err(why) => why,
    };
    progress.message(&format!(
        "{name}: rows go through the coordinator ({why_not})"
    ));
    Ok(None)
}

/// The target's connection options pointed at one node (its failures name the node).
fn node_info(target: &ConnInfo, node: &(String, u16)) -> ConnInfo {
    let mut info = target.clone();
    info.hosts = vec![node.0.clone()];
    info.hostaddrs = Vec::new();
    info.ports = vec![node.1];
    info.worker_node = true;
    info
}

/// Why the nodes of `map` cannot be written directly, or `None` when they can: each must accept a
/// connection with the target's credentials and allow prepared transactions. A node checked before
/// (its connection is in `nodes`) is not asked again; a good one's connection is kept there.
async fn probe(target: &ConnInfo, map: &ShardMap, nodes: &mut NodeConns) -> Option<String> {
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

/// The connection to `node` in `nodes`, opened when missing.
async fn node_conn<'n>(
    target: &ConnInfo,
    nodes: &'n mut NodeConns,
    node: &(String, u16),
) -> Result<&'n Client> {
    if !nodes.contains_key(node) {
        let client = connect(&node_info(target, node)).await?;
        nodes.insert(node.clone(), client);
    }
    Ok(&nodes[node])
}

/// Opens the connections to `map`'s nodes that `nodes` lacks.
async fn connect_nodes(target: &ConnInfo, nodes: &mut NodeConns, map: &ShardMap) -> Result<()> {
    for node in &map.nodes {
        node_conn(target, nodes, node).await?;
    }
    Ok(())
}

/// Before a chunk is tried again: what an earlier attempt prepared is committed or rolled back as the
/// bookkeeping says (it holds locks); a part whose run still holds the chunk's lock is left to it.
pub(super) async fn recover_chunk(
    control: &Client,
    target: &ConnInfo,
    nodes: &mut Nodes,
    map: &ShardMap,
    chunk: &Chunk,
) -> Result<u32> {
    recover(
        control,
        target,
        nodes,
        map,
        &gid_prefix(map, chunk),
        ChunkLock::Try,
    )
    .await
}

/// Resolves the prepared transactions named with `prefix` (one chunk's, or one attempt's) of `map`'s
/// table left on its nodes (by an earlier attempt, or another run), over the connections in `nodes`
/// (opened where missing). `lock` says whether the caller holds the chunk's lock (see [`lock_chunk`])
/// in the transaction open on `control`.
async fn recover(
    control: &Client,
    target: &ConnInfo,
    nodes: &mut Nodes,
    map: &ShardMap,
    prefix: &str,
    lock: ChunkLock,
) -> Result<u32> {
    connect_nodes(target, &mut nodes.conns, map).await?;
    let mut resolved = 0;
    for node in &map.nodes {
        resolved += resolve_on_node(control, &nodes.conns[node], prefix, |_| true, lock).await?;
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
async fn recover_leftovers(
    control: &Client,
    target: &ConnInfo,
    nodes: &mut NodeConns,
    maps: &[ShardMap],
) -> Result<(u32, Vec<String>)> {
    let tables: std::collections::HashSet<u32> = maps.iter().map(|m| m.table_oid).collect();
    let mut all: Vec<&(String, u16)> = maps.iter().flat_map(|m| &m.nodes).collect();
    all.sort();
    all.dedup();
    let (mut resolved, mut unreachable) = (0, Vec::new());
    let ours = |gid: &str| table_oid_of(gid).is_some_and(|oid| tables.contains(&oid));
    for node in all {
        match node_conn(target, nodes, node).await {
            Ok(client) => {
                resolved +=
                    resolve_on_node(control, client, GID_PREFIX, ours, ChunkLock::Try).await?
            }
            Err(e) => unreachable.push(format!("{}:{} ({e})", node.0, node.1)),
        }
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
/// commits are durable before any `COMMIT PREPARED` (see [`ChunkAttempt::decide`]). A transaction
/// that is gone by the time it is resolved was resolved by its own run: not an error.
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
    // `<txn>_<node>`; the bookkeeping records `<txn>`. The decisions of all of them in one query.
    let gids: Vec<String> = rows
        .iter()
        .map(|r| r.get::<_, String>(0))
        .filter(|g| wanted(g))
        .collect();
    let txn_of = |gid: &str| gid.rsplit_once('_').map_or(gid, |(t, _)| t).to_string();
    let txns: Vec<String> = gids.iter().map(|g| txn_of(g)).collect();
    let decided = bookkeeping::committed_txns(
        control,
        &txns.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await?;
    let mut resolved = 0;
    for (gid, txn) in gids.iter().zip(&txns) {
        let (gid, txn) = (gid.clone(), txn.as_str());
        if decided.contains(txn) {
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
        // Gone (42704), or "busy" (55000): its own run, or another run's recovery, is finishing it
        // right now.
        Err(e)
            if matches!(
                e.code(),
                Some(&tokio_postgres::error::SqlState::UNDEFINED_OBJECT)
                    | Some(&tokio_postgres::error::SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE)
            ) =>
        {
            Ok(0)
        }
        Err(e) => Err(Error::db(
            Side::Target,
            "resolving a prepared transaction",
            e,
        )),
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
/// into the stream's spill files, then every node loads its shards in one transaction, prepared; the
/// decision commits on the coordinator (`control`), then the nodes commit theirs.
pub(super) async fn copy_chunk(
    at: &ChunkAttempt<'_>,
    map: &ShardMap,
    target: &ConnInfo,
    source: &Client,
    control: &Client,
    nodes: &mut Nodes,
) -> Result<Outcome, Failure> {
    connect_nodes(target, &mut nodes.conns, map).await?;
    if nodes.spill.as_ref().map(|s| s.shards.len()) != Some(map.shards.len()) {
        nodes.spill = Some(Spill::new(map.shards.len())?);
    }
    let result = load_and_decide(at, map, target, source, control, nodes).await;
    if result.is_err() {
        // The node connections may be mid-COPY or mid-transaction: start afresh next time.
        nodes.conns.clear();
    }
    result
}

/// Reads the chunk's rows from the source into the spill files; returns the rows and bytes read.
async fn read_chunk(
    at: &ChunkAttempt<'_>,
    source: &Client,
    spill: &mut Spill,
    map: &ShardMap,
) -> Result<(u64, u64), Failure> {
    let (stall, job) = (at.stall, at.job);
    spill.reset()?;
    let out = at.copy_out(source).await?;
    pin_mut!(out);
    let mut tuples = BinaryTuples::default();
    let bad_row = |why: String| Failure {
        error: Error::Precondition {
            remedy: None,
            side: Side::Source,
            message: format!("{}: {why}", job.name),
        },
        retryable: false,
    };
    let (mut rows, mut bytes, mut unreported_rows, mut unreported_bytes) = (0u64, 0u64, 0u64, 0u64);
    while let Some(message) = next_row(&mut out, stall).await? {
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
            at.moved(unreported_bytes, unreported_rows)?;
            (unreported_rows, unreported_bytes) = (0, 0);
        }
    }
    (at.advance)(unreported_bytes, unreported_rows);
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
    watched_db(
        stall,
        Side::Target,
        "sending COPY data to a shard",
        sink.send(data),
    )
    .await
}

/// Loads one node's shards from the spill files in one transaction and prepares it as `gid`.
async fn load_node(
    at: &ChunkAttempt<'_>,
    client: &Client,
    shards: Vec<(&Shard, &mut ShardFile)>,
    gid: &str,
) -> Result<(), Failure> {
    let (stall, job) = (at.stall, at.job);
    watched_db(
        stall,
        Side::Target,
        "starting a chunk transaction on a worker",
        client.batch_execute(at.begin),
    )
    .await?;
    for (shard, file) in shards {
        let sink = watched_db(
            stall,
            Side::Target,
            "starting COPY into a shard",
            client.copy_in::<_, Bytes>(&job.copy_in(&shard.relation)),
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
        let accepted = watched_db(
            stall,
            Side::Target,
            "finishing COPY into a shard",
            sink.as_mut().finish(),
        )
        .await?;
        if accepted != file.rows {
            return Err(Failure::from(Error::RowCountMismatch {
                side: Side::Target,
                what: format!("shard {}", shard.relation),
                accepted,
                sent: file.rows,
            }));
        }
        at.check_cancelled()?;
    }
    let prepare = format!("PREPARE TRANSACTION {}", quote_literal(gid));
    watched_db(
        stall,
        Side::Target,
        "preparing a chunk on a worker",
        client.batch_execute(&prepare),
    )
    .await
}

/// The rest of [`copy_chunk`], on its connections.
async fn load_and_decide(
    at: &ChunkAttempt<'_>,
    map: &ShardMap,
    target: &ConnInfo,
    source: &Client,
    control: &Client,
    nodes: &mut Nodes,
) -> Result<Outcome, Failure> {
    let (stall, job, chunk) = (at.stall, at.job, at.chunk);
    let (rows, bytes) = read_chunk(at, source, nodes.spill.as_mut().unwrap(), map).await?;

    // The decision's transaction is opened first and takes the chunk's lock, so that no other run
    // rolls back this attempt's prepared parts before they are decided (and a run that loses the
    // race for the chunk waits here, then finds it committed).
    execute(
        control,
        Side::Target,
        "starting the bookkeeping transaction",
        BEGIN_DECISION,
    )
    .await?;
    watched(
        stall,
        Side::Target,
        "waiting for a chunk's lock",
        lock_chunk(control, map.table_oid, chunk.index),
    )
    .await?;
    if let Some((rows, bytes)) = bookkeeping::committed(control, &job.name, chunk).await? {
        // Another run committed it: finish what it left prepared, under the lock.
        let prefix = gid_prefix(map, chunk);
        recover(control, target, nodes, map, &prefix, ChunkLock::Held).await?;
        execute(
            control,
            Side::Target,
            "ending the bookkeeping transaction",
            "ROLLBACK",
        )
        .await?;
        return Ok(Outcome::earlier((rows, bytes)));
    }
    // One name for the chunk (recorded in the bookkeeping); each node's transaction adds its index.
    // Nodes without rows in this chunk have nothing to do.
    let txn = format!("{}{:016x}", gid_prefix(map, chunk), nonce());
    let spill = nodes.spill.as_mut().unwrap();
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
    let conns = &nodes.conns;
    let loaded =
        futures::future::try_join_all(loads.into_iter().zip(&gids).map(
            |((node, shards), (_, gid))| load_node(at, &conns[&map.nodes[node]], shards, gid),
        ))
        .await;
    if let Err(e) = loaded {
        // Undecided, and only this attempt (holding the chunk's lock) could decide it: its prepared
        // parts are rolled back now, on fresh node connections (a failed one may be mid-COPY);
        // what cannot be reached now is resolved by the next attempt or run.
        nodes.conns.clear();
        let _ = recover(control, target, nodes, map, &txn, ChunkLock::Held).await;
        let _ = control.batch_execute("ROLLBACK").await;
        nodes.conns.clear();
        return Err(e);
    }
    // An error here may have come after the decision committed: the next attempt reads it.
    let outcome = at.decide(control, rows, bytes, Some(&txn)).await?;
    if !outcome.by_this_run {
        // The chunk was committed by another run (its bookkeeping was replaced meanwhile): this
        // attempt's parts, undecided and its own, are rolled back.
        recover(control, target, nodes, map, &txn, ChunkLock::Held).await?;
        return Ok(outcome);
    }
    // Decided (and durable): the chunk is committed. Finish it on the nodes; what fails here is
    // repaired by `recover`.
    let conns = &nodes.conns;
    let finished = futures::future::join_all(gids.iter().map(|(node, gid)| {
        let client = &conns[&map.nodes[*node]];
        async move {
            let commit = format!("COMMIT PREPARED {}", quote_literal(gid));
            watched_db(
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
        nodes.conns.clear();
        recover(control, target, nodes, map, &txn, ChunkLock::Try)
            .await
            .map_err(Failure::from)?;
    }
    Ok(outcome)
}

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
