//! Copying table data from the source into the target: parallel, chunked, from one consistent source
//! snapshot, exactly once per chunk (each chunk commits on the target together with its row in the
//! bookkeeping table), resumable, with bounded memory.
//!
//! [`copy_tables`] is the entry point: it checks everything and plans before any data moves. Below
//! it, each module uses only those listed after it (and the option and summary types here):
//! - `stream`: the parallel copy streams (threads, queue, retries, progress); every attempt at a
//!   chunk starts with the setup both paths share, then takes one of them:
//! - `via_coordinator` (through the target, the Citus coordinator or plain PostgreSQL; by COPY, or
//!   by `insert` where the target is PgCat, which cannot pass on the end of a COPY) or
//!   `worker_direct` (straight to the shards on the Citus worker nodes; it also decides, once per
//!   run, which tables may);
//! - `job`: one table's work, and one attempt at a chunk, ended by its decision;
//! - `bookkeeping` (the progress table on the target), `tables` (what each side says of the
//!   tables), `chunk` (ranges), `snapshot` (the source's one view), `shard_route` (which shard a
//!   row goes to), `spill` (rows sorted by shard), `durability` (what the exactly-once protocol
//!   needs of the servers), `retry` (what is retried; the watchdog), `sql` (every COPY statement
//!   and session setting).
//!
//! The CSV commands, one table each: [`export_csv`], [`import_csv`].

pub(crate) mod bookkeeping;
pub(crate) mod chunk;
mod csv_export;
mod csv_import;
mod durability;
mod insert;
mod job;
mod retry;
mod shard_route;
mod snapshot;
mod spill;
pub(crate) mod sql;
mod stream;
mod tables;
mod via_coordinator;
mod worker_direct;

pub use csv_export::{export_csv, CsvSummary};
pub use csv_import::import_csv;
pub use tables::tables_to_copy;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::connect::{connect, query};
use crate::conninfo::ConnInfo;
use crate::error::{Error, Remedy, Result, Side, UsageProblem};
use crate::ident::QualifiedName;
use crate::progress::Progress;
use job::TableJob;
use retry::within;
use snapshot::Snapshot;

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
    /// Approximate size of a chunk, measured on the source's table size; `None`: 32 MiB, or for a
    /// table copied straight to its shards 4 MiB per shard, at most 256 MiB.
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
    /// Write the snapshot the copy reads from to this file (see [`crate::online::CopySnapshot`]), for an
    /// online migration's catch-up.
    pub snapshot_file: Option<PathBuf>,
    /// Test hook: every stream pauses this long before and after each chunk's commit, so a test can
    /// interrupt a copy part-way. Set by the CLI from `CITUS_MIGRATE_TEST_PAUSE_MS`.
    #[doc(hidden)]
    pub test_pause: Option<Duration>,
    /// Columns the target has and the source has not, per table: `(column, expression)`, the
    /// expression computing the column's value from a row of the source table, which it names by its
    /// quoted qualified name (a plan's added tenant column, read from the parent's row).
    pub computed_columns: HashMap<QualifiedName, Vec<(String, String)>>,
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
            snapshot_file: None,
            test_pause: None,
            computed_columns: Default::default(),
        }
    }
}

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
    /// Rows and bytes of the skipped chunks, as recorded when they were committed.
    pub skipped_rows: u64,
    pub skipped_bytes: u64,
    /// Retries needed after transient failures.
    pub retries: u32,
    /// Rows went straight to the shard placements on the workers (else through the coordinator).
    pub worker_direct: bool,
    /// Rows went through the coordinator as INSERT statements instead of COPY (the target is PgCat).
    pub inserts: bool,
    /// Rows moved in COPY's binary format (else text); `bytes` counts what was moved.
    pub binary: bool,
    /// From the first chunk started to the last finished, in this run.
    pub seconds: f64,
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
    let mut seen = HashSet::new();
    let tables: Vec<QualifiedName> = tables
        .iter()
        .filter(|t| seen.insert((*t).clone()))
        .cloned()
        .collect();
    if tables.is_empty() {
        return Err(Error::Usage(UsageProblem::NoTables));
    }
    if opts.jobs == 0 {
        return Err(Error::Usage(UsageProblem::JobsZero));
    }

    // Everything is checked before any data moves.
    let snapshot = Snapshot::export(source, opts.snapshot_file.as_deref()).await?;
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
    let mut jobs = src
        .into_iter()
        .map(|mut s| {
            if let Some(c) = opts.computed_columns.get(&s.name) {
                s.add_computed(c);
            }
            s
        })
        .zip(dst)
        .enumerate()
        .map(|(index, (s, d))| TableJob::new(index, s, d))
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
        durability::recover_citus_commits(&control, stall, Some(progress)).await?;
        // Prepared transactions an interrupted run left are resolved here, before anything looks
        // at the target's rows.
        worker_direct::choose_routes(&control, target, &mut jobs, opts, progress).await?;
    }
    if jobs.iter().any(|j| j.route.is_none())
        && within(
            stall,
            Side::Target,
            "asking whether the target is PgCat",
            insert::target_is_pgcat(&control),
        )
        .await?
    {
        progress.message(
            "the target is PgCat, which does not pass on the end of a COPY sent with the extended \
             protocol: rows that go through the coordinator are sent as INSERT statements (slower \
             than COPY; rows sent straight to the workers are not affected)",
        );
        for job in jobs.iter_mut().filter(|j| j.route.is_none()) {
            job.inserts = true;
        }
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
    for job in &mut jobs {
        job.plan(snapshot.client(), &control, recorded.get(&job.name), opts)
            .await?;
    }
    drop(control);

    let tables = stream::run(source, target, snapshot, jobs, opts, citus, progress).await?;
    if citus {
        // A worker that failed between Citus's commit and its COMMIT PREPARED holds a committed
        // chunk's rows invisible until recovered: recover them now rather than at the next interval.
        durability::recover_citus_commits(&connect(target).await?, stall, None).await?;
    }
    let summary = CopySummary {
        rows: tables.iter().map(|t| t.rows).sum(),
        bytes: tables.iter().map(|t| t.bytes).sum(),
        tables,
        seconds: started.elapsed().as_secs_f64(),
        jobs: opts.jobs,
        mode: opts.mode,
    };
    write_summary(opts.work_dir.as_deref(), &summary)?;
    Ok(summary)
}

/// `summary.json` in the work directory, when there is one.
fn write_summary(dir: Option<&Path>, summary: &CopySummary) -> Result<()> {
    let Some(dir) = dir else { return Ok(()) };
    let path = dir.join("summary.json");
    let text = serde_json::to_string_pretty(summary).map_err(|e| Error::Other(e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))
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
                    "{table} is empty, but the copy bookkeeping ({PROGRESS}) records {chunks} committed \
                     chunk(s) with {rows} rows in it: it was emptied since (by hand?), so resuming would \
                     leave it incomplete{more}",
                    PROGRESS = bookkeeping::PROGRESS_TABLE,
                    more = if emptied.len() > 1 {
                        format!(" (also: {})", emptied[1..].iter().map(|e| e.0.to_string()).collect::<Vec<_>>().join(", "))
                    } else {
                        String::new()
                    }
                ),
                remedy: Some(Remedy::TruncateTable),
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
            Remedy::TruncateTables,
        )
    } else {
        (
            if plural {
                "already hold rows"
            } else {
                "already holds rows"
            },
            Remedy::TruncateOrResume,
        )
    };
    Err(Error::Precondition {
        side: Side::Target,
        message: format!(
            "table{} {} {what}",
            if plural { "s" } else { "" },
            refused.join(", ")
        ),
        remedy: Some(advice),
    })
}
