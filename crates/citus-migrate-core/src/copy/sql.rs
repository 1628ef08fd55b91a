//! Every COPY statement and every session setting of the copy and of the CSV commands, in one place:
//! what shapes COPY's text on the way out has to match what reads it on the way in. Settings are
//! `SET LOCAL`, for the transaction only, so that they never leak to another client through a pooler.

use crate::ident::{quote_ident, quote_literal, QualifiedName};

/// Settings that make COPY's text output independent of the server's and the role's defaults (dates,
/// intervals, floats, money, bytea).
const SOURCE_SETTINGS: &str =
    "SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'postgres'; \
     SET LOCAL extra_float_digits = 3; SET LOCAL bytea_output = 'hex'; SET LOCAL TimeZone = 'UTC'; \
     SET LOCAL lc_monetary = 'C'";

/// Settings of the target transaction that make COPY's text input read what the source wrote.
const TARGET_SETTINGS: &str =
    "SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'postgres'; \
     SET LOCAL xmloption = content; SET LOCAL lc_monetary = 'C'";

/// On Citus, a chunk's COPY through the coordinator uses one connection per worker (switching between
/// that worker's shards) instead of one per shard: with several streams, dozens of half-fed COPY
/// backends per worker cost the workers far more CPU (measured on pgbench_accounts: the coordinator
/// path went from 1.3x to 0.9x the time of a plain psql pipe); and the coordinator keeps those
/// connections from chunk to chunk.
const CITUS_SETTINGS: &str = "SET LOCAL citus.max_adaptive_executor_pool_size = 1; \
     SET LOCAL citus.max_cached_conns_per_worker = 32";

/// Makes the transaction's commit durable before it returns (and, on Citus, before its `COMMIT
/// PREPARED`s go out), whatever `synchronous_commit` the server runs with. Every transaction that
/// records a decision in the bookkeeping runs it.
pub(crate) const DURABLE_COMMIT: &str = "SET LOCAL synchronous_commit = on";

/// The transaction of a worker-direct chunk's decision, which may wait for the chunk's lock and stays
/// open while the nodes load their parts.
pub(super) const BEGIN_DECISION: &str = "BEGIN; SET LOCAL idle_in_transaction_session_timeout = 0";

/// A CSV import reads dates as `export` writes them.
pub(super) const BEGIN_CSV_IMPORT: &str =
    "BEGIN; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL xmloption = content";

/// The start of a transaction reading the source, in `snapshot` when given (an exported snapshot).
pub(crate) fn begin_source(snapshot: Option<&str>) -> String {
    let import = snapshot
        .map(|id| format!("SET TRANSACTION SNAPSHOT {}; ", quote_literal(id)))
        .unwrap_or_default();
    format!("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; {import}{SOURCE_SETTINGS}")
}

/// The start of every chunk transaction on the target (its coordinator and, on Citus, its workers).
pub(crate) fn begin_target(citus: bool) -> String {
    let mut sql = format!("BEGIN; {TARGET_SETTINGS}");
    if citus {
        sql.push_str("; ");
        sql.push_str(CITUS_SETTINGS);
    }
    sql
}

/// How COPY writes and reads the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Text,
    Binary,
    /// CSV with a header line naming the columns.
    CsvHeader,
}

impl Format {
    fn with(self) -> &'static str {
        match self {
            Format::Text => "",
            Format::Binary => " WITH (FORMAT binary)",
            Format::CsvHeader => " WITH (FORMAT csv, HEADER true)",
        }
    }
}

/// `(a, "B", c)` for a COPY column list.
fn column_list(columns: &[String]) -> String {
    let quoted: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    format!("({})", quoted.join(", "))
}

/// The rows of `table` in a FROM clause: of a plain table only its own (`ONLY`, not those of tables
/// inheriting from it); of a partitioned table those of all its partitions.
pub(super) fn rows_of(table: &QualifiedName, plain: bool) -> String {
    if plain {
        format!("ONLY {}", table.quoted())
    } else {
        table.quoted()
    }
}

/// `COPY … TO STDOUT` of `columns` of the rows of `table` (see [`rows_of`]) that `predicate` selects
/// (all without one); a column in `computed` is its expression.
pub(super) fn copy_out(
    table: &QualifiedName,
    plain: bool,
    columns: &[String],
    computed: &[(String, String)],
    predicate: Option<&str>,
    format: Format,
) -> String {
    let with = format.with();
    match predicate {
        // The fastest form, which only a plain table allows.
        None if plain && computed.is_empty() => format!(
            "COPY {} {} TO STDOUT{with}",
            table.quoted(),
            column_list(columns)
        ),
        _ => {
            let list: Vec<String> = columns
                .iter()
                .map(|c| match computed.iter().find(|(n, _)| n == c) {
                    Some((_, e)) => format!("{e} AS {}", quote_ident(c)),
                    None => quote_ident(c),
                })
                .collect();
            let filter = predicate.map(|p| format!(" WHERE {p}")).unwrap_or_default();
            format!(
                "COPY (SELECT {} FROM {}{filter}) TO STDOUT{with}",
                list.join(", "),
                rows_of(table, plain)
            )
        }
    }
}

/// `COPY … FROM STDIN` into `columns` of `relation` (quoted: a table, or a shard on a worker).
pub(super) fn copy_in(relation: &str, columns: &[String], format: Format) -> String {
    format!(
        "COPY {relation} {} FROM STDIN{}",
        column_list(columns),
        format.with()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_statements() {
        let t = QualifiedName::new("s", "T x");
        let cols = vec!["a".to_string(), "B c".to_string()];
        assert_eq!(
            copy_out(&t, true, &cols, &[], None, Format::Binary),
            "COPY s.\"T x\" (a, \"B c\") TO STDOUT WITH (FORMAT binary)"
        );
        assert_eq!(
            copy_out(&t, true, &cols, &[], Some("a < 3"), Format::Text),
            "COPY (SELECT a, \"B c\" FROM ONLY s.\"T x\" WHERE a < 3) TO STDOUT"
        );
        assert_eq!(
            copy_out(&t, false, &cols, &[], None, Format::CsvHeader),
            "COPY (SELECT a, \"B c\" FROM s.\"T x\") TO STDOUT WITH (FORMAT csv, HEADER true)"
        );
        let computed = vec![("B c".to_string(), "(SELECT 1)".to_string())];
        assert_eq!(
            copy_out(&t, true, &cols, &computed, None, Format::Text),
            "COPY (SELECT a, (SELECT 1) AS \"B c\" FROM ONLY s.\"T x\") TO STDOUT"
        );
        assert_eq!(
            copy_in("s.t_102008", &cols, Format::Binary),
            "COPY s.t_102008 (a, \"B c\") FROM STDIN WITH (FORMAT binary)"
        );
        assert_eq!(
            begin_source(Some("0-1")),
            format!("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '0-1'; {SOURCE_SETTINGS}")
        );
        assert!(begin_target(true).ends_with("max_cached_conns_per_worker = 32"));
        assert_eq!(begin_target(false), format!("BEGIN; {TARGET_SETTINGS}"));
    }
}
