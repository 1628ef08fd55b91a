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
    #[error("cannot connect to the {side} database ({endpoint}): {reason}{}",
        .hint.map(|h| h.text(&format!("the {side} connection string"), .worker.as_deref())).unwrap_or_default())]
    Connect {
        side: Side,
        endpoint: String,
        reason: String,
        /// What the failure most likely means and what to check, when it is recognised.
        hint: Option<ConnectHint>,
        /// For a Citus worker node, the address the coordinator's `pg_dist_node` lists it under.
        worker: Option<String>,
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
    Usage(UsageProblem),

    /// A precondition on one side is not met (missing table, non-empty target, missing privilege…).
    /// `remedy`, when there is one, is what the user can ask for instead; the CLI names its option.
    #[error("{side}: {message}{}", remedy_suffix(.remedy))]
    Precondition {
        side: Side,
        message: String,
        remedy: Option<Remedy>,
    },

    /// A step on one side made no progress (or got no answer) within `after`.
    #[error("{side}: {} {}s while {what}{}", .kind.lead(), .after.as_secs(), .kind.tail())]
    Timeout {
        side: Side,
        what: String,
        after: std::time::Duration,
        kind: TimeoutKind,
    },

    /// A run stopped part-way: `context` says where, `source` why; what was done is kept, and `remedy`
    /// continues it.
    #[error("{context}: {source}{}", remedy_suffix(&Some(.remedy.clone())))]
    Stopped {
        context: String,
        #[source]
        source: Box<Error>,
        remedy: Remedy,
    },

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

    /// A local program that cannot be used (missing, or too old for the source), with how to get one
    /// that can; the CLI names its option for the program's path.
    #[error("{program}: {message}; {remedy}")]
    ToolUnusable {
        program: String,
        message: String,
        remedy: Remedy,
    },

    /// A limit of the machine this runs on (open files, memory) that the run would exceed.
    #[error("{message}; {remedy}")]
    Limit { message: String, remedy: Remedy },

    /// Rows went missing or were added on the way: a count one side reported differs from what was
    /// sent. Never retried: it means a bug or an interfering process, not a transient failure.
    #[error("{side}: {what} accepted {accepted} rows but {sent} were sent")]
    RowCountMismatch {
        side: Side,
        what: String,
        accepted: u64,
        sent: u64,
    },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// An internal failure (a thread that could not start, a report that could not be serialized…).
    #[error("{0}")]
    Other(String),
}

/// What a failed connection most likely means ([`Error::Connect`]); [`ConnectHint::text`] says what to
/// check, with the words for where the connection's options were given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectHint {
    /// The server rejected the password.
    WrongPassword,
    /// The server asks for a password and none was given.
    PasswordMissing,
    /// The database does not exist on that server.
    NoDatabase,
    /// The server accepts only TLS connections from here.
    TlsRequired,
    /// pg_hba.conf has no entry for this user/host/database.
    HbaRefused,
    /// The user lacks CONNECT on the database.
    NoConnectPrivilege,
    /// The server has no free connection slots.
    NoSlots,
    /// Nothing accepts connections at that address.
    Refused,
    /// No answer in time.
    TimedOut,
    /// The connection was not complete within connect_timeout.
    NoHandshake,
    /// The host name does not resolve.
    UnknownHost,
    /// The TLS handshake failed.
    Tls,
    /// No server socket in the given directory.
    NoSocket,
}

impl ConnectHint {
    /// The hint as a sentence (starting with ". "), `given_in` naming where the connection's options
    /// come from ("the source connection string"), `worker` the address of a Citus worker node.
    pub fn text(self, given_in: &str, worker: Option<&str>) -> String {
        let unreachable = |hint: String| {
            match worker {
            None => hint,
            Some(node) => format!(
                ". The coordinator's pg_dist_node lists this worker as {node}: this machine must reach it \
                 there too"
            ),
        }
        };
        match (self, worker) {
            (ConnectHint::WrongPassword, None) => format!(
                ". Check the user name and password ({given_in}, PGPASSWORD or the password file)"
            ),
            (ConnectHint::WrongPassword, Some(node)) => format!(
                ". Workers are reached with the target's user and password ({given_in} or PGPASSWORD), \
                 else with the password file's line for {node}: check that user's password on this \
                 worker, or add such a line"
            ),
            (ConnectHint::PasswordMissing, None) => format!(
                ". The server asks for a password: give one in {given_in}, PGPASSWORD or ~/.pgpass"
            ),
            (ConnectHint::PasswordMissing, Some(node)) => format!(
                ". The worker asks for a password: give one in {given_in} or PGPASSWORD (used for every \
                 node), or a password-file line for {node}"
            ),
            (ConnectHint::NoDatabase, _) => format!(
                ". The database does not exist on that server: check dbname in {given_in}"
            ),
            (ConnectHint::TlsRequired, _) => format!(
                ". The server accepts only TLS connections from here: use sslmode=require (or verify-ca / \
                 verify-full) in {given_in} or PGSSLMODE"
            ),
            (ConnectHint::HbaRefused, _) => ". The server refused this user/host/database combination: \
                check pg_hba.conf and the user name"
                .to_string(),
            (ConnectHint::NoConnectPrivilege, _) => format!(
                ". The user may not connect to this database: GRANT CONNECT ON DATABASE to it, or use \
                 another user in {given_in}"
            ),
            (ConnectHint::NoSlots, _) => ". The server has no free connection slots: use fewer \
                parallel jobs or raise max_connections"
                .to_string(),
            (ConnectHint::Refused, _) => unreachable(format!(
                ". Nothing accepts connections there: is the server running, and are host and port in \
                 {given_in} right?"
            )),
            (ConnectHint::TimedOut, _) => unreachable(
                ". The server did not answer in time: check host, port and firewalls, or raise \
                 connect_timeout"
                    .to_string(),
            ),
            (ConnectHint::NoHandshake, _) => ". Is a PostgreSQL server (or PgBouncer/PgCat) listening \
                there, and is it overloaded? Check host, port and firewalls, or raise connect_timeout"
                .to_string(),
            (ConnectHint::UnknownHost, _) => unreachable(format!(
                ". The host name cannot be resolved: check host in {given_in}"
            )),
            (ConnectHint::Tls, _) => ". TLS failed: check sslmode, sslrootcert (and sslcert/sslkey \
                where the server asks for a client certificate) and that the server has TLS enabled"
                .to_string(),
            (ConnectHint::NoSocket, _) => ". No server socket in that directory: is the server \
                running locally? Give host and port otherwise"
                .to_string(),
        }
    }
}

/// What kind of wait ran out in an [`Error::Timeout`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    /// Data stopped flowing: the peer is dead or stuck (worth another attempt).
    NoProgress,
    /// A step before any data moved got no answer: a lock held elsewhere, or a dead connection.
    NoAnswer,
}

impl TimeoutKind {
    fn lead(self) -> &'static str {
        match self {
            TimeoutKind::NoProgress => "no progress for",
            TimeoutKind::NoAnswer => "no answer within",
        }
    }

    fn tail(self) -> &'static str {
        match self {
            TimeoutKind::NoProgress => "; the connection looks dead",
            TimeoutKind::NoAnswer => " (a lock held by another session, or a dead connection?)",
        }
    }
}

/// What the user can do about a failed precondition or a stopped run, as a choice of the caller's
/// (the CLI renders each as its options; core never names them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remedy {
    /// Empty the one table concerned and copy it again.
    TruncateTable,
    /// Empty the target tables and start the copy over.
    TruncateTables,
    /// Empty the target tables and start over, or continue an interrupted copy.
    TruncateOrResume,
    /// Run the copy again, continuing from what was committed.
    ResumeCopy,
    /// Run the same migration again, continuing from `step` as recorded in `state_file`.
    ResumeMigration {
        step: String,
        state_file: std::path::PathBuf,
    },
    /// Migrate into an empty database, or continue the run that created the tables.
    EmptyTargetOrResume,
    /// Rehearse on plain PostgreSQL without distributing the tables.
    SkipDistribution,
    /// Leave the table out of the selection, or do without exact counts.
    ExcludeTableOrNoCounts,
    /// Fewer parallel streams, or a higher limit.
    FewerJobs,
    /// Give a work directory to continue a migration from, or an empty one.
    ResumeOrEmptyWorkDir,
    /// Install the PostgreSQL client programs, or point to a pg_dump.
    InstallPgDump,
    /// Install a newer PostgreSQL client, or point to a newer pg_dump.
    NewerPgDump,
    /// Choose a shard transfer mode that needs no replica identity (`block_writes`, `force_logical`).
    ShardTransferMode,
    /// Drain the node (move its shards away) before removing it.
    DrainFirst { node: String },
}

impl fmt::Display for Remedy {
    /// The remedy in words, naming no option of any front end.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Remedy::TruncateTable => f.write_str("truncate the table to copy it again"),
            Remedy::TruncateTables => f.write_str("truncate the tables to start over"),
            Remedy::TruncateOrResume => f.write_str(
                "truncate the tables to start over, or resume to continue an interrupted copy",
            ),
            Remedy::ResumeCopy => f.write_str("fix the cause and resume the copy"),
            Remedy::ResumeMigration { step, state_file } => write!(
                f,
                "\n  The steps before it are recorded in {}; after fixing the cause, resume the run to continue from {step}.",
                state_file.display()
            ),
            Remedy::EmptyTargetOrResume => f.write_str(
                "migrate into an empty database, or resume the run that created them",
            ),
            Remedy::SkipDistribution => {
                f.write_str("or skip the distribution to rehearse on plain PostgreSQL")
            }
            Remedy::ExcludeTableOrNoCounts => {
                f.write_str("or leave the table out, or do without exact counts")
            }
            Remedy::FewerJobs => f.write_str("run fewer parallel jobs or raise the limit"),
            Remedy::ResumeOrEmptyWorkDir => f.write_str(
                "resume to continue the migration recorded there, or choose an empty directory",
            ),
            Remedy::InstallPgDump => f.write_str(
                "install the PostgreSQL client programs or give the path of a pg_dump",
            ),
            Remedy::NewerPgDump => f.write_str(
                "install a newer PostgreSQL client or give the path of a newer pg_dump",
            ),
            Remedy::ShardTransferMode => f.write_str(
                "or choose the shard transfer mode block_writes (writes to a moving shard wait) or force_logical (its UPDATE and DELETE fail)",
            ),
            Remedy::DrainFirst { node } => write!(f, "drain {node} first, then remove it"),
        }
    }
}

/// How a remedy follows its message: a migration's resume hint on its own line, the others after `; `.
pub fn remedy_separator(remedy: &Remedy) -> &'static str {
    match remedy {
        Remedy::ResumeMigration { .. } => "",
        _ => "; ",
    }
}

fn remedy_suffix(remedy: &Option<Remedy>) -> String {
    remedy
        .as_ref()
        .map(|r| format!("{}{r}", remedy_separator(r)))
        .unwrap_or_default()
}

/// A usage error's problem, with its fields; the CLI words the ones that concern its options.
#[derive(Debug, Clone, PartialEq)]
pub enum UsageProblem {
    /// A value the user gave is malformed or out of range (a pattern, a name, a plan file, a CSV file…);
    /// the message names the value, not an option.
    Invalid(String),
    /// Nothing was selected to copy.
    NoTables,
    /// Zero parallel jobs were asked for.
    JobsZero,
    /// The demo's scale is outside 1..=100.
    ScaleOutOfRange { scale: f64 },
    /// Schema or table patterns that match no table of the source database.
    NoMatch {
        database: String,
        patterns: Vec<String>,
    },
    /// A table of the source the selection (or plan) named does not exist.
    NotInSource { what: String },
    /// A schema of the source that was named does not exist.
    SchemaNotInSource { what: String },
    /// The work directory is not empty and no resume was asked for.
    WorkDirNotEmpty { path: std::path::PathBuf },
    /// A resume was asked for, but the work directory records no migration.
    NothingToResume { path: std::path::PathBuf },
    /// A resume was asked for with other settings than the run being resumed.
    ResumeMismatch(Vec<ResumeMismatch>),
}

/// One way a resumed run differs from the one recorded in the work directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResumeMismatch {
    Source { given: String, recorded: String },
    Target { given: String, recorded: String },
    Selection,
    SkipDistribution,
}

impl fmt::Display for UsageProblem {
    /// The problem in words, naming no option of any front end.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageProblem::Invalid(message) => f.write_str(message),
            UsageProblem::NoTables => f.write_str("no tables to copy"),
            UsageProblem::JobsZero => f.write_str("the number of parallel jobs must be at least 1"),
            UsageProblem::ScaleOutOfRange { scale } => {
                write!(f, "the scale must be above 0 and at most 100, not {scale}")
            }
            UsageProblem::NoMatch { database, patterns } => write!(
                f,
                "no table in the source database {database:?} matches the schema/table pattern(s) {}: {}",
                quoted_list(patterns),
                NO_MATCH_HINT
            ),
            UsageProblem::NotInSource { what } => {
                write!(f, "source: {what}: check the table selection")
            }
            UsageProblem::SchemaNotInSource { what } => {
                write!(f, "source: {what}: check the schema name")
            }
            UsageProblem::WorkDirNotEmpty { path } => write!(
                f,
                "the work directory {} is not empty: {}",
                path.display(),
                Remedy::ResumeOrEmptyWorkDir
            ),
            UsageProblem::NothingToResume { path } => write!(
                f,
                "resume: {} holds no state.json, so there is no migration to resume there",
                path.display()
            ),
            UsageProblem::ResumeMismatch(wrong) => {
                let words: Vec<String> = wrong.iter().map(|w| w.to_string()).collect();
                write!(f, "resume with {}", words.join("; "))
            }
        }
    }
}

impl fmt::Display for ResumeMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResumeMismatch::Source { given, recorded } => {
                write!(f, "source {given} (the work directory is for {recorded})")
            }
            ResumeMismatch::Target { given, recorded } => {
                write!(f, "target {given} (the work directory is for {recorded})")
            }
            ResumeMismatch::Selection => {
                f.write_str("a different schema/table selection than the run being resumed")
            }
            ResumeMismatch::SkipDistribution => {
                f.write_str("no distribution, but the run being resumed distributes its tables")
            }
        }
    }
}

/// `"a", "b"`: patterns as the user wrote them, each quoted.
pub fn quoted_list(items: &[String]) -> String {
    items
        .iter()
        .map(|p| format!("{p:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What to check when patterns match nothing (after the patterns themselves).
pub const NO_MATCH_HINT: &str = "check the spelling (unquoted names are folded to lower case; write \"Name\" to keep case, * and ? are wildcards)";

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
        Error::Usage(UsageProblem::Invalid(message.into()))
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
            | Error::Precondition { side, .. }
            | Error::RowCountMismatch { side, .. }
            | Error::Timeout { side, .. } => Some(*side),
            Error::Stopped { source, .. } => source.side(),
            Error::PlanBlocked { .. } => Some(Side::Source),
            _ => None,
        }
    }

    /// True for a wait that ran out ([`Error::Timeout`]), also behind a stopped run.
    pub fn is_timeout(&self) -> bool {
        match self {
            Error::Timeout { .. } => true,
            Error::Stopped { source, .. } => source.is_timeout(),
            _ => false,
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
    privilege_text(side, &format!("the {side} connection string"))
}

/// The hint for a missing privilege, `setting` naming where the side's connection is given.
pub fn privilege_text(side: Side, setting: &str) -> String {
    format!(
        ". The {side} user lacks a privilege this needs: GRANT it to that user, or connect as the owner or a superuser ({setting})"
    )
}

/// The server's message with its detail and hint, or the client error's text.
pub fn db_message(e: &tokio_postgres::Error) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn remedies() -> Vec<Remedy> {
        vec![
            Remedy::TruncateTable,
            Remedy::TruncateTables,
            Remedy::TruncateOrResume,
            Remedy::ResumeCopy,
            Remedy::ResumeMigration {
                step: "copy".into(),
                state_file: PathBuf::from("w/state.json"),
            },
            Remedy::EmptyTargetOrResume,
            Remedy::SkipDistribution,
            Remedy::ExcludeTableOrNoCounts,
            Remedy::FewerJobs,
            Remedy::ResumeOrEmptyWorkDir,
            Remedy::InstallPgDump,
            Remedy::NewerPgDump,
            Remedy::ShardTransferMode,
            Remedy::DrainFirst {
                node: "w:5432".into(),
            },
        ]
    }

    /// Core's words name no option of the command line: that is the CLI's to say.
    #[test]
    fn core_messages_name_no_option() {
        let mut errors: Vec<Error> = remedies()
            .into_iter()
            .map(|r| Error::Precondition {
                side: Side::Target,
                message: "t already holds rows".into(),
                remedy: Some(r),
            })
            .collect();
        for p in [
            UsageProblem::NoTables,
            UsageProblem::JobsZero,
            UsageProblem::ScaleOutOfRange { scale: 0.0 },
            UsageProblem::NoMatch {
                database: "db".into(),
                patterns: vec!["nope".into()],
            },
            UsageProblem::NotInSource {
                what: "table t not found".into(),
            },
            UsageProblem::SchemaNotInSource {
                what: "schema s not found".into(),
            },
            UsageProblem::WorkDirNotEmpty { path: "w".into() },
            UsageProblem::NothingToResume { path: "w".into() },
            UsageProblem::ResumeMismatch(vec![
                ResumeMismatch::Source {
                    given: "a".into(),
                    recorded: "b".into(),
                },
                ResumeMismatch::Selection,
                ResumeMismatch::SkipDistribution,
            ]),
        ] {
            errors.push(Error::Usage(p));
        }
        errors.push(Error::Timeout {
            side: Side::Source,
            what: "reading COPY data".into(),
            after: std::time::Duration::from_secs(300),
            kind: TimeoutKind::NoProgress,
        });
        errors.push(Error::Limit {
            message: "sorting rows by shard needs about 900 open files".into(),
            remedy: Remedy::FewerJobs,
        });
        for worker in [None, Some("10.0.0.2:5432".to_string())] {
            for hint in [
                ConnectHint::WrongPassword,
                ConnectHint::PasswordMissing,
                ConnectHint::NoDatabase,
                ConnectHint::TlsRequired,
                ConnectHint::HbaRefused,
                ConnectHint::NoConnectPrivilege,
                ConnectHint::NoSlots,
                ConnectHint::Refused,
                ConnectHint::TimedOut,
                ConnectHint::NoHandshake,
                ConnectHint::UnknownHost,
                ConnectHint::Tls,
                ConnectHint::NoSocket,
            ] {
                errors.push(Error::Connect {
                    side: Side::Source,
                    endpoint: "db.example:5432/app user=app".into(),
                    reason: "refused".into(),
                    hint: Some(hint),
                    worker: worker.clone(),
                    source: None,
                });
            }
        }
        for e in &errors {
            let text = e.to_string();
            assert!(!text.contains("--"), "{text}");
        }
        assert!(errors.iter().filter(|e| e.is_usage()).count() == 9);
    }

    /// A connection hint says where the options came from in the caller's words (core: "the source
    /// connection string"; the CLI adds its option), and names the worker's address for a worker node.
    #[test]
    fn connect_hints_take_the_callers_words() {
        let e = Error::Connect {
            side: Side::Source,
            endpoint: "db:5432/app user=app".into(),
            reason: "database \"app\" does not exist".into(),
            hint: Some(ConnectHint::NoDatabase),
            worker: None,
            source: None,
        };
        assert_eq!(
            e.to_string(),
            "cannot connect to the source database (db:5432/app user=app): database \"app\" does not exist. \
             The database does not exist on that server: check dbname in the source connection string"
        );
        assert!(ConnectHint::NoDatabase
            .text("the source (--source)", None)
            .ends_with("check dbname in the source (--source)"));
        let worker = ConnectHint::Refused.text("x", Some("w1:5432"));
        assert!(worker.contains("lists this worker as w1:5432"), "{worker}");
    }

    #[test]
    fn timeouts_are_typed_and_say_their_side_and_wait() {
        let e = Error::Timeout {
            side: Side::Target,
            what: "taking a lock".into(),
            after: std::time::Duration::from_secs(7),
            kind: TimeoutKind::NoAnswer,
        };
        assert!(e.is_timeout() && e.side() == Some(Side::Target) && !e.is_usage());
        assert_eq!(
            e.to_string(),
            "target: no answer within 7s while taking a lock (a lock held by another session, or a dead connection?)"
        );
        let stopped = Error::Stopped {
            context: "copying t failed at chunk 1/2".into(),
            source: Box::new(e),
            remedy: Remedy::ResumeCopy,
        };
        assert!(stopped.is_timeout() && stopped.side() == Some(Side::Target));
        assert!(!Error::Other("x".into()).is_timeout());
    }
}
