//! Progress reporting: a trait the pipeline calls and front ends implement (the CLI draws indicatif
//! bars or prints plain lines). Every method has an empty default so an implementation picks what it
//! shows.
//!
//! ```
//! use std::sync::atomic::{AtomicU64, Ordering};
//!
//! use citus_migrate_core::{Progress, QualifiedName};
//!
//! /// Counts the rows copied and prints a line per finished table.
//! #[derive(Default)]
//! struct Rows(AtomicU64);
//!
//! impl Progress for Rows {
//!     fn advance(&self, _table: &QualifiedName, _bytes: u64, rows: u64) {
//!         self.0.fetch_add(rows, Ordering::Relaxed);
//!     }
//!     fn table_finished(&self, table: &QualifiedName) {
//!         println!("{table} done ({} rows so far)", self.0.load(Ordering::Relaxed));
//!     }
//! }
//!
//! let rows = Rows::default();
//! rows.advance(&QualifiedName::new("public", "orders"), 8192, 100);
//! rows.table_finished(&QualifiedName::new("public", "orders"));
//! assert_eq!(rows.0.load(Ordering::Relaxed), 100);
//! ```

use crate::ident::QualifiedName;

/// What the long stages ([`crate::copy`], [`crate::verify`], [`crate::migrate`]) report while they run.
/// The methods are called from several tasks at once.
pub trait Progress: Send + Sync {
    /// A named step of a longer run starts (`copy`, `post-data`, …).
    fn step(&self, _name: &str) {}
    /// Work on a table starts; the totals are estimates (relation size, `reltuples`) and may be 0.
    fn table_started(&self, _table: &QualifiedName, _expected_bytes: u64, _expected_rows: u64) {}
    /// Some bytes and rows of a table are done.
    fn advance(&self, _table: &QualifiedName, _bytes: u64, _rows: u64) {}
    /// A table is complete.
    fn table_finished(&self, _table: &QualifiedName) {}
    /// A line worth showing (a retry, a skipped chunk, a warning).
    fn message(&self, _text: &str) {}
    /// The online catch-up's figures after each of its rounds (lag, changes/s).
    fn online(&self, _status: &crate::online::OnlineStatus) {}
}

/// Shows nothing.
pub struct NoProgress;

impl Progress for NoProgress {}
