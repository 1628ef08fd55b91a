//! The copy streams: each takes chunks from the shared queue and copies each in one target transaction
//! that also marks it in the bookkeeping; retries transient failures a bounded number of times.
//!
//! Every stream runs on an OS thread of its own with a single-threaded runtime that also drives the
//! stream's connections: a row read from the source is routed and written by the thread that received
//! it, without waking another thread (measured on pgbench_accounts: a third less CPU of our own than
//! the streams sharing one multi-threaded runtime). The caller's task stays free: it relays progress
//! events, and dropping it cancels the streams.

use std::collections::VecDeque;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tokio_postgres::Client;

use super::pump;
use super::retry::{self, Failure};
use super::snapshot::Snapshot;
use super::{bookkeeping, CopyOptions, CopySummary, TableCopySummary, TableJob};
use crate::connect::{connect, execute};
use crate::conninfo::ConnInfo;
use crate::error::{Error, Result, Side};
use crate::progress::Progress;

/// Settings of the target transaction that make COPY's text input read what the source wrote.
pub(super) const TARGET_SETTINGS: &str =
    "SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'postgres'; \
     SET LOCAL xmloption = content; SET LOCAL lc_monetary = 'C'";

/// What the streams share; owned, so that each stream can run on a thread of its own.
pub(super) struct Ctx {
    pub source: ConnInfo,
    pub target: ConnInfo,
    pub snapshot: Snapshot,
    pub jobs: Vec<TableJob>,
    /// `(table, chunk)` still to copy.
    pub queue: Mutex<VecDeque<(usize, usize)>>,
    pub state: Shared,
    pub opts: CopyOptions,
    pub test_pause: Option<Duration>,
    /// `BEGIN` and the transaction's settings.
    pub begin_sql: String,
    /// Set when a stream failed or the caller gave up: the other streams stop at their next step.
    cancelled: AtomicBool,
}

impl Ctx {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        source: ConnInfo,
        target: ConnInfo,
        snapshot: Snapshot,
        jobs: Vec<TableJob>,
        queue: VecDeque<(usize, usize)>,
        state: Shared,
        opts: CopyOptions,
        begin_sql: String,
    ) -> Self {
        Ctx {
            source,
            target,
            snapshot,
            jobs,
            queue: Mutex::new(queue),
            state,
            opts,
            test_pause: super::test_pause(),
            begin_sql,
            cancelled: AtomicBool::new(false),
        }
    }

    /// An error to stop with when another stream failed or the run was abandoned.
    pub fn check_cancelled(&self) -> Result<(), Failure> {
        if self.cancelled.load(Ordering::Relaxed) {
            return Err(Failure {
                error: Error::Other("stopped because the copy was cancelled".into()),
                retryable: false,
            });
        }
        Ok(())
    }
}

/// What a stream tells the caller's task, which passes it on to the [`Progress`] it was given.
pub(super) enum Event {
    Advance(usize, u64, u64),
    TableFinished(usize),
    Message(String),
    /// A stream ended (a panic is reported as an error).
    Done(Result<()>),
}

#[derive(Default, Clone)]
struct TableState {
    rows: u64,
    bytes: u64,
    skipped_chunks: u32,
    skipped_rows: u64,
    retries: u32,
    done_chunks: u32,
    first_start: Option<Instant>,
    last_end: Option<Instant>,
}

/// Counters shared by the streams, the run's log, and the way to the caller's [`Progress`].
pub(super) struct Shared {
    tables: Mutex<Vec<TableState>>,
    chunk_counts: Vec<u32>,
    pub log: RunLog,
    events: UnboundedSender<Event>,
}

impl Shared {
    pub fn new(jobs: &[TableJob], log: RunLog, events: UnboundedSender<Event>) -> Self {
        Shared {
            tables: Mutex::new(vec![TableState::default(); jobs.len()]),
            chunk_counts: jobs.iter().map(|j| j.plan.len() as u32).collect(),
            log,
            events,
        }
    }

    fn send(&self, e: Event) {
        // The receiver is gone only when the caller abandoned the run.
        let _ = self.events.send(e);
    }

    /// Bytes and rows of table `t` are done.
    pub fn advance(&self, t: usize, bytes: u64, rows: u64) {
        self.send(Event::Advance(t, bytes, rows));
    }

    pub fn skipped(&self, t: usize, rows: u64) {
        let mut s = self.tables.lock().unwrap();
        s[t].skipped_chunks += 1;
        s[t].skipped_rows += rows;
        s[t].done_chunks += 1;
    }

    pub fn table_done(&self, t: usize) -> bool {
        self.tables.lock().unwrap()[t].done_chunks == self.chunk_counts[t]
    }

    fn started(&self, t: usize) {
        let mut s = self.tables.lock().unwrap();
        s[t].first_start.get_or_insert_with(Instant::now);
    }

    fn retried(&self, t: usize) {
        self.tables.lock().unwrap()[t].retries += 1;
    }

    /// Records a committed chunk; true when it was the table's last.
    fn committed(&self, t: usize, rows: u64, bytes: u64, by_this_run: bool) -> bool {
        let mut s = self.tables.lock().unwrap();
        let st = &mut s[t];
        if by_this_run {
            st.rows += rows;
            st.bytes += bytes;
        } else {
            st.skipped_chunks += 1;
            st.skipped_rows += rows;
        }
        st.done_chunks += 1;
        st.last_end = Some(Instant::now());
        st.done_chunks == self.chunk_counts[t]
    }

    pub fn summary(&self, jobs: &[TableJob], opts: &CopyOptions, seconds: f64) -> CopySummary {
        let s = self.tables.lock().unwrap();
        let tables: Vec<TableCopySummary> = jobs
            .iter()
            .zip(s.iter())
            .map(|(j, st)| TableCopySummary {
                table: j.name.clone(),
                rows: st.rows,
                bytes: st.bytes,
                chunks: j.plan.len() as u32,
                skipped_chunks: st.skipped_chunks,
                skipped_rows: st.skipped_rows,
                retries: st.retries,
                worker_direct: j.route.is_some(),
                binary: j.binary,
                seconds: match (st.first_start, st.last_end) {
                    (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
                    _ => 0.0,
                },
            })
            .collect();
        CopySummary {
            rows: tables.iter().map(|t| t.rows).sum(),
            bytes: tables.iter().map(|t| t.bytes).sum(),
            tables,
            seconds,
            jobs: opts.jobs,
            mode: opts.mode,
        }
    }
}

/// The optional log in `--work-dir`: one line per chunk event, and the final summary.
pub(super) struct RunLog {
    dir: Option<std::path::PathBuf>,
    file: Option<Mutex<std::fs::File>>,
}

impl RunLog {
    pub fn open(dir: Option<&Path>) -> Result<Self> {
        let Some(dir) = dir else {
            return Ok(RunLog {
                dir: None,
                file: None,
            });
        };
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating work directory {}", dir.display()), e))?;
        let path = dir.join("copy.log");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        Ok(RunLog {
            dir: Some(dir.to_path_buf()),
            file: Some(Mutex::new(file)),
        })
    }

    fn line(&self, text: &str) {
        if let Some(f) = &self.file {
            let secs = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let _ = writeln!(f.lock().unwrap(), "{secs} {text}");
        }
    }

    pub fn finish(&self, summary: &CopySummary) -> Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let path = dir.join("summary.json");
        let text =
            serde_json::to_string_pretty(summary).map_err(|e| Error::Other(e.to_string()))?;
        std::fs::write(&path, text).map_err(|e| Error::io(format!("writing {}", path.display()), e))
    }
}

/// Connections of one stream; reopened after a failure.
#[derive(Default)]
pub(super) struct Conns {
    pub source: Option<Client>,
    pub target: Option<Client>,
    /// One connection per worker node, for worker-direct chunks.
    pub nodes: super::worker_direct::NodeConns,
    /// Where worker-direct chunks sort their rows out by shard.
    pub spill: Option<super::spill::Spill>,
}

/// Runs `streams` streams, each on a thread of its own, until the queue is empty or one fails (then
/// the others stop after their current step and the first error is returned). Progress events go to
/// `progress` from the caller's task. Dropping the returned future cancels the streams.
pub(super) async fn run_streams(
    ctx: Arc<Ctx>,
    mut events: tokio::sync::mpsc::UnboundedReceiver<Event>,
    streams: usize,
    progress: &dyn Progress,
) -> Result<()> {
    /// Cancels the streams when the caller stops waiting for them.
    struct CancelOnDrop(Arc<Ctx>);
    impl Drop for CancelOnDrop {
        fn drop(&mut self) {
            self.0.cancelled.store(true, Ordering::Relaxed);
        }
    }
    let guard = CancelOnDrop(ctx.clone());
    for i in 0..streams {
        let ctx = ctx.clone();
        std::thread::Builder::new()
            .name(format!("copy-stream-{i}"))
            .spawn(move || {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| Error::Other(format!("cannot start a copy stream: {e}")))?
                        .block_on(run(&ctx))
                }))
                .unwrap_or_else(|_| Err(Error::Other("a copy stream panicked".into())));
                ctx.state.send(Event::Done(result));
            })
            .map_err(|e| Error::Other(format!("cannot start a copy stream: {e}")))?;
    }
    let mut first_error = None;
    let mut running = streams;
    while running > 0 {
        // `ctx` holds a sender, so the channel stays open until every stream has said it is done.
        let Some(event) = events.recv().await else {
            break;
        };
        match event {
            Event::Advance(t, bytes, rows) => progress.advance(&ctx.jobs[t].name, bytes, rows),
            Event::TableFinished(t) => progress.table_finished(&ctx.jobs[t].name),
            Event::Message(text) => progress.message(&text),
            Event::Done(result) => {
                running -= 1;
                if let Err(e) = result {
                    ctx.cancelled.store(true, Ordering::Relaxed);
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    drop(guard);
    first_error.map_or(Ok(()), Err)
}

/// Runs one stream until the queue is empty.
async fn run(ctx: &Ctx) -> Result<()> {
    let mut conns = Conns::default();
    loop {
        ctx.check_cancelled().map_err(|f| f.error)?;
        let Some((t, c)) = ctx.queue.lock().unwrap().pop_front() else {
            break;
        };
        copy_chunk(ctx, &mut conns, t, c).await?;
    }
    if let Some(s) = conns.source.take() {
        let _ = execute(&s, Side::Source, "ending a source transaction", "COMMIT").await;
    }
    Ok(())
}

async fn copy_chunk(ctx: &Ctx, conns: &mut Conns, t: usize, c: usize) -> Result<()> {
    let job = &ctx.jobs[t];
    let chunk = &job.plan[c].chunk;
    ctx.state.started(t);
    let mut attempt = 0u32;
    loop {
        let result = attempt_chunk(ctx, conns, job, chunk, attempt > 0).await;
        match result {
            Ok(Outcome {
                rows,
                bytes,
                by_this_run,
            }) => {
                ctx.state.log.line(&format!(
                    "{} {} {} rows={rows} bytes={bytes}",
                    if by_this_run {
                        "committed"
                    } else {
                        "already-committed"
                    },
                    job.name,
                    chunk.describe()
                ));
                if ctx.state.committed(t, rows, bytes, by_this_run) {
                    ctx.state.send(Event::TableFinished(t));
                }
                if let Some(p) = ctx.test_pause {
                    tokio::time::sleep(p).await;
                }
                return Ok(());
            }
            Err(f) => {
                *conns = Conns::default();
                if f.retryable && attempt < ctx.opts.max_retries {
                    attempt += 1;
                    ctx.state.retried(t);
                    let msg = format!(
                        "retrying {} {} (attempt {} of {}) after: {}",
                        job.name,
                        chunk.describe(),
                        attempt + 1,
                        ctx.opts.max_retries + 1,
                        f.error
                    );
                    ctx.state.log.line(&msg);
                    ctx.state.send(Event::Message(msg));
                    tokio::time::sleep(retry::backoff(attempt)).await;
                    continue;
                }
                let tries = if f.retryable {
                    format!(" after {} attempts", attempt + 1)
                } else {
                    String::new()
                };
                ctx.state.log.line(&format!(
                    "failed {} {}{tries}: {}",
                    job.name,
                    chunk.describe(),
                    f.error
                ));
                return Err(Error::Other(format!(
                    "copying {} failed at {}{tries}: {}. Committed chunks are kept; fix the cause and run again with --resume",
                    job.name,
                    chunk.describe(),
                    f.error
                )));
            }
        }
    }
}

pub(super) struct Outcome {
    pub rows: u64,
    pub bytes: u64,
    pub by_this_run: bool,
}

impl Outcome {
    /// A chunk another run (or an earlier attempt) committed, with what it recorded.
    pub fn earlier((rows, bytes): (u64, u64)) -> Self {
        Outcome {
            rows,
            bytes,
            by_this_run: false,
        }
    }
}

async fn attempt_chunk(
    ctx: &Ctx,
    conns: &mut Conns,
    job: &TableJob,
    chunk: &super::chunk::Chunk,
    retry: bool,
) -> Result<Outcome, Failure> {
    if let Some(map) = &job.route {
        return super::worker_direct::attempt(ctx, conns, job, map, chunk, retry).await;
    }
    if conns.target.is_none() {
        conns.target = Some(connect(&ctx.target).await?);
    }
    let target = conns.target.as_ref().unwrap();
    if retry {
        // An earlier attempt may have committed before its connection was lost.
        if let Some((rows, bytes)) = bookkeeping::committed(target, &job.name, chunk).await? {
            return Ok(Outcome::earlier((rows, bytes)));
        }
    }
    if conns.source.is_none() {
        conns.source = Some(ctx.snapshot.reader(&ctx.source).await.map_err(|e| {
            // A lost snapshot cannot come back: not worth retrying.
            let retryable = retry::is_transient(&e) && !ctx.snapshot.client().is_closed();
            Failure {
                error: e,
                retryable,
            }
        })?);
    }
    let source = conns.source.as_ref().unwrap();
    let stall = ctx.opts.stall_timeout;
    execute(
        target,
        Side::Target,
        "starting the chunk transaction",
        &ctx.begin_sql,
    )
    .await?;
    let moved = pump::pump(
        source,
        &job.copy_out_base.for_chunk(chunk),
        target,
        &job.copy_in_sql,
        job.binary,
        stall,
        |b, r| {
            ctx.state.advance(job.index, b, r);
            ctx.check_cancelled()
        },
    )
    .await?;
    if let Some((rows, bytes)) =
        commit_chunk(ctx, target, job, chunk, moved.rows, moved.bytes, None).await?
    {
        return Ok(Outcome::earlier((rows, bytes)));
    }
    Ok(Outcome {
        rows: moved.rows,
        bytes: moved.bytes,
        by_this_run: true,
    })
}

/// The decision for a chunk: marks it committed in the bookkeeping inside the transaction open on
/// `control` (naming `txn`, the prepared transactions of a worker-direct chunk) and commits. When
/// another run committed the chunk meanwhile, rolls back and returns the rows and bytes that run
/// recorded (the caller keeps those and drops its own).
pub(super) async fn commit_chunk(
    ctx: &Ctx,
    control: &Client,
    job: &TableJob,
    chunk: &super::chunk::Chunk,
    rows: u64,
    bytes: u64,
    txn: Option<&str>,
) -> Result<Option<(u64, u64)>, Failure> {
    // The decision must be on disk before it counts and before any `COMMIT PREPARED` reaches a
    // worker (Citus's own for a chunk through the coordinator, ours for a worker-direct one), whatever
    // the server's `synchronous_commit`: a crash would otherwise forget a decision the workers acted on.
    execute(
        control,
        Side::Target,
        "making the chunk's decision durable",
        bookkeeping::DURABLE_COMMIT,
    )
    .await?;
    if !bookkeeping::mark_committed(control, &job.name, chunk, rows, bytes, txn).await? {
        execute(
            control,
            Side::Target,
            "rolling back a duplicate chunk",
            "ROLLBACK",
        )
        .await?;
        let recorded = bookkeeping::committed(control, &job.name, chunk).await?;
        return Ok(Some(recorded.unwrap_or_default()));
    }
    if let Some(p) = ctx.test_pause {
        tokio::time::sleep(p).await;
    }
    let stall = ctx.opts.stall_timeout;
    tokio::time::timeout(
        stall,
        execute(control, Side::Target, "committing a chunk", "COMMIT"),
    )
    .await
    .map_err(|_| {
        Failure::stalled(Error::Other(format!(
            "target: COMMIT did not answer within {}s",
            stall.as_secs()
        )))
    })??;
    Ok(None)
}
