//! Everything the command line prints about core's results in words: errors (with the options that
//! fix them), and the text of the summaries and reports core returns as data. Core never names an
//! option; this module is where its typed problems and remedies become `--flag` text.

mod analyze;
mod cluster;
mod migrate;
mod online;
mod verify;
mod workload;

pub use analyze::{analyze_csv, analyze_text};
pub use cluster::{
    check_text, cluster_status_text, interrupted_text, rebalance_plan_text, rebalance_text,
};
pub use migrate::migrate_text;
pub use online::{abort_text, cutover_text, online_line, status_text};
pub use verify::verify_text;
pub use workload::{routing_check_text, workload_text};

use citus_migrate_core::error::{
    db_message, privilege_text, quoted_list, remedy_separator, Remedy, ResumeMismatch,
    UsageProblem, NO_MATCH_HINT,
};
use citus_migrate_core::migrate::MigrateFailure;
use citus_migrate_core::{Error, Side};

/// The verdict in words, one line: what the plan does with the database as a whole.
pub fn verdict_line(verdict: citus_migrate_core::advice::Verdict, schemas: usize) -> String {
    use citus_migrate_core::advice::Verdict;
    match verdict {
        Verdict::SingleNode => "Verdict: keep this database on one node for now (single_node): nothing is distributed.\n".into(),
        Verdict::SchemaBased => format!("Verdict: schema-based sharding (schema_based): {schemas} tenant schema(s) distributed with citus_schema_distribute.\n"),
        Verdict::Distributed => "Verdict: row-based sharding (distributed).\n".into(),
    }
}

/// SQLSTATE 42501: the side's user lacks a privilege.
const INSUFFICIENT_PRIVILEGE: &str = "42501";

/// Where the user gives a side's connection: the option and its environment variable.
pub fn side_option(side: Side) -> &'static str {
    match side {
        Side::Source => "--source / CITUS_MIGRATE_SOURCE",
        Side::Target => "--target / CITUS_MIGRATE_TARGET",
    }
}

/// A core error as the command line says it: the same words as core's, with the options named.
pub fn error(e: &Error) -> String {
    match e {
        Error::Usage(problem) => usage(problem),
        Error::Precondition {
            side,
            message,
            remedy: Some(r),
        } => format!("{side}: {message}{}{}", remedy_separator(r), remedy(r)),
        Error::Limit { message, remedy: r } => format!("{message}; {}", remedy(r)),
        Error::ToolUnusable {
            program,
            message,
            remedy: r,
        } => format!("{program}: {message}; {}", remedy(r)),
        Error::Stopped {
            context,
            source,
            remedy: r,
        } => format!(
            "{context}: {}{}{}",
            error(source),
            remedy_separator(r),
            remedy(r)
        ),
        Error::Db {
            side,
            context,
            source,
        } if e.sqlstate().map(|c| c.code()) == Some(INSUFFICIENT_PRIVILEGE) => {
            format!(
                "{side}: {context}: {}{}",
                db_message(source),
                privilege_text(*side, side_option(*side))
            )
        }
        // Core's hint says where the connection came from in words; the command line names its option.
        Error::Connect {
            side,
            endpoint,
            reason,
            hint,
            worker,
            ..
        } => format!(
            "cannot connect to the {side} database ({endpoint}): {reason}{}",
            hint.map(|h| h.text(
                &format!("the {side} connection string ({})", side_option(*side)),
                worker.as_deref()
            ))
            .unwrap_or_default()
        ),
        other => other.to_string(),
    }
}

/// A source that is a hot standby, and how far its replay is behind.
pub fn standby(s: &citus_migrate_core::catalog::Standby) -> String {
    format!(
        "The source is a hot standby: {} of received WAL not yet replayed{}. Changes its primary made \
         after that are not read; migrate --source-primary waits for them.",
        citus_migrate_core::util::human_bytes(s.unreplayed_bytes),
        s.last_replay_age_seconds
            .map(|a| format!(", last replayed transaction {a:.0} s old"))
            .unwrap_or_default()
    ) + if s.feedback {
        ""
    } else {
        " It runs without hot_standby_feedback: the primary's cleanup can cancel a long copy there."
    }
}

/// A failed migration: where it stopped, why, and how to go on.
pub fn migrate_failure(f: &MigrateFailure) -> String {
    let stopped = match f.step {
        Some(s) => format!("migrate stopped in step {s}: {}", error(&f.error)),
        None => error(&f.error),
    };
    match f.remedy() {
        Some(r) => format!("{stopped}{}{}", remedy_separator(&r), remedy(&r)),
        None => stopped,
    }
}

/// A remedy as the options that carry it out.
pub fn remedy(r: &Remedy) -> String {
    match r {
        Remedy::TruncateTable => "use --truncate to copy it again".into(),
        Remedy::TruncateTables => "use --truncate to empty them and start over".into(),
        Remedy::TruncateOrResume => "use --truncate to empty them and start over, or --resume to continue an interrupted copy".into(),
        Remedy::ResumeCopy => "committed chunks are kept; fix the cause and run the copy again with --resume".into(),
        Remedy::ResumeMigration { step, state_file } => format!(
            "\n  The steps before it are recorded in {}; after fixing the cause, run the same command with --resume to continue from {step}.",
            state_file.display()
        ),
        Remedy::EmptyTargetOrResume => "migrate into an empty database, or use --resume with the work directory of the run that created them".into(),
        Remedy::SkipDistribution => "or pass --skip-distribution to rehearse on plain PostgreSQL".into(),
        Remedy::ExcludeTableOrNoCounts => "or leave the table out with --exclude-table, or do without exact counts".into(),
        Remedy::FewerJobs => "lower --jobs or raise the limit".into(),
        Remedy::ResumeOrEmptyWorkDir => "pass --resume to continue the migration recorded there, or choose an empty directory".into(),
        Remedy::InstallPgDump => {
            "install the PostgreSQL client programs or give --pg-dump PATH".into()
        }
        Remedy::NewerPgDump => "install a newer PostgreSQL client or give --pg-dump PATH".into(),
        Remedy::ShardTransferMode => "or pass --shard-transfer-mode block_writes (writes to a moving shard wait) or --shard-transfer-mode force_logical (UPDATE and DELETE on those tables fail while their shards move)".into(),
        Remedy::DrainFirst { node } => format!("run `citus-migrate cluster drain {node}` first, then remove it"),
    }
}

/// A usage problem, naming the options concerned.
pub fn usage(p: &UsageProblem) -> String {
    match p {
        UsageProblem::JobsZero => "--jobs must be at least 1".into(),
        UsageProblem::ScaleOutOfRange { scale } => {
            format!("--scale must be above 0 and at most 100, not {scale}")
        }
        UsageProblem::NoMatch { database, patterns } => format!(
            "no table in the source database {database:?} matches the --schema/--table pattern(s) {}: {NO_MATCH_HINT} and that the --exclude-* patterns do not remove them",
            quoted_list(patterns)
        ),
        UsageProblem::NotInSource { what } => {
            format!("source: {what}: check --table / --schema / --plan")
        }
        UsageProblem::SchemaNotInSource { what } => format!("source: {what}: check --schema"),
        UsageProblem::WorkDirNotEmpty { path } => format!(
            "the work directory {} is not empty: {}",
            path.display(),
            remedy(&Remedy::ResumeOrEmptyWorkDir)
        ),
        UsageProblem::NothingToResume { path } => format!(
            "--resume: {} holds no state.json, so there is no migration to resume there",
            path.display()
        ),
        UsageProblem::ResumeMismatch(wrong) => {
            let words: Vec<String> = wrong
                .iter()
                .map(|w| match w {
                    ResumeMismatch::Selection => {
                        "a different --schema/--table selection than the run being resumed".into()
                    }
                    ResumeMismatch::SkipDistribution => {
                        "--skip-distribution, but the run being resumed distributes its tables".into()
                    }
                    other => other.to_string(),
                })
                .collect();
            format!("--resume with {}", words.join("; "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command line names the option behind each remedy, in the words users and tests know.
    #[test]
    fn errors_name_the_options_that_fix_them() {
        let held = Error::Precondition {
            side: Side::Target,
            message: "table nasty already holds rows".into(),
            remedy: Some(Remedy::TruncateOrResume),
        };
        assert_eq!(
            error(&held),
            "target: table nasty already holds rows; use --truncate to empty them and start over, or --resume to continue an interrupted copy"
        );
        let no_match = Error::Usage(UsageProblem::NoMatch {
            database: "db".into(),
            patterns: vec!["nope".into()],
        });
        assert!(error(&no_match).contains("matches the --schema/--table pattern(s) \"nope\""));
        assert_eq!(
            error(&Error::Usage(UsageProblem::JobsZero)),
            "--jobs must be at least 1"
        );
        let stopped = Error::Stopped {
            context: "copying t failed at chunk 1/2".into(),
            source: Box::new(Error::Precondition {
                side: Side::Source,
                message: "snapshot lost".into(),
                remedy: Some(Remedy::ResumeCopy),
            }),
            remedy: Remedy::ResumeCopy,
        };
        let old_pg_dump = Error::ToolUnusable {
            program: "pg_dump".into(),
            message: "pg_dump 9.6 is older than the source server".into(),
            remedy: Remedy::NewerPgDump,
        };
        assert_eq!(
            error(&old_pg_dump),
            "pg_dump: pg_dump 9.6 is older than the source server; install a newer PostgreSQL client or give --pg-dump PATH"
        );
        let text = error(&stopped);
        assert!(text.starts_with("copying t failed at chunk 1/2: source: snapshot lost; "));
        assert!(text.ends_with("run the copy again with --resume"), "{text}");
        let failure = MigrateFailure::new(
            Some(citus_migrate_core::migrate::Step::Copy),
            "w".into(),
            held,
        );
        let text = migrate_failure(&failure);
        assert!(
            text.starts_with("migrate stopped in step copy: target: table nasty"),
            "{text}"
        );
        assert!(
            text.contains("--truncate")
                && text.ends_with("run the same command with --resume to continue from copy."),
            "{text}"
        );
    }
}
