//! The work directory of `migrate`: a fixed layout (as pgcopydb keeps one) that records every step, so
//! an interrupted run can be resumed, and holds everything a run produced.
//!
//! ```text
//! DIR/state.json        steps done, with timestamps, durations, rows and bytes (rewritten atomically)
//! DIR/plan.json         the distribution plan used
//! DIR/sql/              the generated SQL: pre-data, distribute, post-data, rollback
//! DIR/copy/             the copy's own bookkeeping (chunks committed), for resuming inside the copy
//! DIR/backup/source.dump  pg_dump -Fc of the source (with --backup)
//! DIR/logs/migrate.log  one line per event, with UTC timestamps
//! DIR/lock              held (flock) while a run is going; released by the kernel if it dies
//! ```

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub use crate::filter::Selection;

/// Version of `state.json`.
pub const STATE_FORMAT_VERSION: u32 = 1;

/// The steps of a migration, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Step {
    Backup,
    Plan,
    PreData,
    Distribute,
    Copy,
    PostData,
    Sequences,
    Analyze,
    Verify,
}

impl Step {
    pub const ALL: [Step; 9] = [
        Step::Backup,
        Step::Plan,
        Step::PreData,
        Step::Distribute,
        Step::Copy,
        Step::PostData,
        Step::Sequences,
        Step::Analyze,
        Step::Verify,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Backup => "backup",
            Step::Plan => "plan",
            Step::PreData => "pre-data",
            Step::Distribute => "distribute",
            Step::Copy => "copy",
            Step::PostData => "post-data",
            Step::Sequences => "sequences",
            Step::Analyze => "analyze",
            Step::Verify => "verify",
        }
    }

    pub fn parse(name: &str) -> Option<Step> {
        Step::ALL.into_iter().find(|s| s.name() == name)
    }

    /// What the step does, for progress lines.
    pub fn title(self) -> &'static str {
        match self {
            Step::Backup => "backing up the source with pg_dump -Fc",
            Step::Plan => "choosing the distribution plan",
            Step::PreData => "creating the schema on the target (pre-data)",
            Step::Distribute => {
                "distributing tables (create_distributed_table / create_reference_table)"
            }
            Step::Copy => "copying the data",
            Step::PostData => "building indexes and constraints (post-data)",
            Step::Sequences => "setting sequences past the source's values",
            Step::Analyze => "ANALYZE on the target",
            Step::Verify => "verifying the target against the source",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    Running,
    Done,
    Skipped,
}

/// One step as recorded in `state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: Step,
    pub status: StepStatus,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// Time spent in this step, summed over runs (an interrupted attempt counts too).
    pub seconds: f64,
    #[serde(default)]
    pub rows: Option<u64>,
    #[serde(default)]
    pub bytes: Option<u64>,
    /// A line about the result (`12 statements`, `equal`, `skipped: no Citus on the target`).
    #[serde(default)]
    pub detail: Option<String>,
    /// How many runs worked on this step (more than 1 after a resume inside it).
    #[serde(default)]
    pub attempts: u32,
}

/// `state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub format_version: u32,
    /// Redacted descriptions of the two sides; a resume must name the same ones.
    pub source: String,
    pub target: String,
    pub created_at: String,
    pub updated_at: String,
    pub steps: Vec<StepRecord>,
    /// Units of work finished inside a step (e.g. post-data statements by index), so a resume inside
    /// the step does not redo them.
    #[serde(default)]
    pub done_items: BTreeMap<Step, Vec<usize>>,
    /// The table selection of the run, reused by a resume.
    #[serde(default)]
    pub selection: Option<Selection>,
    /// A rehearsal on plain PostgreSQL (`--skip-distribution`); a resume keeps it.
    #[serde(default)]
    pub skip_distribution: bool,
}

impl State {
    pub fn new(source: String, target: String) -> Self {
        let now = now_utc();
        State {
            format_version: STATE_FORMAT_VERSION,
            source,
            target,
            created_at: now.clone(),
            updated_at: now,
            steps: Vec::new(),
            done_items: BTreeMap::new(),
            selection: None,
            skip_distribution: false,
        }
    }

    pub fn record(&self, step: Step) -> Option<&StepRecord> {
        self.steps.iter().find(|r| r.step == step)
    }

    fn record_mut(&mut self, step: Step) -> &mut StepRecord {
        if let Some(i) = self.steps.iter().position(|r| r.step == step) {
            return &mut self.steps[i];
        }
        self.steps.push(StepRecord {
            step,
            status: StepStatus::Running,
            started_at: now_utc(),
            finished_at: None,
            seconds: 0.0,
            rows: None,
            bytes: None,
            detail: None,
            attempts: 0,
        });
        self.steps.sort_by_key(|r| r.step);
        self.steps.iter_mut().find(|r| r.step == step).unwrap()
    }

    pub fn is_finished(&self, step: Step) -> bool {
        self.record(step)
            .is_some_and(|r| r.status != StepStatus::Running)
    }

    /// The last step that finished, for messages.
    pub fn last_finished(&self) -> Option<Step> {
        self.steps
            .iter()
            .filter(|r| r.status != StepStatus::Running)
            .map(|r| r.step)
            .max()
    }

    pub fn start(&mut self, step: Step) {
        let r = self.record_mut(step);
        r.status = StepStatus::Running;
        r.attempts += 1;
        r.finished_at = None;
    }

    pub fn add_time(&mut self, step: Step, seconds: f64) {
        self.record_mut(step).seconds += seconds;
    }

    pub fn finish(
        &mut self,
        step: Step,
        status: StepStatus,
        rows: Option<u64>,
        bytes: Option<u64>,
        detail: Option<String>,
    ) {
        let r = self.record_mut(step);
        r.status = status;
        r.finished_at = Some(now_utc());
        r.rows = rows;
        r.bytes = bytes;
        r.detail = detail;
    }

    pub fn item_done(&self, step: Step, item: usize) -> bool {
        self.done_items
            .get(&step)
            .is_some_and(|v| v.contains(&item))
    }
}

/// The folders `open` creates in a work directory.
const SKELETON: [&str; 4] = ["sql", "logs", "copy", "backup"];

/// An open work directory, locked for this process.
pub struct WorkDir {
    root: PathBuf,
    _lock: File,
    log: std::sync::Mutex<File>,
    /// For a new run: whether `open` created the directory itself (it was missing, not empty).
    created_root: Option<bool>,
}

impl WorkDir {
    /// Opens `root` for a new run (it must be missing or empty) or, with `resume`, for continuing the
    /// run recorded there. Takes the lock: a second run on the same directory is refused.
    pub fn open(root: &Path, resume: bool) -> Result<(WorkDir, Option<State>)> {
        let state_path = root.join("state.json");
        let existing = root.exists()
            && std::fs::read_dir(root)
                .map_err(|e| {
                    Error::io(
                        format!("cannot read the work directory {}", root.display()),
                        e,
                    )
                })?
                .next()
                .is_some();
        if existing && !resume {
            return Err(Error::Usage(crate::error::UsageProblem::WorkDirNotEmpty {
                path: root.to_path_buf(),
            }));
        }
        if resume && !state_path.exists() {
            return Err(Error::Usage(crate::error::UsageProblem::NothingToResume {
                path: root.to_path_buf(),
            }));
        }
        let created_root = (!resume).then(|| !root.exists());
        for sub in SKELETON {
            std::fs::create_dir_all(root.join(sub))
                .map_err(|e| Error::io(format!("cannot create {}", root.join(sub).display()), e))?;
        }
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(root.join("lock"))
            .map_err(|e| Error::io("cannot open the work directory's lock file", e))?;
        // SAFETY: flock on a file descriptor we own; released when the file is closed or we die.
        let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            return Err(Error::usage(format!(
                "another citus-migrate run is using the work directory {} (it holds {})",
                root.display(),
                root.join("lock").display()
            )));
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(root.join("logs").join("migrate.log"))
            .map_err(|e| Error::io("cannot open logs/migrate.log", e))?;
        let state = if resume {
            let text = std::fs::read_to_string(&state_path)
                .map_err(|e| Error::io(format!("cannot read {}", state_path.display()), e))?;
            let s: State = serde_json::from_str(&text).map_err(|e| {
                Error::usage(format!(
                    "{} is not a citus-migrate state file: {e}",
                    state_path.display()
                ))
            })?;
            if s.format_version != STATE_FORMAT_VERSION {
                return Err(Error::usage(format!(
                    "{} has format version {}, this citus-migrate reads version {STATE_FORMAT_VERSION}",
                    state_path.display(),
                    s.format_version
                )));
            }
            Some(s)
        } else {
            None
        };
        Ok((
            WorkDir {
                root: root.to_path_buf(),
                _lock: lock,
                log: std::sync::Mutex::new(log),
                created_root,
            },
            state,
        ))
    }

    /// Whether another process holds the lock of the work directory at `root`.
    pub fn is_locked(root: &Path) -> bool {
        let Ok(f) = OpenOptions::new().write(true).open(root.join("lock")) else {
            return false;
        };
        // SAFETY: flock on a file descriptor we own; released when `f` is closed below.
        unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) != 0 }
    }

    /// The recorded state of the run at `root`, read without the lock (for a caller that holds it).
    pub fn open_state(root: &Path) -> Result<((), State)> {
        let path = root.join("state.json");
        let text = std::fs::read_to_string(&path)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        let s: State = serde_json::from_str(&text).map_err(|e| {
            Error::usage(format!(
                "{} is not a citus-migrate state file: {e}",
                path.display()
            ))
        })?;
        Ok(((), s))
    }

    /// Undoes `open` for a new run that stopped before recording anything (no state.json yet, e.g.
    /// the source was unreachable): removes what `open` created, so that the same command can simply
    /// be run again. Does nothing for a resumed run or once state.json exists.
    pub fn discard(self) {
        let Some(created_root) = self.created_root else {
            return;
        };
        if self.state_path().exists() {
            return;
        }
        for sub in SKELETON {
            let _ = std::fs::remove_dir_all(self.root.join(sub));
        }
        let _ = std::fs::remove_file(self.root.join("lock"));
        if created_root {
            let _ = std::fs::remove_dir(&self.root);
        }
    }

    pub fn plan_path(&self) -> PathBuf {
        self.root.join("plan.json")
    }
    pub fn sql_dir(&self) -> PathBuf {
        self.root.join("sql")
    }
    pub fn copy_dir(&self) -> PathBuf {
        self.root.join("copy")
    }
    pub fn backup_path(&self) -> PathBuf {
        self.root.join("backup").join("source.dump")
    }
    pub fn state_path(&self) -> PathBuf {
        self.root.join("state.json")
    }

    /// Writes `state.json` atomically (temporary file, fsync, rename).
    pub fn save(&self, state: &mut State) -> Result<()> {
        state.updated_at = now_utc();
        let text = serde_json::to_string_pretty(state)
            .map_err(|e| Error::Other(format!("cannot write state.json: {e}")))?;
        write_atomic(&self.state_path(), text.as_bytes())
    }

    /// Appends a line to `logs/migrate.log`.
    pub fn log(&self, line: &str) {
        if let Ok(mut f) = self.log.lock() {
            let _ = writeln!(f, "{} {line}", now_utc());
        }
    }
}

/// Writes a file so that it is either the old or the new content after a crash.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f =
        File::create(&tmp).map_err(|e| Error::io(format!("cannot write {}", tmp.display()), e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| Error::io(format!("cannot write {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        Error::io(
            format!("cannot rename {} to {}", tmp.display(), path.display()),
            e,
        )
    })
}

/// The current time as RFC 3339 UTC with seconds.
pub fn now_utc() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_non_empty_directory_without_resume_and_resumes_with_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("something"), "x").unwrap();
        let e = WorkDir::open(dir.path(), false).err().unwrap();
        assert!(e.is_usage() && e.to_string().contains("not empty"), "{e}");
        let e = WorkDir::open(dir.path(), true).err().unwrap();
        assert!(e.to_string().contains("no state.json"), "{e}");

        let fresh = dir.path().join("new");
        let (wd, state) = WorkDir::open(&fresh, false).unwrap();
        assert!(state.is_none());
        let mut s = State::new("a".into(), "b".into());
        s.start(Step::Copy);
        s.finish(
            Step::PreData,
            StepStatus::Done,
            None,
            None,
            Some("ok".into()),
        );
        wd.save(&mut s).unwrap();
        // Locked while open.
        let e = WorkDir::open(&fresh, true).err().unwrap();
        assert!(e.to_string().contains("another citus-migrate run"), "{e}");
        drop(wd);
        let (_wd, state) = WorkDir::open(&fresh, true).unwrap();
        let state = state.unwrap();
        assert!(state.is_finished(Step::PreData));
        assert!(!state.is_finished(Step::Copy));
        assert_eq!(
            state.steps.iter().map(|r| r.step).collect::<Vec<_>>(),
            vec![Step::PreData, Step::Copy]
        );
        assert_eq!(state.last_finished(), Some(Step::PreData));
    }

    #[test]
    fn step_names_round_trip() {
        for s in Step::ALL {
            assert_eq!(Step::parse(s.name()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.name())
            );
        }
    }
}
