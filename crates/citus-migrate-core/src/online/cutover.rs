//! Ending an online migration: `cutover` (drain to the source's current position with writes stopped,
//! sequences, verify, then drop slot and publication) and `abort` (drop them, nothing else). Both first
//! ask a following run to stop and wait for the work directory's lock, so only one process ever applies.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio_postgres::Client;

use super::follow::Follower;
use super::slot;
use super::state::{BlockedWrites, Files, OnlineState, Origin, Stage};
use crate::catalog::{self, ReadOptions};
use crate::connect::{connect, execute_script, query};
use crate::conninfo::ConnInfo;
use crate::error::{Error, Result, Side};
use crate::ident::{quote_ident, quote_literal};
use crate::plan::Plan;
use crate::progress::Progress;
use crate::verify::{self, VerifyOptions, VerifyReport};
use crate::workdir::{Step, WorkDir};

#[derive(Debug, Clone)]
pub struct CutoverOptions {
    /// Make the source's database read-only for the cutover (and end the sessions connected to it),
    /// restored afterwards. Without it the user has stopped the writes.
    pub block_writes: bool,
    /// Parallel connections per side for the verification.
    pub jobs: usize,
    /// How long to wait for a following run to stop.
    pub wait: Duration,
    /// Test hook: abort the process after the drain's n-th target commit (see
    /// [`super::FollowOptions`]).
    #[doc(hidden)]
    pub test_crash_after_commits: Option<u64>,
}

impl Default for CutoverOptions {
    fn default() -> Self {
        CutoverOptions {
            block_writes: false,
            jobs: 4,
            wait: Duration::from_secs(120),
            test_crash_after_commits: None,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CutoverSummary {
    /// Transactions and changes applied while draining.
    pub transactions: u64,
    pub changes: u64,
    /// The source position drained to.
    pub drained_to: String,
    pub sequences: usize,
    pub verify: VerifyReport,
    pub equal: bool,
    /// How long the source refused writes (with `block_writes`).
    pub write_blocked_seconds: Option<f64>,
    /// Slot and publication dropped (only when the target verified equal).
    pub dropped: bool,
    pub seconds: f64,
}

#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct AbortSummary {
    pub slot: String,
    pub slot_dropped: bool,
    pub publication_dropped: bool,
}

/// Asks a following run to stop and takes the work directory once it has.
fn take_work_dir(root: &Path, files: &Files, wait: Duration) -> Result<WorkDir> {
    files.request_stop()?;
    let deadline = Instant::now() + wait;
    loop {
        match WorkDir::open(root, true) {
            Ok((wd, _)) => {
                files.clear_stop()?;
                return Ok(wd);
            }
            Err(e) if Instant::now() < deadline && WorkDir::is_locked(root) => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => {
                let _ = files.clear_stop();
                return Err(e);
            }
        }
    }
}

fn require_stage(root: &Path, files: &Files) -> Result<OnlineState> {
    if !files.exists() {
        return Err(Error::usage(format!(
            "{} holds no online migration",
            root.display()
        )));
    }
    let state = files.load()?;
    match state.stage {
        Stage::Following => Ok(state),
        Stage::CutOver => Err(Error::usage(format!(
            "the online migration in {} is already cut over",
            root.display()
        ))),
        Stage::Aborted => Err(Error::usage(format!(
            "the online migration in {} was aborted",
            root.display()
        ))),
    }
}

/// Drains, sets the sequences, verifies and, when the target is equal, drops slot and publication.
pub async fn cutover(
    source: &ConnInfo,
    target: &ConnInfo,
    work_dir: &Path,
    opts: &CutoverOptions,
    progress: &dyn Progress,
) -> Result<CutoverSummary> {
    let started = Instant::now();
    let files = Files::new(work_dir);
    let origin = require_stage(work_dir, &files)?.origin;
    let wd = take_work_dir(work_dir, &files, opts.wait)?;
    let (_, run) = WorkDir::open_state(work_dir)?;
    let steps: &[Step] = match origin {
        Origin::Migrate => &[Step::Copy, Step::PostData, Step::Sequences, Step::Analyze],
        Origin::Copy => &[Step::Copy],
    };
    if let Some(step) = steps.iter().copied().find(|s| !run.is_finished(*s)) {
        return Err(Error::Precondition {
            side: Side::Target,
            message: format!(
                "the migration in {} has not finished its {step} step: resume it (with the online option) \
                 before cutting over",
                work_dir.display()
            ),
            remedy: None,
        });
    }
    wd.log("cutover started");
    let mut state = files.load()?;
    // An interrupted cutover that blocked the writes left the source read-only: this one keeps it so
    // while it drains, and gives the writes back afterwards, with or without being asked to block.
    let blocked_at = if opts.block_writes || state.blocked_writes.is_some() {
        if !opts.block_writes {
            progress.message(
                "online: an interrupted cutover left the source's database read-only; it stays so \
                 until this cutover has drained, then takes writes again",
            );
        }
        Some(block_writes(source, &files, &mut state).await?)
    } else {
        None
    };
    let result = drain_and_verify(source, target, work_dir, &run, origin, opts, progress).await;
    // The source takes writes again whatever happened.
    let write_blocked_seconds = match blocked_at {
        Some(t) => {
            restore_writes(source, &files, &mut state).await?;
            Some(t.elapsed().as_secs_f64())
        }
        None => None,
    };
    let (transactions, changes, drained_to, sequences, verify) = result?;
    let equal = verify.equal;
    if equal {
        let client = connect(source).await?;
        slot::drop_both(&client, &state.slot, &state.publication).await?;
        state.stage = Stage::CutOver;
        files.save(&state)?;
    }
    wd.log(&format!(
        "cutover {}: drained to {drained_to}, {transactions} transactions",
        if equal {
            "done"
        } else {
            "verified differences"
        }
    ));
    Ok(CutoverSummary {
        transactions,
        changes,
        drained_to,
        sequences,
        equal,
        verify,
        write_blocked_seconds,
        dropped: equal,
        seconds: started.elapsed().as_secs_f64(),
    })
}

async fn drain_and_verify(
    source: &ConnInfo,
    target: &ConnInfo,
    work_dir: &Path,
    run: &crate::workdir::State,
    origin: Origin,
    opts: &CutoverOptions,
    progress: &dyn Progress,
) -> Result<(u64, u64, String, usize, VerifyReport)> {
    let files = Files::new(work_dir);
    let hooks = super::follow::Hooks {
        crash_after_commits: opts.test_crash_after_commits,
    };
    let mut f = Follower::start(source, target, files, hooks).await?;
    let upto = f.written_and_flushed_lsn().await?;
    progress.step("drain");
    loop {
        let round = f.round(upto, false).await?;
        progress.online(&f.status);
        if round.exhausted {
            break;
        }
    }
    let drained_to = super::snapshot::format_lsn(f.applied.max(upto));
    progress.step("sequences");
    let filters = run.selection.clone().unwrap_or_default();
    let src = connect(source).await?;
    let tgt = connect(target).await?;
    let catalog = catalog::read(
        &src,
        &ReadOptions {
            filters: filters.clone(),
            exact_counts: false,
            jobs: 1,
        },
    )
    .await?;
    let sequences = crate::sequences::advance(&src, None, &tgt, &catalog, &filters, || {}).await?;
    progress.step("verify");
    // A copy of a table selection has no plan: its tables are verified, not a layout. (An online copy
    // with columns computed from a plan is refused before it starts.)
    let (expected_layout, computed_columns) = match origin {
        Origin::Migrate => {
            let plan = Plan::load(&work_dir.join("plan.json"))?;
            (
                (!run.skip_distribution).then(|| verify::expected_layout(&plan)),
                crate::plan::changes::computed_columns(&catalog, &plan),
            )
        }
        Origin::Copy => Default::default(),
    };
    let report = verify::verify(
        source,
        target,
        &VerifyOptions {
            filters,
            expected_layout,
            jobs: opts.jobs,
            check_sequences: true,
            ranges: Default::default(),
            copy_ranges: true,
            computed_columns,
        },
        progress,
    )
    .await?;
    Ok((
        f.status.transactions,
        f.status.changes,
        drained_to,
        sequences,
        report,
    ))
}

/// `ALTER DATABASE … SET default_transaction_read_only = on` and ends the database's other sessions
/// (their open transactions could still write). What to restore is recorded first.
async fn block_writes(
    source: &ConnInfo,
    files: &Files,
    state: &mut OnlineState,
) -> Result<Instant> {
    let client = connect(source).await?;
    let rows = query(
        &client,
        Side::Source,
        "reading the database's settings",
        "SELECT current_database()::text, \
                (SELECT split_part(s, '=', 2) FROM pg_catalog.pg_db_role_setting d, unnest(d.setconfig) s \
                 WHERE d.setdatabase = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()) \
                   AND d.setrole = 0 AND s LIKE 'default_transaction_read_only=%')",
        &[],
    )
    .await?;
    let database: String = rows[0].get(0);
    let previous: Option<String> = rows[0].get(1);
    if state.blocked_writes.is_none() {
        state.blocked_writes = Some(BlockedWrites {
            database: database.clone(),
            previous,
        });
        files.save(state)?;
    }
    let at = Instant::now();
    execute_script(
        &client,
        Side::Source,
        "making the source database read-only",
        &format!(
            // READ WRITE: after an interrupted cutover new sessions are read-only already.
            "BEGIN READ WRITE; ALTER DATABASE {} SET default_transaction_read_only = on; COMMIT",
            quote_ident(&database)
        ),
    )
    .await?;
    query(
        &client,
        Side::Source,
        "ending the sessions that could still write",
        "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_catalog.pg_backend_pid() \
           AND backend_type = 'client backend'",
        &[],
    )
    .await?;
    Ok(at)
}

/// Puts back what `block_writes` changed, as recorded.
async fn restore_writes(source: &ConnInfo, files: &Files, state: &mut OnlineState) -> Result<()> {
    let Some(b) = state.blocked_writes.clone() else {
        return Ok(());
    };
    let client: Client = connect(source).await?;
    let set = match &b.previous {
        Some(v) => format!("SET default_transaction_read_only = {}", quote_literal(v)),
        None => "RESET default_transaction_read_only".into(),
    };
    execute_script(
        &client,
        Side::Source,
        "making the source database writable again",
        &format!(
            "BEGIN READ WRITE; ALTER DATABASE {} {set}; COMMIT",
            quote_ident(&b.database)
        ),
    )
    .await?;
    state.blocked_writes = None;
    files.save(state)
}

/// Drops slot and publication (and gives the source its writes back if a cutover was interrupted with
/// them blocked). Works at any stage before the cutover.
pub async fn abort(
    source: &ConnInfo,
    work_dir: &Path,
    wait: Duration,
    progress: &dyn Progress,
) -> Result<AbortSummary> {
    let files = Files::new(work_dir);
    let mut state = require_stage(work_dir, &files)?;
    let wd = take_work_dir(work_dir, &files, wait)?;
    restore_writes(source, &files, &mut state).await?;
    let client = connect(source).await?;
    let (slot_dropped, publication_dropped) =
        slot::drop_both(&client, &state.slot, &state.publication).await?;
    state.stage = Stage::Aborted;
    files.save(&state)?;
    wd.log("online migration aborted: slot and publication dropped");
    progress.message(&format!(
        "online: slot {} {}, publication {}",
        state.slot,
        if slot_dropped {
            "dropped"
        } else {
            "was already gone"
        },
        if publication_dropped {
            "dropped"
        } else {
            "was already gone"
        }
    ));
    Ok(AbortSummary {
        slot: state.slot,
        slot_dropped,
        publication_dropped,
    })
}
