//! Where a workload comes from: the source's `pg_stat_statements`, a SQL file (statements separated
//! by `;`, each with optional `-- calls: N` and other `-- key: value` comments before it), or a CSV
//! export of `pg_stat_statements` (columns `query`, `calls` and `total_exec_time` or `total_time`).

use std::collections::BTreeMap;
use std::path::Path;

use tokio_postgres::Client;

use crate::connect;
use crate::error::{Error, Result, Side};

/// One statement of a workload as read, before parsing.
#[derive(Debug, Clone, PartialEq)]
pub struct RawQuery {
    pub query: String,
    /// How often it ran (1 when the input does not say).
    pub calls: u64,
    /// Total execution time in milliseconds, when known.
    pub total_ms: Option<f64>,
    /// `-- key: value` comments written before the statement in a SQL file (`calls` among them).
    pub notes: BTreeMap<String, String>,
    /// Where it comes from: `file:line`, or `pg_stat_statements`.
    pub origin: String,
}

const PG_STAT_STATEMENTS: &str = include_str!("../sql/workload_pg_stat_statements.sql");

/// The statements `pg_stat_statements` recorded in the source's database.
pub async fn from_pg_stat_statements(client: &Client) -> Result<Vec<RawQuery>> {
    if !super::has_extension(client, Side::Source, "pg_stat_statements").await? {
        return Err(Error::Precondition {
            side: Side::Source,
            message: "the extension pg_stat_statements is not installed in this database, so there is no workload to read: add pg_stat_statements to shared_preload_libraries (restart), run CREATE EXTENSION pg_stat_statements, let the application run for a while, or give a SQL or CSV file of its queries instead".into(),
            remedy: None,
        });
    }
    let rows = connect::query(
        client,
        Side::Source,
        "reading pg_stat_statements",
        PG_STAT_STATEMENTS,
        &[],
    )
    .await?;
    let out: Vec<RawQuery> = rows
        .iter()
        .map(|r| RawQuery {
            query: r.get::<_, Option<String>>(0).unwrap_or_default(),
            calls: r.get::<_, i64>(1).max(0) as u64,
            total_ms: Some(r.get::<_, f64>(2)),
            notes: BTreeMap::new(),
            origin: "pg_stat_statements".into(),
        })
        .filter(|q| !q.query.trim().is_empty())
        .collect();
    if out.is_empty() {
        return Err(Error::Precondition {
            side: Side::Source,
            message: "pg_stat_statements holds no statement of this database (reset, or the application has not run since the server started): let the application run for a while, or give a SQL or CSV file of its queries instead".into(),
            remedy: None,
        });
    }
    Ok(out)
}

/// A workload file: CSV when its name ends in `.csv` or its first line is a CSV header naming a
/// `query` column, SQL otherwise.
pub fn from_file(path: &Path) -> Result<Vec<RawQuery>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Io {
        context: format!("cannot read the workload file {}", path.display()),
        source: e,
    })?;
    let first = text.lines().next().unwrap_or_default().to_ascii_lowercase();
    let is_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        || (first.contains(',')
            && first
                .split(',')
                .any(|h| h.trim().trim_matches('"') == "query"));
    let name = path.display().to_string();
    let out = if is_csv {
        from_csv(&text, &name)?
    } else {
        from_sql(&text, &name)
    };
    if out.is_empty() {
        return Err(Error::usage(format!(
            "the workload file {name} holds no statement"
        )));
    }
    Ok(out)
}

/// A CSV export of pg_stat_statements (`\copy (SELECT query, calls, total_exec_time FROM
/// pg_stat_statements) TO 'w.csv' CSV HEADER`).
pub fn from_csv(text: &str, name: &str) -> Result<Vec<RawQuery>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| Error::usage(format!("the workload file {name} is not valid CSV: {e}")))?
        .clone();
    let find = |names: &[&str]| {
        headers
            .iter()
            .position(|h| names.iter().any(|n| h.trim().eq_ignore_ascii_case(n)))
    };
    let Some(q) = find(&["query"]) else {
        return Err(Error::usage(format!(
            "the workload file {name} has no column named query (expected a CSV export of pg_stat_statements with a header: query, calls, total_exec_time)"
        )));
    };
    let calls = find(&["calls"]);
    let total = find(&["total_exec_time", "total_time"]);
    let mut out = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let line = i + 2;
        let rec = rec
            .map_err(|e| Error::usage(format!("the workload file {name} is not valid CSV: {e}")))?;
        let field = |k: usize| rec.get(k).unwrap_or_default().trim();
        let number = |k: Option<usize>, what: &str| -> Result<Option<f64>> {
            let Some(k) = k else { return Ok(None) };
            let v = field(k);
            if v.is_empty() {
                return Ok(None);
            }
            v.parse::<f64>().map(Some).map_err(|_| {
                Error::usage(format!(
                    "the workload file {name}, line {line}: {what} is not a number: {v:?}"
                ))
            })
        };
        let c = number(calls, "calls")?;
        let t = number(total, "the total time")?;
        let query = field(q).to_string();
        if query.is_empty() {
            continue;
        }
        out.push(RawQuery {
            query,
            calls: c.map_or(1, |c| c.max(0.0) as u64),
            total_ms: t,
            notes: BTreeMap::new(),
            origin: format!("{name}:{line}"),
        });
    }
    Ok(out)
}

/// Statements separated by `;` (quotes, dollar quotes and comments honoured); `-- key: value`
/// comments before a statement are its notes, `-- calls: N` its weight.
pub fn from_sql(text: &str, name: &str) -> Vec<RawQuery> {
    let mut out = Vec::new();
    for (stmt, notes, line) in split(text) {
        let calls = notes
            .get("calls")
            .and_then(|c| c.replace('_', "").parse::<u64>().ok())
            .unwrap_or(1);
        let total_ms = notes
            .get("mean_ms")
            .and_then(|m| m.parse::<f64>().ok())
            .map(|m| m * calls as f64);
        out.push(RawQuery {
            query: stmt,
            calls,
            total_ms,
            notes,
            origin: format!("{name}:{line}"),
        });
    }
    out
}

type Statement = (String, BTreeMap<String, String>, usize);

/// Splits SQL text into statements, with each one's `-- key: value` notes and first line.
fn split(text: &str) -> Vec<Statement> {
    let b = text.as_bytes();
    let mut out: Vec<Statement> = Vec::new();
    let mut cur = String::new();
    let mut notes: BTreeMap<String, String> = BTreeMap::new();
    let mut line = 1usize;
    let mut start_line = 0usize;
    let mut i = 0;
    let flush = |cur: &mut String,
                 notes: &mut BTreeMap<String, String>,
                 start: usize,
                 out: &mut Vec<Statement>| {
        let s = cur.trim();
        if !s.is_empty() {
            out.push((s.to_string(), std::mem::take(notes), start));
        }
        cur.clear();
    };
    while i < b.len() {
        let c = b[i];
        // A line comment: a note when the statement has not started yet.
        if c == b'-' && b.get(i + 1) == Some(&b'-') {
            let end = text[i..].find('\n').map_or(b.len(), |e| i + e);
            let body = text[i + 2..end].trim();
            if cur.trim().is_empty() {
                if let Some((k, v)) = body.split_once(':') {
                    let k = k.trim().to_ascii_lowercase();
                    if !k.is_empty() && !k.contains(' ') {
                        notes.insert(k, v.trim().to_string());
                    }
                }
            } else {
                cur.push(' ');
            }
            i = end;
            continue;
        }
        if c == b'/' && b.get(i + 1) == Some(&b'*') {
            let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
            line += text[i..end].matches('\n').count();
            cur.push(' ');
            i = end;
            continue;
        }
        if c == b'\'' || c == b'"' {
            let mut j = i + 1;
            while j < b.len() {
                if b[j] == c {
                    if b.get(j + 1) == Some(&c) {
                        j += 2;
                        continue;
                    }
                    break;
                }
                j += 1;
            }
            let end = (j + 1).min(b.len());
            if cur.trim().is_empty() {
                start_line = line;
            }
            line += text[i..end].matches('\n').count();
            cur.push_str(&text[i..end]);
            i = end;
            continue;
        }
        if c == b'$' {
            // A dollar quote ($$ or $tag$), not a parameter ($1).
            if let Some(tag_end) = text[i + 1..].find('$').map(|e| i + 1 + e) {
                let tag = &text[i + 1..tag_end];
                if tag.chars().all(|ch| ch.is_ascii_alphabetic() || ch == '_') {
                    let delim = &text[i..=tag_end];
                    let close = text[tag_end + 1..]
                        .find(delim)
                        .map_or(b.len(), |e| tag_end + 1 + e + delim.len());
                    if cur.trim().is_empty() {
                        start_line = line;
                    }
                    line += text[i..close].matches('\n').count();
                    cur.push_str(&text[i..close]);
                    i = close;
                    continue;
                }
            }
        }
        if c == b';' {
            flush(&mut cur, &mut notes, start_line, &mut out);
            i += 1;
            continue;
        }
        if c == b'\n' {
            line += 1;
        }
        let ch = text[i..].chars().next().expect("a char at a char boundary");
        if cur.trim().is_empty() && !ch.is_whitespace() {
            start_line = line;
        }
        cur.push(ch);
        i += ch.len_utf8();
    }
    flush(&mut cur, &mut notes, start_line, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_files_split_on_semicolons_outside_quotes_and_keep_notes() {
        let text = "-- a header\n-- calls: 120\n-- expect: router\nSELECT ';' FROM t WHERE a = $1;\n\n/* x; */ SELECT $$a;b$$, \"c;d\" FROM u -- trailing; comment\n;\nSELECT 3";
        let q = from_sql(text, "w.sql");
        assert_eq!(q.len(), 3);
        assert_eq!(q[0].query, "SELECT ';' FROM t WHERE a = $1");
        assert_eq!(q[0].calls, 120);
        assert_eq!(q[0].notes["expect"], "router");
        assert_eq!(q[0].origin, "w.sql:4");
        assert_eq!(q[1].query, "SELECT $$a;b$$, \"c;d\" FROM u");
        assert_eq!(q[1].calls, 1);
        assert_eq!(q[2].origin, "w.sql:8");
    }

    #[test]
    fn csv_exports_read_calls_and_time_and_name_bad_lines() {
        let text = "query,calls,total_exec_time\n\"SELECT * FROM t WHERE a = $1\",10,25.5\n";
        let q = from_csv(text, "w.csv").unwrap();
        assert_eq!(q[0].calls, 10);
        assert_eq!(q[0].total_ms, Some(25.5));
        let bad = from_csv("query,calls\nSELECT 1,many\n", "w.csv").unwrap_err();
        assert!(
            bad.to_string()
                .contains("w.csv, line 2: calls is not a number"),
            "{bad}"
        );
        let none = from_csv("sql,calls\nSELECT 1,1\n", "w.csv").unwrap_err();
        assert!(none.to_string().contains("no column named query"), "{none}");
    }
}
