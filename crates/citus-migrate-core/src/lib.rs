//! citus-migrate core: every stage of moving a PostgreSQL database into a Citus cluster — read the
//! source, advise a distribution plan, check it, turn it into SQL, copy the rows exactly once, verify.
//! The `citus-migrate` command line is a thin front end over this crate; other tooling embeds it the
//! same way (`examples/embed.rs` runs analyze → plan → migrate with a progress of its own).
//!
//! # The stages
//!
//! One public module per stage, in data-flow order; a stage uses only the stages above it. Each has
//! one entry point, with its options and its result:
//!
//! | stage | entry point | options | result |
//! |---|---|---|---|
//! | [`catalog`]: read the source | [`catalog::analyze`] | [`catalog::ReadOptions`] | [`catalog::Catalog`] |
//! | [`advice`]: advise a distribution | [`advice::advise`] | [`advice::AdviceOptions`] | [`advice::Advice`] |
//! | [`plan`]: the plan, `plan.json` | [`plan::Plan::from_advice`], [`plan::Plan::load`] | | [`plan::Plan`] |
//! | [`plan::checks`]: what blocks a plan | [`plan::checks::check_source`] | | [`plan::checks::Blocker`]s |
//! | [`sqlgen`]: plan choice → checked plan → SQL | [`sqlgen::prepare`] | [`plan::PlanChoice`] | [`sqlgen::Prepared`] |
//! | [`copy`]: the rows, exactly once, resumable | [`copy::copy_tables`] | [`copy::CopyOptions`] | [`copy::CopySummary`] |
//! | [`verify`]: the target against the source | [`verify::verify`] | [`verify::VerifyOptions`] | [`verify::VerifyReport`] |
//! | [`workload`]: the application's queries, their routing | [`workload::analyze`] | [`workload::WorkloadSource`] | [`workload::Workload`], [`workload::WorkloadReport`] |
//! | [`report`]: the `analyze` report | [`report::AnalyzeReport::new`] | | text, JSON, CSV |
//! | [`migrate`]: all of them, resumable | [`migrate::migrate`] | [`migrate::MigrateOptions`] | [`migrate::MigrateSummary`] |
//!
//! After the migration, [`cluster`] operates the Citus cluster with Citus's own functions: where the
//! shards are ([`cluster::status`]), rebalancing ([`cluster::rebalance`]), adding, draining and
//! removing workers ([`cluster::nodes`]), health checks ([`cluster::check`]).
//!
//! What they share: [`ConnInfo`] (libpq-style connection options, [`conninfo`]) and
//! [`connect::connect`] (TLS; [`connect::query`] and [`connect::execute`] run statements in a way
//! that works behind PgBouncer in transaction pooling mode); [`Progress`], which the long stages call
//! and a front end implements ([`NoProgress`] shows nothing); [`Error`], which says which [`Side`] it
//! is about; [`filter::Selection`] (pg_dump-style table selection); [`QualifiedName`] and quoting
//! ([`ident`]); [`util`] (numbers as the reports print them).
//!
//! # Example
//!
//! The advised plan, checked and saved where a person can read it, then the migration (a work
//! directory records every step: the same call with `resume: true` continues where it stopped):
//!
//! ```no_run
//! use citus_migrate_core::advice::{self, AdviceOptions};
//! use citus_migrate_core::catalog::{self, ReadOptions};
//! use citus_migrate_core::filter::Selection;
//! use citus_migrate_core::migrate::{self, MigrateOptions};
//! use citus_migrate_core::plan::PlanChoice;
//! use citus_migrate_core::{sqlgen, ConnInfo, NoProgress, Side};
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let source = ConnInfo::parse(Side::Source, "postgresql://app@db.example.com/shop")?;
//!     let target = ConnInfo::parse(Side::Target, "postgresql://app@citus.example.com/shop")?;
//!
//!     // analyze: what the source holds, and what the advisor makes of it.
//!     let catalog = catalog::analyze(&source, &ReadOptions::default()).await?;
//!     let advice = advice::advise(&catalog, &AdviceOptions::default());
//!     for t in &advice.tables {
//!         println!("{}: {} {:?}", t.qualified(), t.kind, t.distribution_column);
//!     }
//!
//!     // plan: the advised plan checked against the source (a blocked plan is
//!     // Error::PlanBlocked, with every blocker), and the SQL it becomes.
//!     let filters = Selection::default();
//!     let prepared =
//!         sqlgen::prepare(&source, &catalog, &filters, &PlanChoice::default(), None).await?;
//!     prepared.plan.save("plan.json".as_ref())?;
//!
//!     // migrate: schema, distribution, copy, indexes, sequences, ANALYZE, verify.
//!     let opts = MigrateOptions {
//!         work_dir: "citus-migrate-work".into(),
//!         plan_file: Some("plan.json".into()),
//!         ..Default::default()
//!     };
//!     let summary = migrate::migrate(&source, &target, &opts, &NoProgress).await?;
//!     println!("{} rows copied; equal: {}", summary.rows, summary.equal);
//!     Ok(())
//! }
//! ```
//!
//! # Conventions
//!
//! - Options are plain structs with public fields and a `Default`: set what you need and write
//!   `..Default::default()` for the rest. A field added later comes with a default that keeps the
//!   behaviour as it was, so such code keeps compiling; this is why option structs are not
//!   `#[non_exhaustive]` (that would forbid building them outside this crate).
//! - Results, summaries, and the enums that will grow ([`Error`], [`plan::checks::Code`],
//!   [`verify::DifferenceKind`], [`migrate::Step`]) are `#[non_exhaustive]`: read their fields, match
//!   them with a `_` arm; only this crate builds them.
//! - Everything that talks to a server is `async` and runs on tokio (a connection's driver runs on the
//!   current runtime). Nothing prints: text comes back as strings (`to_text`, `to_json`) and
//!   [`Progress`] calls.
//!
//! # Cargo features
//!
//! - `local-servers` (off by default): the modules `local` (throwaway PostgreSQL servers, Citus
//!   clusters and PgBouncers in temporary directories, for tests and benchmarks) and `demo` (the
//!   servers and sample data of `citus-migrate demo`). The migration itself never uses them.

// Connections.
pub mod connect;
pub mod conninfo;

// The pipeline (in data-flow order: catalog, advice, plan, sqlgen, copy, verify, report; migrate runs them).
pub mod advice;
pub mod catalog;
pub mod copy;
pub mod migrate;
pub mod online;
pub mod plan;
pub mod report;
pub mod sqlgen;
pub mod verify;
pub mod workload;

// After the migration: the cluster's status, rebalancing, nodes, health checks.
pub mod cluster;

// What the stages share.
pub mod error;
pub mod filter;
pub mod ident;
pub mod progress;
pub mod util;

// Test and demo servers: not part of the default API.
#[cfg(feature = "local-servers")]
pub mod demo;
#[cfg(feature = "local-servers")]
pub mod local;

// Inside the stages.
mod backup;
mod child;
mod sequences;
mod standby;
mod workdir;

pub use conninfo::ConnInfo;
pub use error::{Error, Result, Side};
pub use ident::QualifiedName;
pub use progress::{NoProgress, Progress};
