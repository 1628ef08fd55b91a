//! Typed errors of the core crate.
//!
//! Every error that comes from a database keeps the underlying [`tokio_postgres::Error`] reachable
//! (and with it the SQLSTATE, see [`Error::sqlstate`]) and says which side it is about.

use std::fmt;

use crate::plan::checks::{Blocker, Severity};
use crate::plan::Plan;

/// Which database an error or an operation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Source,
    Target,
}

impl Side {
    /// Where the user gives this side's connection: the option and its environment variable.
    pub fn option(self) -> &'static str {
        match self {
            Side::Source => "--source / CITUS_MIGRATE_SOURCE",
            Side::Target => "--target / CITUS_MIGRATE_TARGET",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Target => "target",
        })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The connection string or an option given with it is malformed. Never contains a password.
    #[error("{side} connection string is invalid: {message}")]
    ConnString { side: Side, message: String },

    /// Could not open a connection. `endpoint` is the redacted `host:port/db user=…` description.
    #[error("cannot connect to the {side} database ({endpoint}): {reason}{hint}")]
    Connect {
        side: Side,
        endpoint: String,
        reason: String,
        hint: String,
        #[source]
        source: Option<tokio_postgres::Error>,
    },

    /// A statement failed on one side.
    #[error("{side}: {context}: {}{}", db_message(.source), privilege_hint(*.side, .source))]
    Db {
        side: Side,
        context: String,
        #[source]
        source: tokio_postgres::Error,
    },

    /// Bad input from the user that is not about a connection (filters, table names, plan files…).
    #[error("{0}")]
    Usage(String),

    /// A precondition on one side is not met (missing table, non-empty target, missing privilege…).
    #[error("{side}: {message}")]
    Precondition { side: Side, message: String },

    /// The checks found errors that keep the plan from being applied on Citus. `blockers` holds every
    /// finding, the warnings too; the message lists the errors, each naming its table, with the fix.
    #[error("{}: {}", Side::Source, blocked_message(.blockers))]
    PlanBlocked {
        plan: Box<Plan>,
        blockers: Vec<Blocker>,
    },

    /// A local program (initdb, pg_ctl, pg_dump…) failed or is missing.
    #[error("{program}: {message}")]
    Tool { program: String, message: String },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// Anything else that is a plain message about one stage of the pipeline.
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn db(side: Side, context: impl Into<String>, source: tokio_postgres::Error) -> Self {
        Error::Db {
            side,
            context: context.into(),
            source,
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Error::Usage(message.into())
    }

    /// The SQLSTATE of the database error behind this error, when there is one.
    pub fn sqlstate(&self) -> Option<&tokio_postgres::error::SqlState> {
        match self {
            Error::Db { source, .. } => source.code(),
            Error::Connect {
                source: Some(source),
                ..
            } => source.code(),
            _ => None,
        }
    }

    /// The side this error is about, when it is about one.
    pub fn side(&self) -> Option<Side> {
        match self {
            Error::ConnString { side, .. }
            | Error::Connect { side, .. }
            | Error::Db { side, .. }
            | Error::Precondition { side, .. } => Some(*side),
            Error::PlanBlocked { .. } => Some(Side::Source),
            _ => None,
        }
    }

    /// True when the error comes from bad arguments (exit code 2) rather than from running (exit code 1).
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Usage(_) | Error::ConnString { .. })
    }
}

/// `the plan cannot be applied on Citus: N blocker(s)` and the errors, one per line, each with its fix.
fn blocked_message(blockers: &[Blocker]) -> String {
    let errors: Vec<&Blocker> = blockers
        .iter()
        .filter(|b| b.severity == Severity::Error)
        .collect();
    let mut msg = format!(
        "the plan cannot be applied on Citus: {} blocker(s)",
        errors.len()
    );
    for b in errors {
        msg.push_str(&format!("\n  - {b}"));
        if let Some(fix) = &b.fix {
            msg.push_str(&format!(
                "\n    fix: {}",
                crate::ident::indent_sql(fix, "         ")
            ));
        }
    }
    msg
}

/// For a missing privilege (SQLSTATE 42501): what to do about it, naming the side's user.
fn privilege_hint(side: Side, e: &tokio_postgres::Error) -> String {
    let denied = e
        .as_db_error()
        .is_some_and(|db| db.code() == &tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE);
    if !denied {
        return String::new();
    }
    format!(
        ". The {side} user lacks a privilege this needs: GRANT it to that user, or connect as the owner or a superuser ({})",
        side.option()
    )
}

/// The server's message with its detail and hint, or the client error's text.
pub(crate) fn db_message(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        let mut s = format!("{} (SQLSTATE {})", db.message(), db.code().code());
        if let Some(d) = db.detail() {
            s.push_str(&format!("; detail: {d}"));
        }
        if let Some(h) = db.hint() {
            s.push_str(&format!("; hint: {h}"));
        }
        s
    } else {
        let mut s = e.to_string();
        let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
        while let Some(c) = cur {
            s.push_str(&format!(": {c}"));
            cur = c.source();
        }
        s
    }
}
