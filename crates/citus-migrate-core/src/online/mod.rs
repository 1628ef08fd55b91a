//! Online migration: the source keeps writing while the copy runs; afterwards its changes are caught
//! up into the target until the cutover.
//!
//! Before the copy takes its snapshot, a publication for the selected tables and a logical replication
//! slot (`pgoutput`) are created on the source through PostgreSQL's SQL functions; the copy records its
//! snapshot (`pg_current_snapshot()`, [`CopySnapshot`]). The catch-up ([`follow`]) reads the slot's
//! transactions in commit order and skips exactly those the copy's snapshot already saw, so every change
//! is in the target once: no gap, no overlap. Each target transaction applies whole source transactions
//! and records the position reached in `citus_migrate.online_progress`; the slot advances only after
//! that commit. [`cutover`] drains to the source's current position, sets the sequences, verifies, and
//! drops slot and publication; [`abort`] drops them at any stage. [`status`] reads the catch-up's last
//! figures from the work directory. docs/online.md has the design and its guarantees.
//!
//! Inside: `slot` (checks, publication, slot), `pgoutput` (the messages), `snapshot` (the copy's
//! snapshot, visibility), `apply` (a change as SQL), `follow` (the catch-up loop), `state` (the files
//! in the work directory), `cutover` (cutover and abort).

mod apply;
mod cutover;
mod follow;
mod pgoutput;
mod retention;
mod slot;
mod snapshot;
mod state;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

pub use cutover::{abort, cutover, AbortSummary, CutoverOptions, CutoverSummary};
pub use snapshot::CopySnapshot;
pub use state::{AddedColumn, Hop, OnlineStatus, Origin, Stage};

use crate::connect::connect;
use crate::conninfo::ConnInfo;
use crate::error::{Error, Result, Side};
use crate::ident::QualifiedName;
use crate::progress::Progress;
use state::{Files, OnlineState};

use crate::copy::{copy_tables, CopyMode, CopyOptions, CopySummary};
use crate::filter::Selection;
use crate::workdir::{State, Step, StepStatus, WorkDir};

/// Whether `work_dir` holds an online migration.
pub fn is_online(work_dir: &Path) -> bool {
    Files::new(work_dir).exists()
}

/// Where the copy of an online migration records its snapshot.
pub(crate) fn snapshot_file(work_dir: &Path) -> PathBuf {
    Files::new(work_dir).snapshot_path()
}

/// The up-front checks of an online migration of `tables` (before anything is created anywhere):
/// `wal_level`, a free slot, the rights, each table's replica identity; each problem with its fix.
pub(crate) async fn check_source(
    source: &ConnInfo,
    tables: &[QualifiedName],
    progress: &dyn Progress,
) -> Result<()> {
    let client = connect(source).await?;
    slot::check(&client, tables, progress).await.map(|_| ())
}

/// Checks the source and creates the publication and the slot for `tables`, unless the work directory
/// already has them (a resumed run): then the slot must still exist, or no copy may have started
/// after it was to be made (then both are made again).
async fn prepare(
    source: &ConnInfo,
    target: &ConnInfo,
    work_dir: &Path,
    tables: &[QualifiedName],
    origin: Origin,
    added: &[AddedColumn],
    progress: &dyn Progress,
) -> Result<()> {
    let files = Files::new(work_dir);
    let client = connect(source).await?;
    let name = if files.exists() {
        let state = files.load()?;
        if slot::exists(&client, &state.slot).await? {
            return Ok(());
        }
        if files.snapshot_path().exists() {
            return Err(Error::Precondition {
                side: Side::Source,
                message: format!(
                    "the replication slot {} of this online migration is gone from the source (dropped, or \
                     invalidated by max_slot_wal_keep_size), so changes since the copy may be lost; abort the \
                     online migration and start over",
                    state.slot
                ),
                remedy: None,
            });
        }
        // An earlier run stopped before the slot existed (e.g. it may not create the publication):
        // no copy has read anything yet, so start from scratch with the same names.
        slot::drop_both(&client, &state.slot, &state.publication).await?;
        state.slot
    } else {
        format!(
            "citus_migrate_{}_{:x}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0)
        )
    };
    // The warnings were given by the checks before the first step.
    let columns = slot::check(&client, tables, &crate::progress::NoProgress).await?;
    let state = OnlineState {
        slot: name.clone(),
        publication: name.clone(),
        stage: Stage::Following,
        tables: columns,
        blocked_writes: None,
        origin,
        added: added.to_vec(),
    };
    // Recorded first: an abort after a crash right after the CREATEs still knows what to drop.
    files.save(&state)?;
    slot::create(&client, &name, &name, tables).await?;
    let tgt = connect(target).await?;
    follow::ensure_progress_table(&tgt).await?;
    progress.message(&format!(
        "online: publication and replication slot {name} created on the source"
    ));
    Ok(())
}

/// The copy of an online migration, for `migrate` and `copy` alike: creates the publication and the
/// slot for `tables` (or finds them, resumed), then copies the tables from a snapshot taken after the
/// slot, recorded for the catch-up. A `resumed` copy starts over (the tables are emptied) from a new
/// snapshot: every chunk must come from the one snapshot the catch-up starts at.
pub(crate) async fn copy_after_slot(
    source: &ConnInfo,
    target: &ConnInfo,
    run: &SlotCopy<'_>,
    opts: &CopyOptions,
    progress: &dyn Progress,
) -> Result<CopySummary> {
    prepare(
        source,
        target,
        run.work_dir,
        run.tables,
        run.origin,
        run.added,
        progress,
    )
    .await?;
    let opts = CopyOptions {
        mode: if run.resumed {
            CopyMode::Truncate
        } else {
            opts.mode
        },
        snapshot_file: Some(snapshot_file(run.work_dir)),
        ..opts.clone()
    };
    copy_tables(source, target, run.tables, &opts, progress).await
}

/// What [`copy_after_slot`] copies, and for whom.
pub(crate) struct SlotCopy<'a> {
    pub work_dir: &'a Path,
    pub tables: &'a [QualifiedName],
    pub origin: Origin,
    /// The columns the plan adds (recorded for the catch-up).
    pub added: &'a [AddedColumn],
    /// An earlier attempt at the copy was interrupted.
    pub resumed: bool,
}

/// How `copy` runs online ([`copy`]).
#[derive(Debug, Clone, Default)]
pub struct OnlineCopyOptions {
    /// The work directory: the online migration's files, the copy's log, the lock.
    pub work_dir: PathBuf,
    /// Continue the online copy recorded in the work directory (the copy again if it was interrupted,
    /// else the catch-up).
    pub resume: bool,
    /// The copy's options (its mode for a new run; its work directory and snapshot are set here).
    pub copy: CopyOptions,
    pub follow: FollowOptions,
}

/// What an online copy did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct OnlineCopySummary {
    /// The copy of this run (None: an earlier run finished it).
    pub copy: Option<CopySummary>,
    pub follow: FollowSummary,
}

/// `copy` online: a publication and a slot for just `tables`, the copy of those tables from the
/// slot's snapshot, then the catch-up of their changes until a cutover or an abort on the same work
/// directory. The cutover sets the sequences those tables own and verifies those tables.
pub async fn copy(
    source: &ConnInfo,
    target: &ConnInfo,
    tables: &[QualifiedName],
    opts: &OnlineCopyOptions,
    progress: &dyn Progress,
) -> Result<OnlineCopySummary> {
    if let Some(t) = opts.copy.computed_columns.keys().next() {
        return Err(added_columns_refused(std::slice::from_ref(t)));
    }
    let work_dir = &opts.work_dir;
    let (wd, state) = WorkDir::open(work_dir, opts.resume)?;
    let quoted: Vec<String> = tables.iter().map(QualifiedName::quoted).collect();
    let selection = Selection::new(&[], &quoted, &[], &[])?;
    let mut state = match state {
        Some(s) if !is_online(work_dir) || files_origin(work_dir)? == Origin::Copy => {
            if s.selection.as_ref() != Some(&selection) {
                return Err(Error::usage(format!(
                    "the online copy in {} copies other tables ({}); resume it with the same tables",
                    work_dir.display(),
                    s.selection
                        .as_ref()
                        .map(|s| s.tables.iter().map(|p| p.as_str()).collect::<Vec<_>>().join(", "))
                        .unwrap_or_default()
                )));
            }
            s
        }
        Some(_) => {
            return Err(Error::usage(format!(
                "{} holds an online migration, not an online copy: resume it as it was started",
                work_dir.display()
            )))
        }
        None => {
            let mut s = State::new(source.to_string(), target.to_string());
            s.selection = Some(selection);
            // No plan: the cutover verifies rows and sequences, not a Citus layout.
            s.skip_distribution = true;
            s
        }
    };
    let copied = if state.is_finished(Step::Copy) {
        progress.message("copy: done in an earlier run, skipped");
        None
    } else {
        if !is_online(work_dir) {
            if let Err(e) = check_source(source, tables, progress).await {
                wd.log(&format!("stopped before the copy: {e}"));
                wd.discard();
                return Err(e);
            }
        }
        state.start(Step::Copy);
        wd.save(&mut state)?;
        let resumed = state.record(Step::Copy).is_some_and(|r| r.attempts > 1);
        let copy_opts = CopyOptions {
            work_dir: Some(wd.copy_dir()),
            ..opts.copy.clone()
        };
        let t0 = Instant::now();
        let run = SlotCopy {
            work_dir,
            tables,
            origin: Origin::Copy,
            added: &[],
            resumed,
        };
        let summary = copy_after_slot(source, target, &run, &copy_opts, progress).await;
        state.add_time(Step::Copy, t0.elapsed().as_secs_f64());
        let summary = match summary {
            Ok(s) => s,
            Err(e) => {
                let _ = wd.save(&mut state);
                wd.log(&format!("online copy failed: {e}"));
                return Err(e);
            }
        };
        state.finish(
            Step::Copy,
            StepStatus::Done,
            Some(summary.rows),
            Some(summary.bytes),
            Some(format!("{} tables", tables.len())),
        );
        wd.save(&mut state)?;
        wd.log("online copy finished");
        Some(summary)
    };
    wd.log("online: following the source's changes");
    let follow = follow(source, target, work_dir, &opts.follow, progress).await?;
    wd.log(&format!(
        "online: following stopped after {} transactions",
        follow.transactions
    ));
    Ok(OnlineCopySummary {
        copy: copied,
        follow,
    })
}

fn files_origin(work_dir: &Path) -> Result<Origin> {
    Ok(Files::new(work_dir).load()?.origin)
}

/// An online copy of tables whose target has a column a plan adds: only `migrate` records the plan
/// the cutover verifies those columns with.
fn added_columns_refused(tables: &[QualifiedName]) -> Error {
    Error::usage(format!(
        "{} gets a column on the target that the copy fills from its parent's row (add_column in the \
         plan); an online copy does not take such a plan: migrate online with the plan, copy without \
         the online option, or edit the plan to drop that change",
        tables.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
    ))
}

/// Test hooks of the catch-up.
#[derive(Debug, Clone, Default)]
pub struct FollowOptions {
    /// Abort the process right after the n-th target commit, before the slot advances (the window a
    /// crash must not turn into a duplicate). Set by the CLI from
    /// `CITUS_MIGRATE_TEST_ONLINE_CRASH_AFTER_COMMITS`.
    #[doc(hidden)]
    pub test_crash_after_commits: Option<u64>,
}

/// What a catch-up run did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct FollowSummary {
    pub transactions: u64,
    pub changes: u64,
    pub seconds: f64,
    pub status: OnlineStatus,
}

/// Applies the source's changes and keeps following them until a cutover or an abort asks it to stop
/// (or an error). Reports its figures through [`Progress::online`] after every round and in
/// `DIR/online/status.json`.
pub async fn follow(
    source: &ConnInfo,
    target: &ConnInfo,
    work_dir: &Path,
    opts: &FollowOptions,
    progress: &dyn Progress,
) -> Result<FollowSummary> {
    let files = Files::new(work_dir);
    files.clear_stop()?;
    let started = Instant::now();
    let mut f = follow::Follower::start(
        source,
        target,
        files,
        follow::Hooks {
            crash_after_commits: opts.test_crash_after_commits,
        },
    )
    .await?;
    let stop = Files::new(work_dir);
    let mut retention = retention::Watch::default();
    loop {
        let upto = f.flushed_lsn().await?;
        let round = f.round(upto, false).await?;
        progress.online(&f.status);
        if let Some(warning) = retention.check(&f.status) {
            progress.message(&warning);
        }
        f.check_no_new_partitions().await?;
        if stop.stop_requested() {
            break;
        }
        if round.exhausted && round.changes == 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    Ok(FollowSummary {
        transactions: f.status.transactions,
        changes: f.status.changes,
        seconds: started.elapsed().as_secs_f64(),
        status: f.status.clone(),
    })
}

/// What `status` shows.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct StatusReport {
    pub stage: Stage,
    pub slot: String,
    pub publication: String,
    /// The catch-up's last figures (None before its first round).
    pub catch_up: Option<OnlineStatus>,
}

/// The online migration recorded in `work_dir`.
pub fn status(work_dir: &Path) -> Result<StatusReport> {
    let files = Files::new(work_dir);
    if !files.exists() {
        return Err(Error::usage(format!(
            "{} holds no online migration",
            work_dir.display()
        )));
    }
    let state = files.load()?;
    Ok(StatusReport {
        stage: state.stage,
        slot: state.slot,
        publication: state.publication,
        catch_up: files.status().ok(),
    })
}
