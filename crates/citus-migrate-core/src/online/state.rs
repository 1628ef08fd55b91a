//! The online migration's files in the work directory:
//!
//! ```text
//! DIR/online/state.json     slot, publication, tables and their columns, the stage (following, cut over, aborted)
//! DIR/online/snapshot.json  the copy's snapshot (written by the copy when it takes it)
//! DIR/online/status.json    the catch-up's last figures (lag, changes/s), rewritten after each batch
//! DIR/online/stop           asks a following run to stop (written by cutover and abort)
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::snapshot::CopySnapshot;
use crate::error::{Error, Result};
use crate::ident::QualifiedName;
use crate::workdir::write_atomic;

/// Where an online migration is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Stage {
    /// Slot and publication exist; the copy and the catch-up run.
    Following,
    /// Drained, verified, slot and publication dropped.
    CutOver,
    /// Slot and publication dropped without cutting over.
    Aborted,
}

/// A source table as the catch-up expects pgoutput to describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableColumns {
    pub table: QualifiedName,
    pub columns: Vec<String>,
    pub types: Vec<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OnlineState {
    pub slot: String,
    pub publication: String,
    pub stage: Stage,
    pub tables: Vec<TableColumns>,
    /// Set while the cutover holds the source's database read-only: the value to restore.
    #[serde(default)]
    pub blocked_writes: Option<BlockedWrites>,
    /// Which command started it: a whole migration, or the copy of a table selection.
    #[serde(default)]
    pub origin: Origin,
    /// Columns the plan adds on the target, filled from a parent's row: the catch-up looks their
    /// values up on the target for each row it inserts or updates.
    #[serde(default)]
    pub added: Vec<AddedColumn>,
}

/// A column the target has and the source has not (the plan's `add_column`), and the way to its
/// value: from the table's foreign key columns through each parent to the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddedColumn {
    pub table: QualifiedName,
    pub column: String,
    /// The table's columns that the first foreign key matches.
    pub columns: Vec<String>,
    pub hops: Vec<Hop>,
}

/// One parent on the way: its row is the one whose `key` columns hold the values found so far; its
/// `read` columns are the next values (the next foreign key's columns, or at the end the value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hop {
    pub table: QualifiedName,
    pub key: Vec<String>,
    pub read: Vec<String>,
}

impl AddedColumn {
    /// The lookup path of a column a plan adds, resolved against the source's catalog.
    pub fn of(a: &crate::plan::changes::AddedColumn) -> AddedColumn {
        let hops = a
            .path
            .iter()
            .enumerate()
            .map(|(i, (fk, _))| Hop {
                table: fk.referenced_table.clone(),
                key: fk.referenced_columns.clone(),
                read: match a.path.get(i + 1) {
                    Some((next, _)) => next.columns.clone(),
                    None => vec![a.from.name.clone()],
                },
            })
            .collect();
        AddedColumn {
            table: a.table.clone(),
            column: a.column.clone(),
            columns: a.path[0].0.columns.clone(),
            hops,
        }
    }
}

/// What an online migration's cutover finishes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// `migrate`: schema, copy, indexes, sequences, then the catch-up; the cutover verifies against
    /// the plan.
    #[default]
    Migrate,
    /// `copy` of a table selection into tables that exist on the target: the cutover sets the
    /// sequences those tables own and verifies those tables.
    Copy,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlockedWrites {
    pub database: String,
    /// The database's own `default_transaction_read_only` before (None: not set on the database).
    pub previous: Option<String>,
}

/// The catch-up's figures, as `status` shows them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OnlineStatus {
    /// The source position applied on the target (the end of the last applied commit).
    pub applied_lsn: String,
    /// WAL written on the source past it, in bytes.
    pub lag_bytes: u64,
    /// How far behind the source the target is, in seconds (0 when caught up).
    pub lag_seconds: f64,
    /// Changes (rows inserted, updated, deleted; truncates) applied per second, over the last batch.
    pub changes_per_second: f64,
    /// Applied by this run so far.
    pub transactions: u64,
    pub changes: u64,
    /// WAL the slot keeps on the source, in bytes.
    pub retained_wal_bytes: u64,
    /// The slot's `wal_status` on the source: `reserved`, `extended`, `unreserved` (the next
    /// checkpoint may remove WAL it needs) or `lost`.
    #[serde(default)]
    pub wal_status: String,
    /// WAL that can still be written before the source invalidates the slot (`safe_wal_size`; None
    /// when `max_slot_wal_keep_size` is unlimited).
    #[serde(default)]
    pub safe_wal_bytes: Option<u64>,
    /// When these figures were written (RFC 3339, UTC).
    pub updated_at: String,
}

pub(crate) struct Files {
    dir: PathBuf,
}

impl Files {
    pub fn new(work_dir: &Path) -> Self {
        Files {
            dir: work_dir.join("online"),
        }
    }
    pub fn exists(&self) -> bool {
        self.state_path().exists()
    }
    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }
    pub fn snapshot_path(&self) -> PathBuf {
        self.dir.join("snapshot.json")
    }
    fn status_path(&self) -> PathBuf {
        self.dir.join("status.json")
    }
    fn stop_path(&self) -> PathBuf {
        self.dir.join("stop")
    }
    fn ensure_dir(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Error::io(format!("cannot create {}", self.dir.display()), e))
    }

    pub fn load(&self) -> Result<OnlineState> {
        read_json(&self.state_path())
    }
    pub fn save(&self, state: &OnlineState) -> Result<()> {
        self.ensure_dir()?;
        write_json(&self.state_path(), state)
    }
    pub fn snapshot(&self) -> Result<CopySnapshot> {
        read_json(&self.snapshot_path())
    }
    pub fn status(&self) -> Result<OnlineStatus> {
        read_json(&self.status_path())
    }
    pub fn save_status(&self, status: &OnlineStatus) -> Result<()> {
        write_json(&self.status_path(), status)
    }
    pub fn stop_requested(&self) -> bool {
        self.stop_path().exists()
    }
    pub fn request_stop(&self) -> Result<()> {
        self.ensure_dir()?;
        std::fs::write(self.stop_path(), b"stop\n")
            .map_err(|e| Error::io(format!("cannot write {}", self.stop_path().display()), e))
    }
    pub fn clear_stop(&self) -> Result<()> {
        match std::fs::remove_file(self.stop_path()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(
                format!("cannot remove {}", self.stop_path().display()),
                e,
            )),
            _ => Ok(()),
        }
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
    serde_json::from_str(&text).map_err(|e| {
        Error::usage(format!(
            "{} is not what citus-migrate wrote: {e}",
            path.display()
        ))
    })
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| Error::Other(e.to_string()))?;
    write_atomic(path, &text)
}
