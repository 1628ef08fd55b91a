//! The parallel copy streams (not the Citus workers: those are `worker_direct.rs`): each takes chunks
//! from the shared queue; every attempt at a chunk starts with the setup both paths share, then goes
//! through the target ([`via_coordinator`]) or straight to the shards ([`worker_direct`]); transient
//! failures are retried a bounded number of times.
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
use std::time::Instant;

use tokio::sync::mpsc::UnboundedSender;
use tokio_postgres::Client;

use super::chunk::Chunk;
use super::job::{ChunkAttempt, Outcome, TableJob};
use super::retry::{self, Failure};
use super::snapshot::Snapshot;
use super::{bookkeeping, sql, via_coordinator, worker_direct, CopyOptions, TableCopySummary};
use crate::connect::{connect, execute};
use crate::conninfo::ConnInfo;
use crate::error::{Error, Remedy, Result, Side};
use crate::progress::Progress;

/// What the streams share; owned, so that each stream can run on a thread of its own.
struct Ctx {
    source: ConnInfo,
    target: ConnInfo,
    snapshot: Snapshot,
    jobs: Vec<TableJob>,
    /// `(table, chunk)` still to copy.
    queue: Mutex<VecDeque<(usize, usize)>>,
    state: Shared,
    opts: CopyOptions,
    /// `BEGIN` and the settings of a chunk's transaction on the target.
    begin: String,
    /// Set when a stream failed or the caller gave up: the other streams stop at their next step.
    cancelled: AtomicBool,
}

/// Copies the chunks of `jobs` that no earlier run committed, with `opts.jobs` streams (at most one
/// per chunk), then ends the snapshot; says per table what was done. `citus`: the target is a Citus
/// coordinator.
pub(super) async fn run(
    source: &ConnInfo,
    target: &ConnInfo,
    snapshot: Snapshot,
    jobs: Vec<TableJob>,
    opts: &CopyOptions,
    citus: bool,
    progress: &dyn Progress,
) -> Result<Vec<TableCopySummary>> {
    let log = RunLog::open(opts.work_dir.as_deref())?;
    let (events, receiver) = tokio::sync::mpsc::unbounded_channel();
    let state = Shared::new(&jobs, log, events);
    let mut queue = VecDeque::new();
    for (t, job) in jobs.iter().enumerate() {
        progress.table_started(&job.name, job.source.table_bytes, job.source.rows_estimate);
        for (c, planned) in job.plan.iter().enumerate() {
            match planned.committed {
                Some((rows, bytes)) => state.skipped(t, rows, bytes),
                None => queue.push_back((t, c)),
            }
        }
        if state.table_done(t) {
            progress.table_finished(&job.name);
        }
    }
    let streams = opts.jobs.min(queue.len());
    let ctx = Arc::new(Ctx {
        source: source.clone(),
        target: target.clone(),
        snapshot,
        jobs,
        queue: Mutex::new(queue),
        state,
        opts: opts.clone(),
        begin: sql::begin_target(citus),
        cancelled: AtomicBool::new(false),
    });
    run_streams(ctx.clone(), receiver, streams, progress).await?;
    ctx.snapshot.release().await?;
    Ok(ctx.state.summary(&ctx.jobs))
}

/// What a stream tells the caller's task, which passes it on to the [`Progress`] it was given.
enum Event {
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
    skipped_bytes: u64,
    retries: u32,
    done_chunks: u32,
    first_start: Option<Instant>,
    last_end: Option<Instant>,
}

/// Counters shared by the streams, the run's log, and the way to the caller's [`Progress`].
struct Shared {
    tables: Mutex<Vec<TableState>>,
    chunk_counts: Vec<u32>,
    log: RunLog,
    events: UnboundedSender<Event>,
}

impl Shared {
    fn new(jobs: &[TableJob], log: RunLog, events: UnboundedSender<Event>) -> Self {
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
    fn advance(&self, t: usize, bytes: u64, rows: u64) {
        self.send(Event::Advance(t, bytes, rows));
    }

    fn skipped(&self, t: usize, rows: u64, bytes: u64) {
        let mut s = self.tables.lock().unwrap();
        s[t].skipped_chunks += 1;
        s[t].skipped_rows += rows;
        s[t].skipped_bytes += bytes;
        s[t].done_chunks += 1;
    }

    fn table_done(&self, t: usize) -> bool {
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
            st.skipped_bytes += bytes;
        }
        st.done_chunks += 1;
        st.last_end = Some(Instant::now());
        st.done_chunks == self.chunk_counts[t]
    }

    fn summary(&self, jobs: &[TableJob]) -> Vec<TableCopySummary> {
        let s = self.tables.lock().unwrap();
        jobs.iter()
            .zip(s.iter())
            .map(|(j, st)| TableCopySummary {
                table: j.name.clone(),
                rows: st.rows,
                bytes: st.bytes,
                chunks: j.plan.len() as u32,
                skipped_chunks: st.skipped_chunks,
                skipped_rows: st.skipped_rows,
                skipped_bytes: st.skipped_bytes,
                retries: st.retries,
                worker_direct: j.route.is_some(),
                inserts: j.inserts,
                binary: j.binary,
                seconds: match (st.first_start, st.last_end) {
                    (Some(a), Some(b)) => b.duration_since(a).as_secs_f64(),
                    _ => 0.0,
                },
            })
            .collect()
    }
}

/// The optional log in `--work-dir`: one line per chunk event.
struct RunLog {
    file: Option<Mutex<std::fs::File>>,
}

impl RunLog {
    fn open(dir: Option<&Path>) -> Result<Self> {
        let Some(dir) = dir else {
            return Ok(RunLog { file: None });
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
}

/// Connections of one stream; reopened after a failure.
#[derive(Default)]
struct Conns {
    source: Option<Client>,
    target: Option<Client>,
    /// For worker-direct chunks.
    nodes: worker_direct::Nodes,
}

/// Runs `streams` streams, each on a thread of its own, until the queue is empty or one fails (then
/// the others stop after their current step and the first error is returned). Progress events go to
/// `progress` from the caller's task. Dropping the returned future cancels the streams.
async fn run_streams(
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
                        .block_on(stream(&ctx))
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
async fn stream(ctx: &Ctx) -> Result<()> {
    let mut conns = Conns::default();
    loop {
        if ctx.cancelled.load(Ordering::Relaxed) {
            return Err(Failure::cancelled().error);
        }
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
                if let Some(p) = ctx.opts.test_pause {
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
                return Err(Error::Stopped {
                    context: format!("copying {} failed at {}{tries}", job.name, chunk.describe()),
                    source: Box::new(f.error),
                    remedy: Remedy::ResumeCopy,
                });
            }
        }
    }
}

/// One attempt at a chunk, on either path, after the setup both share: the target connection; on a
/// retry, what an earlier attempt left (it may have committed before its connection was lost, and on
/// the worker-direct path what it prepared holds locks until committed or rolled back); a source
/// connection in the snapshot.
async fn attempt_chunk(
    ctx: &Ctx,
    conns: &mut Conns,
    job: &TableJob,
    chunk: &Chunk,
    retry: bool,
) -> Result<Outcome, Failure> {
    if conns.target.is_none() {
        conns.target = Some(connect(&ctx.target).await?);
    }
    let control = conns.target.as_ref().unwrap();
    if retry {
        if let Some(map) = &job.route {
            worker_direct::recover_chunk(control, &ctx.target, &mut conns.nodes, map, chunk)
                .await?;
        }
        if let Some(recorded) = bookkeeping::committed(control, &job.name, chunk).await? {
            return Ok(Outcome::earlier(recorded));
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
    let advance = |bytes, rows| ctx.state.advance(job.index, bytes, rows);
    let at = ChunkAttempt {
        job,
        chunk,
        stall: ctx.opts.stall_timeout,
        begin: &ctx.begin,
        pause: ctx.opts.test_pause,
        cancelled: &ctx.cancelled,
        advance: &advance,
    };
    match &job.route {
        None => via_coordinator::copy_chunk(&at, source, control).await,
        Some(map) => {
            worker_direct::copy_chunk(&at, map, &ctx.target, source, control, &mut conns.nodes)
                .await
        }
    }
}
