//! Copying table data from the source into the target: parallel, chunked, from one consistent source
//! snapshot, exactly once per chunk (each chunk commits on the target together with its row in the
//! bookkeeping table), resumable, with bounded memory.
//!
//! [`copy_tables`] is the entry point; [`chunk`] plans ranges (reused by verify); [`snapshot`] holds the
//! source snapshot; [`stream`] runs the parallel copy streams, [`pump`] moves their bytes,
//! [`worker_direct`] writes straight to the Citus worker nodes; [`bookkeeping`] records progress on the
//! target; [`retry`] decides what is retried; [`csv_export`] / [`csv_import`] are the CSV commands.

pub mod bookkeeping;
pub mod chunk;
pub mod csv_export;
pub mod csv_import;
mod durability;
mod pump;
pub mod retry;
pub mod shard_route;
pub mod snapshot;
mod spill;
mod stream;
pub mod tables;
mod worker_direct;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::connect::{connect, query};
use crate::conninfo::ConnInfo;
use crate::error::{Error, Result, Side};
use crate::ident::QualifiedName;
use crate::progress::Progress;
use chunk::{Chunk, ChunkRange};
use snapshot::Snapshot;
use tables::TableFacts;

/// What to do with target tables that already hold rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CopyMode {
    /// Refuse target tables that hold rows.
    #[default]
    Fresh,
    /// Continue an interrupted copy: skip the chunks the bookkeeping says are committed.
    Resume,
    /// Empty the target tables and start over.
    Truncate,
}

#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Parallel streams (each one source and one target connection).
    pub jobs: usize,
    /// Approximate size of a chunk, measured on the source's table size; `None`: [`chunk::auto_chunk_bytes`].
    pub chunk_bytes: Option<u64>,
    pub mode: CopyMode,
    /// Where to write `copy.log` (one line per chunk) and `summary.json`; nothing is written without it.
    pub work_dir: Option<PathBuf>,
    /// Further attempts of a chunk after a transient failure (terminated backend, lost connection).
    pub max_retries: u32,
    /// A stream that makes no progress for this long is treated as dead (then retried).
    pub stall_timeout: Duration,
    /// Send every row through the Citus coordinator, even where sending rows straight to the shard
    /// placements on the workers would be safe.
    pub via_coordinator: bool,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            jobs: 4,
            chunk_bytes: None,
            mode: CopyMode::Fresh,
            work_dir: None,
            max_retries: 3,
            stall_timeout: Duration::from_secs(300),
            via_coordinator: false,
        }
    }
}

/// Default chunk size: 32 MiB of source table.
pub const DEFAULT_CHUNK_BYTES: u64 = 32 << 20;

/// What a run did, per table and in total.
#[derive(Debug, Clone, Serialize)]
pub struct CopySummary {
    pub tables: Vec<TableCopySummary>,
    /// Rows and bytes copied by this run (not counting skipped chunks).
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub jobs: usize,
    pub mode: CopyMode,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableCopySummary {
    pub table: QualifiedName,
    /// Rows and bytes (as COPY moved them, text or binary) copied by this run.
    pub rows: u64,
    pub bytes: u64,
    /// Chunks in the table's plan, and how many of them an earlier run had already committed.
    pub chunks: u32,
    pub skipped_chunks: u32,
    /// Rows of the skipped chunks, as recorded when they were committed.
    pub skipped_rows: u64,
    /// Retries needed after transient failures.
    pub retries: u32,
    /// Rows went straight to the shard placements on the workers (else through the coordinator).
    pub worker_direct: bool,
    /// Rows moved in COPY's binary format (else text); `bytes` counts what was moved.
    pub binary: bool,
    /// From the first chunk started to the last finished, in this run.
    pub seconds: f64,
}

/// One table's work: its SQL and its chunks.
struct TableJob {
    /// Position in the run's list of tables.
    index: usize,
    name: QualifiedName,
    copy_out_base: CopyOutSql,
    copy_in_sql: String,
    /// `(a, "B")`: the copied columns.
    copy_columns: String,
    /// Rows move in COPY's binary format (every column has the same built-in type on both sides),
    /// else in text.
    binary: bool,
    /// Worker-direct routing, where it is safe.
    route: Option<shard_route::ShardMap>,
    plan: Vec<bookkeeping::PlannedChunk>,
    expected_bytes: u64,
    expected_rows: u64,
}

/// How to select a chunk's rows on the source.
struct CopyOutSql {
    table: String,
    columns: String,
    select_list: String,
    from: String,
    plain_table: bool,
    /// ` WITH (FORMAT binary)` or nothing.
    with: &'static str,
}

impl CopyOutSql {
    fn for_chunk(&self, chunk: &Chunk) -> String {
        match chunk.predicate() {
            None if self.plain_table => {
                format!(
                    "COPY {} {} TO STDOUT{}",
                    self.table, self.columns, self.with
                )
            }
            None => format!(
                "COPY (SELECT {} FROM {}) TO STDOUT{}",
                self.select_list, self.from, self.with
            ),
            Some(p) => format!(
                "COPY (SELECT {} FROM {} WHERE {p}) TO STDOUT{}",
                self.select_list, self.from, self.with
            ),
        }
    }
}

/// Copies `tables` (which must exist on both sides) from `source` into `target`.
pub async fn copy_tables(
    source: &ConnInfo,
    target: &ConnInfo,
    tables: &[QualifiedName],
    opts: &CopyOptions,
    progress: &dyn Progress,
) -> Result<CopySummary> {
    let started = Instant::now();
    let mut seen = std::collections::HashSet::new();
    let tables: Vec<QualifiedName> = tables
        .iter()
        .filter(|t| seen.insert((*t).clone()))
        .cloned()
        .collect();
    if tables.is_empty() {
        return Err(Error::usage("no tables to copy"));
    }
    if opts.jobs == 0 {
        return Err(Error::usage("--jobs must be at least 1"));
    }

    // Everything is checked before any data moves.
    let snapshot = Snapshot::export(source).await?;
    let control = connect(target).await?;
    let stall = opts.stall_timeout;
    let src = within(
        stall,
        Side::Source,
        "reading the tables",
        tables::read(snapshot.client(), Side::Source, &tables),
    )
    .await?;
    let dst = within(
        stall,
        Side::Target,
        "reading the tables",
        tables::read(&control, Side::Target, &tables),
    )
    .await?;
    let columns = src
        .iter()
        .zip(&dst)
        .map(|(s, d)| tables::match_columns(s, d))
        .collect::<Result<Vec<_>>>()?;
    let citus = !query(
        &control,
        Side::Target,
        "looking for the citus extension",
        "SELECT 1 FROM pg_extension WHERE extname = 'citus'",
        &[],
    )
    .await?
    .is_empty();
    within(
        stall,
        Side::Target,
        "creating the bookkeeping table",
        bookkeeping::ensure(&control),
    )
    .await?;
    within(
        stall,
        Side::Target,
        "checking the durability settings",
        durability::warn_unsafe_settings(&control, citus, progress),
    )
    .await?;
    if citus {
        let recovered = within(
            stall,
            Side::Target,
            "recovering Citus's prepared transactions",
            durability::recover_citus_commits(&control),
        )
        .await?;
        if recovered > 0 {
            progress.message(&format!(
                "finished {recovered} of Citus's two-phase commit(s) left by an interrupted run"
            ));
        }
    }
    // Worker-direct routes; prepared transactions an interrupted run left are resolved first, before
    // anything looks at the target's rows.
    let binary: Vec<bool> = src
        .iter()
        .zip(&dst)
        .zip(&columns)
        .map(|((s, d), cols)| tables::binary_compatible(s, d, cols))
        .collect();
    // The shard layouts of all tables in one query; each worker node checked and connected once.
    let mut routes: Vec<Option<shard_route::ShardMap>> = tables.iter().map(|_| None).collect();
    if citus {
        let wanted: Vec<(&QualifiedName, &[String])> = tables
            .iter()
            .zip(&columns)
            .map(|(t, c)| (t, c.as_slice()))
            .collect();
        let layouts = within(
            stall,
            Side::Target,
            "reading the shards",
            shard_route::load(&control, &wanted),
        )
        .await?;
        let maps: Vec<shard_route::ShardMap> = layouts
            .iter()
            .filter_map(|l| l.as_ref().ok().cloned())
            .collect();
        let mut nodes = worker_direct::NodeConns::new();
        if !opts.via_coordinator {
            for (((route, name), layout), binary) in
                routes.iter_mut().zip(&tables).zip(layouts).zip(&binary)
            {
                *route = within(
                    stall,
                    Side::Target,
                    "checking the workers",
                    worker_direct(target, &mut nodes, name, layout, *binary, progress),
                )
                .await?;
            }
        }
        // After the checks above (which open the connections they approve of).
        let (resolved, unreachable) = within(
            stall,
            Side::Target,
            "resolving prepared transactions left by an interrupted run",
            worker_direct::recover_leftovers(
                &control,
                target,
                &mut nodes,
                &maps.iter().collect::<Vec<_>>(),
            ),
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
    }
    // Worker-direct streams hold a spill file per shard and a connection per node.
    if let Some((shards, nodes)) = routes
        .iter()
        .flatten()
        .map(|m| (m.shards.len(), m.nodes.len()))
        .max()
    {
        let streams = opts.jobs as u64;
        spill::ensure_open_files(
            streams * (shards + nodes + 4) as u64 + 64,
            &format!("copying tables of up to {shards} shards straight to the workers with --jobs {streams}"),
        )?;
    }
    let recorded = within(
        stall,
        Side::Target,
        "reading the bookkeeping",
        bookkeeping::load(&control, &tables),
    )
    .await?;
    let non_empty = within(
        stall,
        Side::Target,
        "checking for rows",
        tables::non_empty(&control, Side::Target, &tables),
    )
    .await?;
    refuse_non_empty(opts.mode, &non_empty, &recorded)?;

    let mut jobs = Vec::new();
    for ((((facts, cols), target_facts), route), binary) in
        src.iter().zip(&columns).zip(&dst).zip(routes).zip(binary)
    {
        let name = &facts.name;
        let plan = match (opts.mode, recorded.get(name)) {
            (CopyMode::Resume, Some(plan)) => {
                check_recorded_plan(name, plan, target_facts)?;
                plan.clone()
            }
            (mode, _) => {
                let chunks = within(
                    stall,
                    Side::Source,
                    "planning chunks",
                    plan_chunks(
                        snapshot.client(),
                        facts,
                        opts.chunk_bytes.unwrap_or_else(|| {
                            chunk::auto_chunk_bytes(route.as_ref().map(|m| m.shards.len()))
                        }),
                        opts.jobs,
                    ),
                )
                .await?;
                within(
                    stall,
                    Side::Target,
                    "recording the plan",
                    bookkeeping::start_table(&control, name, &chunks, mode == CopyMode::Truncate),
                )
                .await?;
                chunks
                    .into_iter()
                    .map(|chunk| bookkeeping::PlannedChunk {
                        chunk,
                        committed: None,
                    })
                    .collect()
            }
        };
        let quoted_cols: Vec<String> = cols.iter().map(|c| crate::ident::quote_ident(c)).collect();
        let with = if binary { " WITH (FORMAT binary)" } else { "" };
        jobs.push(TableJob {
            index: jobs.len(),
            name: name.clone(),
            copy_out_base: CopyOutSql {
                table: name.quoted(),
                columns: tables::column_list(cols),
                select_list: quoted_cols.join(", "),
                from: if facts.relkind == "r" {
                    format!("ONLY {}", name.quoted())
                } else {
                    name.quoted()
                },
                plain_table: facts.relkind == "r",
                with,
            },
            copy_in_sql: format!(
                "COPY {} {} FROM STDIN{with}",
                name.quoted(),
                tables::column_list(cols)
            ),
            binary,
            copy_columns: tables::column_list(cols),
            route,
            plan,
            expected_bytes: facts.table_bytes,
            expected_rows: facts.rows_estimate,
        });
    }
    drop(control);

    let log = stream::RunLog::open(opts.work_dir.as_deref())?;
    let (events, receiver) = tokio::sync::mpsc::unbounded_channel();
    let state = stream::Shared::new(&jobs, log, events);
    let mut queue = VecDeque::new();
    for (t, job) in jobs.iter().enumerate() {
        progress.table_started(&job.name, job.expected_bytes, job.expected_rows);
        for (c, planned) in job.plan.iter().enumerate() {
            match planned.committed {
                Some((rows, _)) => state.skipped(t, rows),
                None => queue.push_back((t, c)),
            }
        }
        if state.table_done(t) {
            progress.table_finished(&job.name);
        }
    }
    let streams = opts.jobs.min(queue.len());
    let ctx = std::sync::Arc::new(stream::Ctx::new(
        source.clone(),
        target.clone(),
        snapshot,
        jobs,
        queue,
        state,
        opts.clone(),
        begin_sql(citus),
    ));
    stream::run_streams(ctx.clone(), receiver, streams, progress).await?;
    ctx.snapshot.release().await?;
    if citus {
        // A worker that failed between Citus's commit and its COMMIT PREPARED holds a committed
        // chunk's rows invisible until recovered: recover them now rather than at the next interval.
        let control = connect(target).await?;
        within(
            stall,
            Side::Target,
            "recovering Citus's prepared transactions",
            durability::recover_citus_commits(&control),
        )
        .await?;
    }

    let summary = ctx
        .state
        .summary(&ctx.jobs, opts, started.elapsed().as_secs_f64());
    ctx.state.log.finish(&summary)?;
    Ok(summary)
}

/// The shard layout of a table when its rows can go straight to the workers; says which path it takes.
/// Prepared transactions an interrupted run left for the table are resolved here, before any copying.
async fn worker_direct(
    target: &ConnInfo,
    nodes: &mut worker_direct::NodeConns,
    name: &QualifiedName,
    layout: std::result::Result<shard_route::ShardMap, String>,
    binary: bool,
    progress: &dyn Progress,
) -> Result<Option<shard_route::ShardMap>> {
    let why_not = match layout {
        Ok(map) => match worker_direct::probe(target, &map, nodes).await {
            None => {
                if map.kind.needs_binary() && !binary {
                    progress.message(&format!(
                        "{name}: rows go through the coordinator (its {} distribution column is routed \
                         only when the table moves in binary, and a column's type differs between the \
                         sides or is not a built-in one)",
                        if map.kind == shard_route::DistKind::Uuid {
                            "uuid"
                        } else {
                            "text"
                        }
                    ));
                    return Ok(None);
                }
                progress.message(&format!(
                    "{}: rows go straight to its {} shards on {} node(s)",
                    name,
                    map.shards.len(),
                    map.nodes.len()
                ));
                return Ok(Some(map));
            }
            Some(why) => why,
        },
        Err(why) => why,
    };
    progress.message(&format!(
        "{}: rows go through the coordinator ({why_not})",
        name
    ));
    Ok(None)
}

/// The start of every chunk transaction on the target. On Citus, a chunk's COPY through the
/// coordinator uses one connection per worker (switching between that worker's shards) instead of one
/// per shard: with several streams, dozens of half-fed COPY backends per worker cost the workers far
/// more CPU (measured on pgbench_accounts: the coordinator path went from 1.3x to 0.9x the time of a
/// plain psql pipe); and the coordinator keeps those connections from chunk to chunk.
fn begin_sql(citus: bool) -> String {
    let mut sql = format!("BEGIN; {}", stream::TARGET_SETTINGS);
    if citus {
        sql.push_str(
            "; SET LOCAL citus.max_adaptive_executor_pool_size = 1; \
             SET LOCAL citus.max_cached_conns_per_worker = 32",
        );
    }
    sql
}

/// Runs a preparation step under the watchdog: a lock wait or a dead peer becomes an error, not a hang.
async fn within<T>(
    stall: Duration,
    side: Side,
    what: &str,
    fut: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(stall, fut).await.unwrap_or_else(|_| {
        Err(Error::Other(format!(
            "{side}: no answer within {}s while {what} (a lock held by another session, or a dead connection?)",
            stall.as_secs()
        )))
    })
}

/// Test hook: `CITUS_MIGRATE_TEST_PAUSE_MS` pauses every stream before and after each chunk's COMMIT, so
/// tests can interrupt a run at chosen points.
fn test_pause() -> Option<Duration> {
    std::env::var("CITUS_MIGRATE_TEST_PAUSE_MS")
        .ok()?
        .parse()
        .ok()
        .map(Duration::from_millis)
}

fn refuse_non_empty(
    mode: CopyMode,
    non_empty: &[QualifiedName],
    recorded: &HashMap<QualifiedName, Vec<bookkeeping::PlannedChunk>>,
) -> Result<()> {
    let refused: Vec<String> = match mode {
        CopyMode::Truncate => Vec::new(),
        CopyMode::Fresh => non_empty.iter().map(|t| t.quoted()).collect(),
        CopyMode::Resume => non_empty
            .iter()
            .filter(|t| !recorded.contains_key(t))
            .map(|t| t.quoted())
            .collect(),
    };
    if mode == CopyMode::Resume {
        // The bookkeeping says rows were committed, the table says it has none: emptied by hand (or
        // by another tool) since; skipping its "committed" chunks would leave it incomplete.
        let mut emptied: Vec<(&QualifiedName, u64, usize)> = recorded
            .iter()
            .filter(|(t, _)| !non_empty.contains(t))
            .filter_map(|(t, plan)| {
                let done: Vec<u64> = plan
                    .iter()
                    .filter_map(|p| p.committed.map(|c| c.0))
                    .collect();
                let rows: u64 = done.iter().sum();
                (rows > 0).then_some((t, rows, done.len()))
            })
            .collect();
        emptied.sort();
        if let Some((table, rows, chunks)) = emptied.first() {
            return Err(Error::Precondition {
                side: Side::Target,
                message: format!(
                    "{table} is empty, but the copy bookkeeping ({PROGRESS}) records {chunks} committed                      chunk(s) with {rows} rows in it: it was emptied since (by hand?), so resuming would                      leave it incomplete; use --truncate to copy it again{more}",
                    PROGRESS = bookkeeping::PROGRESS_TABLE,
                    more = if emptied.len() > 1 {
                        format!(" (also: {})", emptied[1..].iter().map(|e| e.0.to_string()).collect::<Vec<_>>().join(", "))
                    } else {
                        String::new()
                    }
                ),
            });
        }
    }
    if refused.is_empty() {
        return Ok(());
    }
    let plural = refused.len() > 1;
    let (what, advice) = if mode == CopyMode::Resume {
        (
            if plural {
                "hold rows that no earlier `citus-migrate copy` recorded"
            } else {
                "holds rows that no earlier `citus-migrate copy` recorded"
            },
            "use --truncate to empty them and start over",
        )
    } else {
        (if plural { "already hold rows" } else { "already holds rows" }, "use --truncate to empty them and start over, or --resume to continue an interrupted copy")
    };
    Err(Error::Precondition {
        side: Side::Target,
        message: format!(
            "table{} {} {what}: {advice}",
            if plural { "s" } else { "" },
            refused.join(", ")
        ),
    })
}

/// A recorded plan is only usable while its key column still exists on the target.
fn check_recorded_plan(
    name: &QualifiedName,
    plan: &[bookkeeping::PlannedChunk],
    target: &TableFacts,
) -> Result<()> {
    for p in plan {
        if let ChunkRange::Key { column, .. } = &p.chunk.range {
            if !target.columns.iter().any(|(c, _)| c == column) {
                return Err(Error::Precondition {
                    side: Side::Target,
                    message: format!(
                        "the recorded copy plan of {name} splits on column {column}, which no longer exists; use --truncate"
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Plans the chunks of one table from its facts, reading key bounds in the snapshot (a multiple of
/// `streams` chunks when there are several).
pub async fn plan_chunks(
    client: &tokio_postgres::Client,
    facts: &TableFacts,
    chunk_bytes: u64,
    streams: usize,
) -> Result<Vec<Chunk>> {
    let wanted = chunk::chunk_count(facts.table_bytes, chunk_bytes, streams);
    if wanted <= 1 {
        return Ok(chunk::whole_table());
    }
    if let Some(key) = &facts.key_column {
        let k = crate::ident::quote_ident(key);
        let from = if facts.relkind == "r" {
            format!("ONLY {}", facts.name.quoted())
        } else {
            facts.name.quoted()
        };
        let sql = format!("SELECT min({k})::int8, max({k})::int8 FROM {from}");
        let rows = query(
            client,
            Side::Source,
            &format!("reading the key range of {}", facts.name),
            &sql,
            &[],
        )
        .await?;
        let (min, max): (Option<i64>, Option<i64>) = (rows[0].get(0), rows[0].get(1));
        return Ok(match (min, max) {
            (Some(min), Some(max)) => chunk::key_chunks(key, min, max, wanted),
            _ => chunk::whole_table(),
        });
    }
    if facts.relkind == "r" {
        return Ok(chunk::page_chunks(facts.pages, wanted));
    }
    Ok(chunk::whole_table())
}
