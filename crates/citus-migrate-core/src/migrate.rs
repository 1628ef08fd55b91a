//! `migrate`: the whole migration as one resumable run, every step recorded in the work directory
//! (`state.json`, [`StepRecord`]): backup → plan → pre-data → distribute → copy → post-data → sequences →
//! ANALYZE → verify. A resumed run skips the finished steps, continues inside the copy after the last
//! committed chunk, and inside post-data after the last finished statement.
//!
//! Entry point: [`migrate()`], with [`MigrateOptions`], gives a [`MigrateSummary`] or a
//! [`MigrateFailure`] that names the step it stopped in.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::advice::Kind;
use crate::catalog::{self, Catalog, ReadOptions};
use crate::connect::{connect, execute, query};
use crate::conninfo::ConnInfo;
use crate::copy::{copy_tables, CopyMode, CopyOptions};
use crate::error::{Error, Result, Side};
use crate::error::{Remedy, ResumeMismatch, UsageProblem};
pub use crate::filter::Selection;
use crate::ident::{lines_with_level, QualifiedName};
use crate::plan::{Plan, PlanChoice};
use crate::progress::Progress;
use crate::sqlgen::{prepare, warnings, Generated, PostDataKind, Prepared};
use crate::verify::{self, ExpectedLayout, VerifyOptions, VerifyReport};
use crate::workdir::{State, WorkDir};
pub use crate::workdir::{Step, StepRecord, StepStatus};

/// Version of the JSON summary.
pub const MIGRATE_FORMAT_VERSION: u32 = 1;

/// SQLSTATEs that mean "this object is already there": on a resume inside post-data, the statement
/// finished in the interrupted run after its last record was written.
const ALREADY_EXISTS: &[&str] = &["42P07", "42710", "42P16"];

/// For the tests of resuming only: abort the process (as `kill -9` would end it) in the middle of a
/// step or right after it is recorded as done. Set by the CLI from `CITUS_MIGRATE_TEST_CRASH_IN_STEP`
/// / `CITUS_MIGRATE_TEST_CRASH_AFTER_STEP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestCrash {
    pub step: Step,
    pub during: bool,
}

#[derive(Debug, Clone)]
pub struct MigrateOptions {
    pub work_dir: PathBuf,
    /// Use this plan instead of advising one.
    pub plan_file: Option<PathBuf>,
    pub selection: Selection,
    pub resume: bool,
    /// `pg_dump -Fc` of the source into the work directory first.
    pub backup: bool,
    /// Parallel connections for copy, post-data and verify.
    pub jobs: usize,
    /// `None`: as `copy` chooses ([`CopyOptions::chunk_bytes`]).
    pub chunk_bytes: Option<u64>,
    /// Run the distribute step. Off for a rehearsal on a plain PostgreSQL target: the statements are
    /// shown, not run, and the layout is not verified.
    pub distribute: bool,
    /// When the source is a streaming hot standby: its primary. The run then first waits until the
    /// standby has replayed everything the primary had written, and reads the sequences' values there
    /// (a standby's lag would leave them behind). Nothing else is read from the primary.
    pub source_primary: Option<ConnInfo>,
    /// How long to wait for the standby to catch up with `source_primary`.
    pub standby_wait: std::time::Duration,
    /// Online: create a replication slot before the copy, and after the last step keep applying the
    /// source's changes until a cutover or an abort ([`crate::online`]); verification is the cutover's.
    /// A resumed online migration stays online.
    pub online: bool,
    /// The catch-up's test hooks.
    #[doc(hidden)]
    pub follow: crate::online::FollowOptions,
    /// Test hook: abort the process in or after a step, to test resuming.
    #[doc(hidden)]
    pub test_crash: Option<TestCrash>,
    /// Test hook: the copy's pause around each chunk's commit ([`CopyOptions::test_pause`]).
    #[doc(hidden)]
    pub test_pause: Option<std::time::Duration>,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        MigrateOptions {
            work_dir: PathBuf::from("citus-migrate-work"),
            plan_file: None,
            selection: Selection::default(),
            resume: false,
            backup: false,
            jobs: 4,
            chunk_bytes: None,
            distribute: true,
            source_primary: None,
            standby_wait: std::time::Duration::from_secs(300),
            online: false,
            follow: Default::default(),
            test_crash: None,
            test_pause: None,
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct MigrateSummary {
    pub format_version: u32,
    pub work_dir: String,
    pub resumed: bool,
    pub steps: Vec<StepRecord>,
    /// Rows and bytes copied, by this run and the earlier runs together.
    pub rows: u64,
    pub bytes: u64,
    /// Rows and bytes this run copied (0 when an earlier run had finished the copy).
    pub copied_rows: u64,
    pub copied_bytes: u64,
    pub seconds: f64,
    pub verify: Option<VerifyReport>,
    /// True when verification found the target equal to the source.
    pub equal: bool,
    /// An online migration: what the catch-up did before it was asked to stop (the verification is
    /// the cutover's).
    pub online: Option<crate::online::FollowSummary>,
}

impl MigrateSummary {
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::Other(format!("cannot write JSON: {e}")))
    }
}

/// A run that stopped: in which step, with what error. `state.json` records how far it got.
#[derive(Debug)]
#[non_exhaustive]
pub struct MigrateFailure {
    pub step: Option<Step>,
    pub work_dir: PathBuf,
    pub error: Error,
}

impl MigrateFailure {
    /// A failure in `step` (or before any step), for callers that report or test failures.
    pub fn new(step: Option<Step>, work_dir: PathBuf, error: Error) -> Self {
        MigrateFailure {
            step,
            work_dir,
            error,
        }
    }
}

impl std::fmt::Display for MigrateFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.step {
            Some(_) => write!(f, "{}{}", self.stopped_in(), self.remedy().unwrap()),
            None => write!(f, "{}", self.error),
        }
    }
}

impl MigrateFailure {
    /// `migrate stopped in step S: <error>`, or the error when no step had started.
    pub fn stopped_in(&self) -> String {
        match self.step {
            Some(s) => format!("migrate stopped in step {s}: {}", self.error),
            None => self.error.to_string(),
        }
    }

    /// How to continue: resume from the step that stopped, as recorded in the work directory.
    pub fn remedy(&self) -> Option<Remedy> {
        self.step.map(|s| Remedy::ResumeMigration {
            step: s.to_string(),
            state_file: self.work_dir.join("state.json"),
        })
    }
}

impl std::error::Error for MigrateFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// Everything a step needs.
struct Run<'a> {
    source: &'a ConnInfo,
    target: &'a ConnInfo,
    opts: &'a MigrateOptions,
    filters: Selection,
    wd: WorkDir,
    state: Mutex<State>,
    progress: &'a dyn Progress,
    catalog: Catalog,
    plan: Option<Plan>,
    generated: Option<Generated>,
    /// Run the distribute step (false for a rehearsal on plain PostgreSQL).
    distribute: bool,
    verify: Option<VerifyReport>,
    /// Rows and bytes the copy step copied in this run.
    copied: (u64, u64),
    /// An online migration ([`MigrateOptions::online`], or recorded in the work directory).
    online: bool,
}

/// Runs (or resumes) a migration.
pub async fn migrate(
    source: &ConnInfo,
    target: &ConnInfo,
    opts: &MigrateOptions,
    progress: &dyn Progress,
) -> std::result::Result<MigrateSummary, MigrateFailure> {
    let fail = |step: Option<Step>| {
        let dir = opts.work_dir.clone();
        move |error: Error| MigrateFailure {
            step,
            work_dir: dir,
            error,
        }
    };
    let started = Instant::now();
    let (wd, state) = WorkDir::open(&opts.work_dir, opts.resume).map_err(fail(None))?;
    let resumed = state.is_some();
    let state = match state {
        Some(s) => {
            check_same_run(&s, source, target, opts).map_err(fail(None))?;
            s
        }
        None => {
            let mut s = State::new(source.to_string(), target.to_string());
            s.selection = Some(opts.selection.clone());
            s.skip_distribution = !opts.distribute;
            s
        }
    };
    wd.log(&format!(
        "{} migration from {source} to {target}",
        if resumed { "resuming" } else { "starting" }
    ));
    // A resume keeps the recorded choice: a rehearsal stays a rehearsal.
    let distribute = !state.skip_distribution;
    // An online run stays online; a run whose copy started offline cannot become online (its copy
    // was taken without a slot before it).
    let online = crate::online::is_online(&opts.work_dir)
        || (opts.online && state.record(Step::Copy).is_none());
    if opts.online && !online {
        return Err(fail(None)(Error::usage(format!(
            "the migration in {} started its copy without the online option, so it cannot continue              online: resume it as it was, or start a new online migration in an empty work directory",
            opts.work_dir.display()
        ))));
    }
    let checked = async {
        let filters = state.selection.clone().unwrap_or_default();
        // Both sides are checked before anything is recorded: a wrong --target stops here, not
        // after the plan step.
        if distribute {
            require_citus(target).await?;
        } else {
            drop(connect(target).await?);
        }
        let src = connect(source).await?;
        if let Some(primary) = &opts.source_primary {
            if !crate::standby::in_recovery(&src).await? {
                return Err(Error::Precondition {
                    side: Side::Source,
                    message: "a primary was given for the source, but the source is not a standby \
                              (it is not in recovery)"
                        .into(),
                    remedy: None,
                });
            }
            let lsn = crate::standby::wait_for_primary(&src, primary, opts.standby_wait).await?;
            progress.message(&format!(
                "the source standby has replayed its primary's WAL up to {lsn}"
            ));
        }
        let catalog = catalog::read(
            &src,
            &ReadOptions {
                filters: filters.clone(),
                exact_counts: false,
                jobs: 1,
            },
        )
        .await?;
        catalog::require_matches(&catalog, &filters)?;
        catalog::require_data(&catalog, &filters, "migrate")?;
        if catalog.standby.as_ref().is_some_and(|s| !s.feedback) {
            progress.message(
                "warning: the source standby runs without hot_standby_feedback: the primary's cleanup \
                 can cancel the copy's snapshot there (a recovery conflict after \
                 max_standby_streaming_delay); turn it on for the migration",
            );
        }
        if let (Some(st), None) = (&catalog.standby, &opts.source_primary) {
            progress.message(&format!(
                "warning: the source is a hot standby ({} of received WAL not yet replayed{}): what \
                 its primary committed but the standby has not replayed is not copied, and sequences \
                 may be behind; stop writes and let it catch up, or give its primary to wait for it",
                crate::util::human_bytes(st.unreplayed_bytes),
                st.last_replay_age_seconds
                    .map(|s| format!(", last replayed transaction {s:.0} s old"))
                    .unwrap_or_default()
            ));
        }
        if online && !crate::online::is_online(&opts.work_dir) {
            crate::online::check_source(source, &catalog.data_tables(), progress).await?;
        }
        Ok::<_, Error>((filters, catalog))
    }
    .await;
    let (filters, catalog) = match checked {
        Ok(c) => c,
        Err(e) => {
            // Nothing was recorded yet: a new run leaves no work directory behind to trip over.
            wd.log(&format!("stopped before the first step: {e}"));
            wd.discard();
            return Err(fail(None)(e));
        }
    };
    let mut run = Run {
        source,
        target,
        opts,
        filters,
        wd,
        state: Mutex::new(state),
        progress,
        catalog,
        plan: None,
        generated: None,
        distribute,
        verify: None,
        copied: (0, 0),
        online,
    };
    run.save().map_err(fail(None))?;
    if resumed {
        let last = run.state.lock().unwrap().last_finished();
        progress.message(&format!(
            "resuming the migration in {}: {}",
            opts.work_dir.display(),
            match last {
                Some(s) => format!("steps up to {s} are done"),
                None => "no step was finished".into(),
            }
        ));
    }

    for step in Step::ALL {
        let finished = match run.state.lock().unwrap().record(step) {
            // A backup that an earlier run was not asked for is taken when this one is.
            Some(r) if step == Step::Backup => r.status == StepStatus::Done,
            Some(r) => r.status != StepStatus::Running,
            None => false,
        };
        // A backup is taken only by a run that asks for one, whatever earlier runs asked.
        if step == Step::Backup && !opts.backup && !finished {
            run.leave_backup().map_err(fail(Some(step)))?;
            continue;
        }
        if finished {
            progress.message(&format!("{step}: done in an earlier run, skipped"));
            // Later steps need the plan and the SQL even when their own steps are done.
            if step == Step::Plan {
                run.load_plan().await.map_err(fail(Some(step)))?;
            }
            continue;
        }
        progress.step(step.title());
        run.wd.log(&format!("step {step} started"));
        {
            let mut s = run.state.lock().unwrap();
            s.start(step);
        }
        run.save().map_err(fail(Some(step)))?;
        let t0 = Instant::now();
        let result = run.run_step(step).await;
        let secs = t0.elapsed().as_secs_f64();
        let mut s = run.state.lock().unwrap();
        s.add_time(step, secs);
        match result {
            Ok(outcome) => {
                let finished = outcome.status != StepStatus::Running;
                s.finish(
                    step,
                    outcome.status,
                    outcome.rows,
                    outcome.bytes,
                    outcome.detail.clone(),
                );
                if !finished {
                    // Verification found differences: keep the step open so a resume checks again.
                    s.steps.iter_mut().find(|r| r.step == step).unwrap().status =
                        StepStatus::Running;
                }
                drop(s);
                run.save().map_err(fail(Some(step)))?;
                run.wd.log(&format!(
                    "step {step} {} in {secs:.1}s{}",
                    if finished { "finished" } else { "ended" },
                    outcome.detail.map(|d| format!(": {d}")).unwrap_or_default()
                ));
                run.crash_point(step, false);
            }
            Err(e) => {
                drop(s);
                let _ = run.save();
                run.wd
                    .log(&format!("step {step} failed after {secs:.1}s: {e}"));
                return Err(fail(Some(step))(e));
            }
        }
    }

    let online = if run.online {
        run.wd.log("online: following the source's changes");
        let summary = crate::online::follow(source, target, &opts.work_dir, &opts.follow, progress)
            .await
            .map_err(fail(None))?;
        run.wd.log(&format!(
            "online: following stopped after {} transactions",
            summary.transactions
        ));
        Some(summary)
    } else {
        None
    };
    let state = run.state.into_inner().unwrap();
    let copy = state.record(Step::Copy);
    let verify = run.verify;
    let (copied_rows, copied_bytes) = run.copied;
    Ok(MigrateSummary {
        format_version: MIGRATE_FORMAT_VERSION,
        work_dir: opts.work_dir.display().to_string(),
        resumed,
        rows: copy.and_then(|r| r.rows).unwrap_or(0),
        bytes: copy.and_then(|r| r.bytes).unwrap_or(0),
        copied_rows,
        copied_bytes,
        seconds: started.elapsed().as_secs_f64(),
        // Verified equal in this run, or in the earlier run that finished the verify step.
        equal: verify
            .as_ref()
            .map_or(state.is_finished(Step::Verify), |v| v.equal),
        verify,
        steps: state.steps,
        online,
    })
}

/// The target must be a Citus coordinator with workers before anything is created on it. A resumed
/// run asks again after pre-data gave the target the source's functions: names are qualified.
async fn require_citus(target: &ConnInfo) -> Result<()> {
    let client = connect(target).await?;
    let rows = query(
        &client,
        Side::Target,
        "looking for the citus extension",
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'citus'::pg_catalog.name)",
        &[],
    )
    .await?;
    if !rows[0].get::<_, bool>(0) {
        return Err(Error::Precondition {
            side: Side::Target,
            message: format!(
                "database {:?} has no citus extension: run CREATE EXTENSION citus there and register the workers (citus_add_node)",
                target.dbname
            ),
            remedy: Some(Remedy::SkipDistribution),
        });
    }
    let workers = query(
        &client,
        Side::Target,
        "counting the workers",
        "SELECT pg_catalog.count(*) FROM pg_catalog.citus_get_active_worker_nodes()",
        &[],
    )
    .await?;
    if workers[0].get::<_, i64>(0) == 0 {
        return Err(Error::Precondition {
 remedy: None,
            side: Side::Target,
            message: format!(
                "database {:?} has no active Citus workers: register them with citus_add_node on the coordinator first",
                target.dbname
            ),
        });
    }
    Ok(())
}

/// A resume must be about the same source, target and selection as the run it continues.
fn check_same_run(
    state: &State,
    source: &ConnInfo,
    target: &ConnInfo,
    opts: &MigrateOptions,
) -> Result<()> {
    let mut wrong = Vec::new();
    if state.source != source.to_string() {
        wrong.push(ResumeMismatch::Source {
            given: source.to_string(),
            recorded: state.source.clone(),
        });
    }
    if state.target != target.to_string() {
        wrong.push(ResumeMismatch::Target {
            given: target.to_string(),
            recorded: state.target.clone(),
        });
    }
    if !opts.selection.is_empty() && Some(&opts.selection) != state.selection.as_ref() {
        wrong.push(ResumeMismatch::Selection);
    }
    if !opts.distribute && !state.skip_distribution {
        wrong.push(ResumeMismatch::SkipDistribution);
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(Error::Usage(UsageProblem::ResumeMismatch(wrong)))
    }
}

/// What a step reports.
struct Outcome {
    status: StepStatus,
    rows: Option<u64>,
    bytes: Option<u64>,
    detail: Option<String>,
}

impl Outcome {
    fn done(detail: impl Into<String>) -> Self {
        Outcome {
            status: StepStatus::Done,
            rows: None,
            bytes: None,
            detail: Some(detail.into()),
        }
    }
}

impl Run<'_> {
    fn save(&self) -> Result<()> {
        let mut s = self.state.lock().unwrap();
        self.wd.save(&mut s)
    }

    /// The test hook: abort like a kill would.
    fn crash_point(&self, step: Step, during: bool) {
        if self.opts.test_crash == Some(TestCrash { step, during }) {
            self.wd.log(&format!(
                "test crash {} step {step}",
                if during { "during" } else { "after" }
            ));
            std::process::abort();
        }
    }

    fn attempts(&self, step: Step) -> u32 {
        self.state
            .lock()
            .unwrap()
            .record(step)
            .map(|r| r.attempts)
            .unwrap_or(0)
    }

    async fn run_step(&mut self, step: Step) -> Result<Outcome> {
        match step {
            Step::Backup => self.backup().await,
            Step::Plan => self.plan().await,
            Step::PreData => self.pre_data().await,
            Step::Distribute => self.distribute().await,
            Step::Copy => self.copy().await,
            Step::PostData => self.post_data().await,
            Step::Sequences => self.sequences().await,
            Step::Analyze => self.analyze().await,
            Step::Verify => self.verify().await,
        }
    }

    /// In a run not asked for a backup: a backup that an earlier run started but did not finish is
    /// not taken again; its partial file is removed and the step is recorded as skipped (a later run
    /// asked for a backup takes it).
    fn leave_backup(&self) -> Result<()> {
        let mut s = self.state.lock().unwrap();
        if s.record(Step::Backup).map(|r| r.status) != Some(StepStatus::Running) {
            return Ok(());
        }
        let detail = "not finished by an earlier run, and this run was not asked for a backup";
        s.finish(
            Step::Backup,
            StepStatus::Skipped,
            None,
            None,
            Some(detail.into()),
        );
        self.wd.save(&mut s)?;
        drop(s);
        crate::backup::remove_partial(&self.wd.backup_path())?;
        self.wd.log(&format!("step backup skipped: {detail}"));
        self.progress
            .message(&format!("{}: {detail}: not taken", Step::Backup));
        Ok(())
    }

    async fn backup(&mut self) -> Result<Outcome> {
        let path = self.wd.backup_path();
        let bytes = crate::backup::dump(self.source, &path).await?;
        self.crash_point(Step::Backup, true);
        Ok(Outcome {
            bytes: Some(bytes),
            ..Outcome::done(format!("{}", path.display()))
        })
    }

    /// Loads the plan recorded by an earlier run and generates the SQL again.
    async fn load_plan(&mut self) -> Result<()> {
        let choice = PlanChoice {
            file: Some(self.wd.plan_path()),
            shard_count: None,
            ..Default::default()
        };
        self.use_plan(&choice, false).await.map(drop)
    }

    /// Checks the plan against the source (the catalog rules and, for distribution columns, NULLs in
    /// the data), stops with every blocker listed, and generates the SQL into `DIR/sql/`. Returns
    /// where the plan came from.
    async fn use_plan(&mut self, choice: &PlanChoice, show_warnings: bool) -> Result<String> {
        let prepared = prepare(self.source, &self.catalog, &self.filters, choice, None).await;
        for b in warnings(&prepared).filter(|_| show_warnings) {
            self.progress.message(&format!("warning: {b}"));
        }
        let Prepared {
            plan, generated, ..
        } = prepared?;
        generated.write(&self.wd.sql_dir(), &plan)?;
        let origin = generated.plan_origin.clone();
        self.plan = Some(plan);
        self.generated = Some(generated);
        Ok(origin)
    }

    async fn plan(&mut self) -> Result<Outcome> {
        let choice = PlanChoice {
            file: self.opts.plan_file.clone(),
            shard_count: None,
            ..Default::default()
        };
        // Stops here with every blocker listed when the plan cannot be applied.
        let how = self.use_plan(&choice, true).await?;
        let plan = self.plan.as_ref().expect("use_plan sets the plan");
        plan.save(&self.wd.plan_path())?;
        self.crash_point(Step::Plan, true);
        let count = |k: Kind| plan.count(&self.catalog, k);
        let schemas = plan.distributed_schemas().len();
        Ok(Outcome::done(format!(
            "{how}: {} distributed, {} reference, {} local{}",
            count(Kind::Distributed),
            count(Kind::Reference),
            count(Kind::Local),
            match (plan.verdict, schemas) {
                (crate::advice::Verdict::SingleNode, _) =>
                    " (verdict single_node: nothing is distributed)".to_string(),
                (_, 0) => String::new(),
                (_, n) => format!(", {} in {n} distributed schema(s)", count(Kind::Schema)),
            }
        )))
    }

    fn generated(&self) -> &Generated {
        self.generated
            .as_ref()
            .expect("the plan step runs before the steps that use its SQL")
    }

    async fn pre_data(&mut self) -> Result<Outcome> {
        let target = connect(self.target).await?;
        if self.attempts(Step::PreData) <= 1 {
            self.require_empty_target(&target).await?;
        }
        // One transaction: an interrupted pre-data leaves nothing behind.
        execute(
            &target,
            Side::Target,
            "starting the pre-data transaction",
            "BEGIN",
        )
        .await?;
        execute(
            &target,
            Side::Target,
            "creating the schema on the target (pre-data)",
            &transaction_local(&self.generated().pre_data),
        )
        .await?;
        self.crash_point(Step::PreData, true);
        execute(
            &target,
            Side::Target,
            "committing the pre-data transaction",
            "COMMIT",
        )
        .await?;
        Ok(Outcome::done(format!(
            "{} bytes of DDL",
            self.generated().pre_data.len()
        )))
    }

    /// A fresh run refuses a target that already has any of the tables to create.
    async fn require_empty_target(&self, target: &tokio_postgres::Client) -> Result<()> {
        let rows = query(
            target,
            Side::Target,
            "looking for existing tables",
            "SELECT n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'f', 'm', 'v')",
            &[],
        )
        .await?;
        let existing: std::collections::BTreeSet<QualifiedName> = rows
            .iter()
            .map(|r| QualifiedName::new(r.get::<_, String>(0), r.get::<_, String>(1)))
            .collect();
        let clash: Vec<String> = self
            .catalog
            .tables
            .iter()
            .map(|t| t.qualified())
            .filter(|q| existing.contains(q))
            .map(|q| q.to_string())
            .collect();
        if clash.is_empty() {
            return Ok(());
        }
        let shown: Vec<&str> = clash.iter().take(10).map(|s| s.as_str()).collect();
        Err(Error::Precondition {
            side: Side::Target,
            message: format!(
                "the target already has {} of the tables to migrate ({}{})",
                clash.len(),
                shown.join(", "),
                if clash.len() > 10 { ", …" } else { "" }
            ),
            remedy: Some(Remedy::EmptyTargetOrResume),
        })
    }

    async fn distribute(&mut self) -> Result<Outcome> {
        let statements = self.generated().distribute.clone();
        if !self.distribute {
            for s in &statements {
                self.progress
                    .message(&format!("  (not run) {}", first_line(s)));
            }
            return Ok(Outcome {
                status: StepStatus::Skipped,
                rows: None,
                bytes: None,
                detail: Some(format!(
                    "{} statements shown, not run: the target has no Citus",
                    statements.len()
                )),
            });
        }
        let target = connect(self.target).await?;
        // All or nothing: Citus creates the shards inside the transaction.
        execute(
            &target,
            Side::Target,
            "starting the distribute transaction",
            "BEGIN",
        )
        .await?;
        for (i, s) in statements.iter().enumerate() {
            self.progress.message(&format!("  {}", first_line(s)));
            execute(&target, Side::Target, "distributing tables", s).await?;
            if i == 0 {
                self.crash_point(Step::Distribute, true);
            }
        }
        execute(
            &target,
            Side::Target,
            "committing the distribute transaction",
            "COMMIT",
        )
        .await?;
        Ok(Outcome::done(format!("{} statements", statements.len())))
    }

    async fn copy(&mut self) -> Result<Outcome> {
        let tables = self.catalog.data_tables();
        if tables.is_empty() {
            return Ok(Outcome::done("no tables hold rows"));
        }
        let resume = self.attempts(Step::Copy) > 1;
        let opts = CopyOptions {
            jobs: self.opts.jobs,
            chunk_bytes: self.opts.chunk_bytes,
            mode: if resume {
                CopyMode::Resume
            } else {
                CopyMode::Fresh
            },
            work_dir: Some(self.wd.copy_dir()),
            test_pause: self.opts.test_pause,
            computed_columns: self.computed_columns(),
            ..CopyOptions::default()
        };
        let crash = CrashOnProgress {
            inner: self.progress,
            armed: self.opts.test_crash
                == Some(TestCrash {
                    step: Step::Copy,
                    during: true,
                }),
            fired: AtomicBool::new(false),
        };
        let summary = if self.online {
            // The slot exists before the copy's snapshot is taken: every change after the snapshot
            // is in the slot.
            let run = crate::online::SlotCopy {
                work_dir: &self.opts.work_dir,
                tables: &tables,
                origin: crate::online::Origin::Migrate,
                added: &self.added_columns(),
                resumed: resume,
            };
            crate::online::copy_after_slot(self.source, self.target, &run, &opts, &crash).await?
        } else {
            copy_tables(self.source, self.target, &tables, &opts, &crash).await?
        };
        self.copied = (summary.rows, summary.bytes);
        // The step's figures count the chunks earlier runs had committed too.
        let skipped_rows: u64 = summary.tables.iter().map(|t| t.skipped_rows).sum();
        let skipped_bytes: u64 = summary.tables.iter().map(|t| t.skipped_bytes).sum();
        let detail = if resume {
            format!(
                "{} tables; resumed: {} rows were already committed",
                tables.len(),
                crate::util::thousands(skipped_rows as i64)
            )
        } else {
            format!("{} tables", tables.len())
        };
        Ok(Outcome {
            status: StepStatus::Done,
            rows: Some(summary.rows + skipped_rows),
            bytes: Some(summary.bytes + skipped_bytes),
            detail: Some(detail),
        })
    }

    async fn post_data(&mut self) -> Result<Outcome> {
        let items = self.generated().post_data.clone();
        let preamble = transaction_local(&self.generated().post_data_preamble);
        let resume = self.attempts(Step::PostData) > 1;
        // In three phases: indexes and key/check constraints in parallel; then the rest (index
        // attachments, triggers, rules, policies…) one at a time in pg_dump's order; then the foreign
        // keys, which need the referenced keys, in parallel.
        let phase = |k: PostDataKind| match k {
            PostDataKind::Index | PostDataKind::Constraint => 0,
            PostDataKind::Trigger | PostDataKind::Other => 1,
            PostDataKind::ForeignKey => 2,
        };
        let mut run_now = 0;
        let mut already = 0;
        for p in 0..3 {
            let todo: Vec<(usize, String)> = items
                .iter()
                .enumerate()
                .filter(|(_, it)| phase(it.kind) == p)
                .filter(|(i, _)| !self.state.lock().unwrap().item_done(Step::PostData, *i))
                .map(|(i, it)| (i, without_psql_commands(&it.sql)))
                .collect();
            if todo.is_empty() {
                continue;
            }
            run_now += todo.len();
            let jobs = if p == 1 {
                1
            } else {
                self.opts.jobs.max(1).min(todo.len())
            };
            let mut clients = Vec::with_capacity(jobs);
            for _ in 0..jobs {
                clients.push(connect(self.target).await?);
            }
            let pool = tokio::sync::Mutex::new(clients);
            let skipped = std::sync::atomic::AtomicUsize::new(0);
            let this = &*self;
            stream::iter(todo)
                .map(|(i, sql)| {
                    let pool = &pool;
                    let skipped = &skipped;
                    let preamble = &preamble;
                    async move {
                        let client = pool.lock().await.pop().expect("one client per job");
                        // Each statement in its own transaction with pg_dump's settings made local. The
                        // statement goes alone: Citus refuses to propagate DDL sent in a string with
                        // other commands.
                        let res = post_data_item(&client, preamble, &sql).await;
                        if res.is_err() {
                            let _ = execute(&client, Side::Target, "post-data", "ROLLBACK").await;
                        }
                        pool.lock().await.push(client);
                        match res {
                            Ok(()) => {}
                            Err(e) if resume && e.sqlstate().is_some_and(|c| ALREADY_EXISTS.contains(&c.code())) => {
                                skipped.fetch_add(1, Ordering::Relaxed);
                                this.wd.log(&format!("post-data item {i} already existed (finished before the interruption)"));
                            }
                            Err(e) => return Err(e),
                        }
                        let first = {
                            let mut s = this.state.lock().unwrap();
                            let done = s.done_items.entry(Step::PostData).or_default();
                            done.push(i);
                            let first = done.len() == 1;
                            this.wd.save(&mut s)?;
                            first
                        };
                        if first {
                            this.crash_point(Step::PostData, true);
                        }
                        Ok::<_, Error>(())
                    }
                })
                .buffer_unordered(jobs)
                .try_collect::<Vec<()>>()
                .await?;
            already += skipped.into_inner();
        }
        let count = |k: PostDataKind| items.iter().filter(|i| i.kind == k).count();
        let mut detail = format!(
            "{} indexes, {} constraints, {} foreign keys, {} other",
            count(PostDataKind::Index),
            count(PostDataKind::Constraint),
            count(PostDataKind::ForeignKey),
            count(PostDataKind::Trigger) + count(PostDataKind::Other)
        );
        if run_now < items.len() {
            detail.push_str(&format!(
                "; {} done before the interruption",
                items.len() - run_now
            ));
        }
        if already > 0 {
            detail.push_str(&format!(
                "; {already} had finished but were not yet recorded"
            ));
        }
        Ok(Outcome::done(detail))
    }

    async fn sequences(&mut self) -> Result<Outcome> {
        let (src, tgt) = futures::try_join!(connect(self.source), connect(self.target))?;
        // A standby's sequences may lag behind its primary's: take the higher of the two.
        let primary = match &self.opts.source_primary {
            Some(p) => Some(connect(p).await?),
            None => None,
        };
        let mut first = true;
        let n = crate::sequences::advance(
            &src,
            primary.as_ref(),
            &tgt,
            &self.catalog,
            &self.filters,
            || {
                if std::mem::take(&mut first) {
                    self.crash_point(Step::Sequences, true);
                }
            },
        )
        .await?;
        Ok(Outcome::done(format!("{n} sequences set")))
    }

    async fn analyze(&mut self) -> Result<Outcome> {
        use crate::catalog::TableKind;
        // A partitioned table's ANALYZE covers its partitions: analyzing them too, at the same time,
        // deadlocks on Citus (each takes the same shards' locks in another order).
        let partitioned: std::collections::HashSet<QualifiedName> = self
            .catalog
            .tables
            .iter()
            .filter(|t| t.table_kind == TableKind::PartitionedParent)
            .map(|t| t.qualified())
            .collect();
        let names: Vec<String> = self
            .catalog
            .tables
            .iter()
            .filter(|t| t.holds_data() || t.table_kind == TableKind::PartitionedParent)
            .filter(|t| !t.parent.as_ref().is_some_and(|p| partitioned.contains(p)))
            .map(|t| t.qualified().quoted())
            .collect();
        if names.is_empty() {
            return Ok(Outcome::done("no tables"));
        }
        // One statement per table: Citus refuses an ANALYZE of several distributed and reference
        // tables in one transaction.
        let jobs = self.opts.jobs.max(1).min(names.len());
        let mut clients = Vec::with_capacity(jobs);
        for _ in 0..jobs {
            clients.push(connect(self.target).await?);
        }
        let pool = tokio::sync::Mutex::new(clients);
        let this = &*self;
        let n = names.len();
        stream::iter(names.into_iter().enumerate())
            .map(|(i, name)| {
                let pool = &pool;
                async move {
                    let client = pool.lock().await.pop().expect("one client per job");
                    let res = execute(
                        &client,
                        Side::Target,
                        &format!("ANALYZE {name}"),
                        &format!("ANALYZE {name}"),
                    )
                    .await;
                    pool.lock().await.push(client);
                    res?;
                    if i == 0 {
                        this.crash_point(Step::Analyze, true);
                    }
                    Ok::<_, Error>(())
                }
            })
            .buffer_unordered(jobs)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(Outcome::done(format!("{n} tables")))
    }

    /// The columns the plan adds, computed on the source (for copy and verify).
    fn computed_columns(&self) -> std::collections::HashMap<QualifiedName, Vec<(String, String)>> {
        self.plan
            .as_ref()
            .map(|p| crate::plan::changes::computed_columns(&self.catalog, p))
            .unwrap_or_default()
    }

    /// The columns the plan adds, with the way to their values, for an online migration's catch-up.
    fn added_columns(&self) -> Vec<crate::online::AddedColumn> {
        self.plan
            .as_ref()
            .map(|p| {
                crate::plan::changes::added_columns(&self.catalog, p)
                    .0
                    .iter()
                    .map(crate::online::AddedColumn::of)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The layout the plan asks for, as verify checks it.
    fn expected_layout(&self) -> Option<Vec<ExpectedLayout>> {
        if !self.distribute {
            return None;
        }
        let plan = self.plan.as_ref()?;
        Some(verify::expected_layout(plan))
    }

    async fn verify(&mut self) -> Result<Outcome> {
        self.crash_point(Step::Verify, true);
        if self.online {
            // The source is still writing: the cutover verifies, once the writes have stopped.
            return Ok(Outcome::done("online: verified at the cutover"));
        }
        let opts = VerifyOptions {
            filters: self.filters.clone(),
            expected_layout: self.expected_layout(),
            jobs: self.opts.jobs,
            check_sequences: true,
            ranges: Default::default(),
            copy_ranges: true,
            computed_columns: self.computed_columns(),
        };
        let report = verify::verify(self.source, self.target, &opts, self.progress).await?;
        let rows: i64 = report.tables.iter().map(|t| t.source_rows).sum();
        let outcome = if report.equal {
            Outcome {
                rows: Some(rows as u64),
                ..Outcome::done(format!("equal: {} tables", report.tables.len()))
            }
        } else {
            Outcome {
                status: StepStatus::Running,
                rows: Some(rows as u64),
                bytes: None,
                detail: Some(format!("{} difference(s)", report.differences.len())),
            }
        };
        self.verify = Some(report);
        Ok(outcome)
    }
}

/// One post-data statement in its own transaction, after pg_dump's settings (made local).
async fn post_data_item(client: &tokio_postgres::Client, preamble: &str, sql: &str) -> Result<()> {
    execute(client, Side::Target, "post-data", "BEGIN").await?;
    if !preamble.trim().is_empty() {
        execute(client, Side::Target, "post-data settings", preamble).await?;
    }
    let context = format!("post-data statement `{}`", first_line(sql));
    execute(client, Side::Target, &context, sql).await?;
    execute(client, Side::Target, &context, "COMMIT").await
}

/// pg_dump's output without the psql meta-commands recent pg_dump versions write around it
/// (`\\restrict KEY` / `\\unrestrict KEY`), which the server would reject. Only lines at top level
/// are commands: the same text inside a string or a name of the source stays (dropping it could
/// drop a closing quote and turn the rest of the string into statements).
fn without_psql_commands(script: &str) -> String {
    lines_with_level(script)
        .into_iter()
        .filter(|&(l, top)| {
            let mut words = l.split_whitespace();
            !(top
                && matches!(words.next(), Some("\\restrict" | "\\unrestrict"))
                && words.count() == 1)
        })
        .map(|(l, _)| l)
        .collect::<Vec<_>>()
        .join("\n")
}

/// pg_dump's script made to leave no session state behind when run inside one transaction: its
/// top-level `SET name = value;` lines (not those inside a function body or a string) become
/// `SET LOCAL`, and its `set_config(…, false)` of the search path becomes transaction-local. Behind
/// PgBouncer in transaction pooling mode a session setting would otherwise stay on a pooled server
/// connection that other clients then get.
fn transaction_local(script: &str) -> String {
    let script = without_psql_commands(script);
    lines_with_level(&script)
        .into_iter()
        .map(|(l, top)| {
            if !top {
                l.to_string()
            } else if l.starts_with("SET ") && !l.starts_with("SET LOCAL ") && l.ends_with(';') {
                format!("SET LOCAL {}", &l[4..])
            } else if l.starts_with("SELECT pg_catalog.set_config(") && l.ends_with(", false);") {
                format!("{}, true);", &l[..l.len() - ", false);".len()])
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn first_line(sql: &str) -> &str {
    sql.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("--"))
        .unwrap_or(sql)
}

/// Passes progress on; with the test hook armed, aborts at the first rows copied.
struct CrashOnProgress<'a> {
    inner: &'a dyn Progress,
    armed: bool,
    fired: AtomicBool,
}

impl Progress for CrashOnProgress<'_> {
    fn step(&self, name: &str) {
        self.inner.step(name)
    }
    fn table_started(&self, table: &QualifiedName, bytes: u64, rows: u64) {
        self.inner.table_started(table, bytes, rows)
    }
    fn advance(&self, table: &QualifiedName, bytes: u64, rows: u64) {
        self.inner.advance(table, bytes, rows);
    }
    fn table_finished(&self, table: &QualifiedName) {
        self.inner.table_finished(table);
        if self.armed && !self.fired.swap(true, Ordering::SeqCst) {
            // One table is committed, others are in flight: a kill in the middle of the copy.
            std::process::abort();
        }
    }
    fn message(&self, text: &str) {
        self.inner.message(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pg_dump_settings_become_transaction_local() {
        let pre = "\\restrict k\nSET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\nCREATE FUNCTION f() RETURNS int\n    SET search_path TO 'x'\n    AS $$ SELECT 1 $$ LANGUAGE sql;\nSET LOCAL a = 1;";
        assert_eq!(
            transaction_local(pre),
            "SET LOCAL statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', true);\nCREATE FUNCTION f() RETURNS int\n    SET search_path TO 'x'\n    AS $$ SELECT 1 $$ LANGUAGE sql;\nSET LOCAL a = 1;"
        );
    }

    #[test]
    fn psql_restrict_lines_are_dropped_and_nothing_else() {
        let dump = "\\restrict abc123\nCREATE TABLE t (a text DEFAULT '\\restrict x');\n\\unrestrict abc123\n";
        assert_eq!(
            without_psql_commands(dump),
            "CREATE TABLE t (a text DEFAULT '\\restrict x');"
        );
        // Inside a string of the source, the same line is content: dropping it would drop the
        // closing quote, and the next comment's text would run as a statement.
        let hostile = "\\restrict k\nCOMMENT ON TABLE t IS 'x\n\\restrict a';\nCOMMENT ON TABLE u IS '; CREATE TABLE pwned(); --';\nSET x = 1;\nCREATE FUNCTION f() RETURNS void AS $$\nSET y = 2;\n$$ LANGUAGE sql;\n\\unrestrict k\n";
        assert_eq!(
            transaction_local(hostile),
            "COMMENT ON TABLE t IS 'x\n\\restrict a';\nCOMMENT ON TABLE u IS '; CREATE TABLE pwned(); --';\nSET LOCAL x = 1;\nCREATE FUNCTION f() RETURNS void AS $$\nSET y = 2;\n$$ LANGUAGE sql;"
        );
        assert_eq!(
            first_line("-- c\n\n  CREATE INDEX i ON t (a);\n"),
            "CREATE INDEX i ON t (a);"
        );
    }
}
