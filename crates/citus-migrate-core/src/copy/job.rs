//! One table's work, a [`TableJob`], built in one place from what the source and the target say of
//! the table; and one attempt at one of its chunks, a [`ChunkAttempt`], ended by its decision. The
//! streams ([`super::stream`]) and both paths a chunk can take ([`super::via_coordinator`],
//! [`super::worker_direct`]) work with these.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_postgres::{Client, CopyOutStream};

use super::bookkeeping::{self, PlannedChunk};
use super::chunk::{self, Chunk, ChunkRange};
use super::retry::{watched, watched_db, within, Failure};
use super::shard_route::ShardMap;
use super::sql::{self, Format, DURABLE_COMMIT};
use super::tables::{self, TableFacts};
use super::{CopyMode, CopyOptions};
use crate::connect::{execute, query};
use crate::error::{Error, Result, Side};
use crate::ident::{quote_ident, QualifiedName};

/// One table's work.
pub(super) struct TableJob {
    /// Position in the run's list of tables.
    pub index: usize,
    pub name: QualifiedName,
    pub source: TableFacts,
    target: TableFacts,
    /// The copied columns: every non-generated column of the target (each found on the source).
    pub columns: Vec<String>,
    /// Rows move in COPY's binary format (every column has the same built-in type on both sides),
    /// else in text.
    pub binary: bool,
    /// Where the rows go straight to the shards on the workers; set by
    /// [`super::worker_direct::choose_routes`].
    pub route: Option<ShardMap>,
    /// Rows through the coordinator go as INSERT statements, not COPY (the target is PgCat, which
    /// cannot pass on the end of a COPY: see [`super::insert`]); set by [`super::copy_tables`].
    pub inserts: bool,
    /// The chunks, and which of them earlier runs committed; set by [`TableJob::plan`].
    pub plan: Vec<PlannedChunk>,
}

impl TableJob {
    /// The job of the table `source` and `target` describe: its columns matched by name, its format.
    pub fn new(index: usize, source: TableFacts, target: TableFacts) -> Result<Self> {
        let columns = tables::match_columns(&source, &target)?;
        let binary = tables::binary_compatible(&source, &target, &columns);
        Ok(TableJob {
            index,
            name: source.name.clone(),
            source,
            target,
            columns,
            binary,
            route: None,
            inserts: false,
            plan: Vec::new(),
        })
    }

    fn format(&self) -> Format {
        if self.binary {
            Format::Binary
        } else {
            Format::Text
        }
    }

    /// The `COPY … FROM STDIN` into `relation` (quoted): the table, or one of its shards on a worker.
    pub fn copy_in(&self, relation: &str) -> String {
        sql::copy_in(relation, &self.columns, self.format())
    }

    /// Sets the job's chunks: resuming, the plan an earlier run `recorded` (usable while its key
    /// column still exists); else a new plan, made in the snapshot open on `snapshot` and recorded on
    /// the target (with `--truncate` in the transaction that empties the table).
    pub async fn plan(
        &mut self,
        snapshot: &Client,
        control: &Client,
        recorded: Option<&Vec<PlannedChunk>>,
        opts: &CopyOptions,
    ) -> Result<()> {
        if let (CopyMode::Resume, Some(plan)) = (opts.mode, recorded) {
            self.check_recorded_plan(plan)?;
            self.plan = plan.clone();
            return Ok(());
        }
        let stall = opts.stall_timeout;
        let chunk_bytes = opts.chunk_bytes.unwrap_or_else(|| {
            chunk::auto_chunk_bytes(self.route.as_ref().map(|m| m.shards.len()))
        });
        let chunks = within(
            stall,
            Side::Source,
            "planning chunks",
            self.new_plan(snapshot, chunk_bytes, opts.jobs),
        )
        .await?;
        let truncate = opts.mode == CopyMode::Truncate;
        within(
            stall,
            Side::Target,
            "recording the plan",
            bookkeeping::start_table(control, &self.name, &chunks, truncate),
        )
        .await?;
        self.plan = chunks
            .into_iter()
            .map(|chunk| PlannedChunk {
                chunk,
                committed: None,
            })
            .collect();
        Ok(())
    }

    /// A recorded plan is only usable while its key column still exists on the target.
    fn check_recorded_plan(&self, plan: &[PlannedChunk]) -> Result<()> {
        for p in plan {
            if let ChunkRange::Key { column, .. } = &p.chunk.range {
                if !self.target.columns.iter().any(|(c, _)| c == column) {
                    return Err(Error::Precondition {
                        side: Side::Target,
                        message: format!(
                            "the recorded copy plan of {} splits on column {column}, which no longer exists",
                            self.name
                        ),
                        remedy: Some(crate::error::Remedy::TruncateTable),
                    });
                }
            }
        }
        Ok(())
    }

    /// Chunks of about `chunk_bytes` of source table, reading key bounds in the snapshot (a multiple
    /// of `streams` chunks when there are several).
    async fn new_plan(
        &self,
        snapshot: &Client,
        chunk_bytes: u64,
        streams: usize,
    ) -> Result<Vec<Chunk>> {
        let facts = &self.source;
        let wanted = chunk::chunk_count(facts.table_bytes, chunk_bytes, streams);
        if wanted <= 1 {
            return Ok(chunk::whole_table());
        }
        if let Some(key) = &facts.key_column {
            let k = quote_ident(key);
            let sql = format!(
                "SELECT min({k})::int8, max({k})::int8 FROM {}",
                sql::rows_of(&self.name, facts.plain)
            );
            let rows = query(
                snapshot,
                Side::Source,
                &format!("reading the key range of {}", self.name),
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
        if facts.plain {
            return Ok(chunk::page_chunks(facts.pages, wanted));
        }
        Ok(chunk::whole_table())
    }
}

/// How an attempt at a chunk ended: the chunk is committed, by this attempt, or earlier (by an earlier
/// attempt or another run, whose recorded rows and bytes count instead).
pub(super) struct Outcome {
    pub rows: u64,
    pub bytes: u64,
    pub by_this_run: bool,
}

impl Outcome {
    /// A chunk committed earlier, with what its commit recorded.
    pub fn earlier((rows, bytes): (u64, u64)) -> Self {
        Outcome {
            rows,
            bytes,
            by_this_run: false,
        }
    }
}

/// One attempt at one chunk of a job: what both paths need besides their connections.
pub(super) struct ChunkAttempt<'a> {
    pub job: &'a TableJob,
    pub chunk: &'a Chunk,
    /// A step that makes no progress for this long has failed (see [`CopyOptions::stall_timeout`]).
    pub stall: Duration,
    /// `BEGIN` and the settings of a chunk's transaction on the target or a worker.
    pub begin: &'a str,
    /// Test hook: a pause before the decision's `COMMIT`.
    pub pause: Option<Duration>,
    /// Set when another stream failed or the caller gave up: the attempt stops at its next step.
    pub cancelled: &'a AtomicBool,
    /// Passes on the bytes and rows moved to the run's progress.
    pub advance: &'a dyn Fn(u64, u64),
}

impl ChunkAttempt<'_> {
    pub fn check_cancelled(&self) -> Result<(), Failure> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(Failure::cancelled());
        }
        Ok(())
    }

    /// Starts the chunk's `COPY … TO STDOUT` on `source`.
    pub async fn copy_out(&self, source: &Client) -> Result<CopyOutStream, Failure> {
        let job = self.job;
        let sql = sql::copy_out(
            &job.name,
            job.source.plain,
            &job.columns,
            &job.source.computed,
            self.chunk.predicate().as_deref(),
            job.format(),
        );
        watched_db(
            self.stall,
            Side::Source,
            "starting COPY TO STDOUT",
            source.copy_out(&sql),
        )
        .await
    }

    /// Reports bytes and rows moved; stops when the run was cancelled.
    pub fn moved(&self, bytes: u64, rows: u64) -> Result<(), Failure> {
        (self.advance)(bytes, rows);
        self.check_cancelled()
    }

    /// The decision for the chunk: marks it committed in the bookkeeping inside the transaction open
    /// on `control` (naming `txn`, the prepared transactions of a worker-direct chunk) and commits.
    /// When another run committed the chunk meanwhile, rolls back and returns what that run recorded
    /// (the caller keeps that and drops its own).
    pub async fn decide(
        &self,
        control: &Client,
        rows: u64,
        bytes: u64,
        txn: Option<&str>,
    ) -> Result<Outcome, Failure> {
        let (name, chunk) = (&self.job.name, self.chunk);
        // The decision must be on disk before it counts and before any `COMMIT PREPARED` reaches a
        // worker (Citus's own for a chunk through the coordinator, ours for a worker-direct one),
        // whatever the server's `synchronous_commit`: a crash would otherwise forget a decision the
        // workers acted on.
        execute(
            control,
            Side::Target,
            "making the chunk's decision durable",
            DURABLE_COMMIT,
        )
        .await?;
        if !bookkeeping::mark_committed(control, name, chunk, rows, bytes, txn).await? {
            execute(
                control,
                Side::Target,
                "rolling back a duplicate chunk",
                "ROLLBACK",
            )
            .await?;
            let recorded = bookkeeping::committed(control, name, chunk).await?;
            return Ok(Outcome::earlier(recorded.unwrap_or_default()));
        }
        if let Some(p) = self.pause {
            tokio::time::sleep(p).await;
        }
        watched(
            self.stall,
            Side::Target,
            "committing a chunk",
            execute(control, Side::Target, "committing a chunk", "COMMIT"),
        )
        .await?;
        Ok(Outcome {
            rows,
            bytes,
            by_this_run: true,
        })
    }
}
