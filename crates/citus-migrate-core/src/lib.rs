//! citus-migrate core: every stage of moving a PostgreSQL database into a Citus cluster.
//!
//! The pipeline, one module per stage, each using only the stages before it: [`catalog`] (read the
//! source) → advice → plan → [`plan::checks`] → sqlgen → copy → verify → [`report`]. Connections are described by [`conninfo::ConnInfo`] and opened by
//! [`connect::connect`]; [`local`] starts throwaway servers for tests and the demo.

pub mod advice;
pub mod backup;
pub mod catalog;
pub mod child;
pub mod connect;
pub mod conninfo;
pub mod copy;
#[cfg(feature = "local-servers")]
pub mod demo;
pub mod error;
pub mod filter;
pub mod ident;
#[cfg(feature = "local-servers")]
pub mod local;
pub mod migrate;
pub mod plan;
pub mod progress;
pub mod report;
pub mod sequences;
pub mod sqlgen;
pub mod util;
pub mod verify;
pub mod workdir;

pub use error::{Error, Result, Side};
