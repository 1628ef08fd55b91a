//! citus-migrate core: every stage of moving a PostgreSQL database into a Citus cluster.
//!
//! The pipeline, one module per stage, each using only the stages before it: [`catalog`] (read the
//! source) → [`advice`] → [`plan`] → [`plan::checks`] → [`sqlgen`] → [`copy`] → [`verify`] →
//! [`report`]; [`migrate`] runs them all. Connections are described by [`ConnInfo`] and opened by
//! [`connect::connect`].

// Connections.
pub mod connect;
pub mod conninfo;

// The pipeline (in data-flow order: catalog, advice, plan, sqlgen, copy, verify, report; migrate runs them).
pub mod advice;
pub mod catalog;
pub mod copy;
pub mod migrate;
pub mod plan;
pub mod report;
pub mod sqlgen;
pub mod verify;

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
mod workdir;

pub use conninfo::ConnInfo;
pub use error::{Error, Result, Side};
pub use ident::QualifiedName;
pub use progress::{NoProgress, Progress};
