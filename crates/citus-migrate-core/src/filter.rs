//! Table selection like pg_dump's `--schema`, `--table`, `--exclude-schema`, `--exclude-table`:
//! patterns where `*` matches any run of characters and `?` one character (a newline too, as in
//! pg_dump), unquoted letters are folded to lower case, double quotes keep case and make `*`, `?` and
//! `.` literal.
//!
//! One type holds a selection ([`Selection`]), for every command and for the work directory's record
//! of a run, and one rule decides which tables it selects ([`Selection::select`]): the tables the
//! patterns include, and the partitions of every selected partitioned table.
//!
//! ```
//! use citus_migrate_core::filter::Selection;
//! use citus_migrate_core::QualifiedName;
//!
//! let f = Selection::new(&["shop".into()], &[], &[], &["shop.audit_*".into()])?;
//! assert!(f.includes(&QualifiedName::new("shop", "orders")));
//! assert!(!f.includes(&QualifiedName::new("shop", "audit_2024")));
//! assert!(!f.includes(&QualifiedName::new("public", "orders")));
//! # Ok::<(), citus_migrate_core::Error>(())
//! ```

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ident::QualifiedName;

/// One compiled pattern. A table pattern may carry a schema part (`shop.order*`).
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    schema: Option<Regex>,
    name: Regex,
}

impl Pattern {
    /// Compiles `schema.table` (for table patterns) or a plain name (for schema patterns).
    pub fn parse(text: &str, qualified: bool) -> Result<Self> {
        let parts = split(text)?;
        let (schema, name) = match (qualified, parts.as_slice()) {
            (_, [n]) => (None, n),
            (true, [s, n]) => (Some(s), n),
            _ => {
                return Err(Error::usage(format!(
                    "invalid pattern {text:?}: expected {}",
                    if qualified {
                        "[schema.]table"
                    } else {
                        "a schema name"
                    }
                )))
            }
        };
        // `s`: `.` (from `*` and `?`) matches a newline too, as in the server's regular expressions
        // that pg_dump matches its patterns with.
        let re = |p: &str| {
            Regex::new(&format!("(?s)^(?:{p})$"))
                .map_err(|e| Error::usage(format!("invalid pattern {text:?}: {e}")))
        };
        Ok(Pattern {
            text: text.to_string(),
            schema: schema.map(|s| re(s)).transpose()?,
            name: re(name)?,
        })
    }

    fn matches_name(&self, name: &str) -> bool {
        self.name.is_match(name)
    }

    fn matches_table(&self, t: &QualifiedName) -> bool {
        self.schema.as_ref().is_none_or(|s| s.is_match(&t.schema)) && self.name.is_match(&t.name)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Splits a pattern into regex sources per dotted part.
fn split(text: &str) -> Result<Vec<String>> {
    let mut parts = vec![String::new()];
    let mut in_quotes = false;
    let mut chars = text.trim().chars().peekable();
    while let Some(c) = chars.next() {
        let cur = parts.last_mut().unwrap();
        match c {
            '"' if in_quotes && chars.peek() == Some(&'"') => {
                chars.next();
                cur.push('"');
            }
            '"' => in_quotes = !in_quotes,
            '.' if !in_quotes => parts.push(String::new()),
            '*' if !in_quotes => cur.push_str(".*"),
            '?' if !in_quotes => cur.push('.'),
            c if in_quotes => cur.push_str(&regex::escape(&c.to_string())),
            c => cur.push_str(&regex::escape(&c.to_lowercase().to_string())),
        }
    }
    if in_quotes {
        return Err(Error::usage(format!(
            "invalid pattern {text:?}: unterminated double quote"
        )));
    }
    if parts.iter().any(|p| p.is_empty()) {
        return Err(Error::usage(format!(
            "invalid pattern {text:?}: empty name part"
        )));
    }
    Ok(parts)
}

/// The include and exclude patterns that select tables, compiled. Kept in the work directory's
/// `state.json` as the four lists of patterns as given, so a resume selects the same tables; two
/// selections are equal when their patterns are written the same.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Written", into = "Written")]
pub struct Selection {
    pub schemas: Vec<Pattern>,
    pub tables: Vec<Pattern>,
    pub exclude_schemas: Vec<Pattern>,
    pub exclude_tables: Vec<Pattern>,
}

/// A [`Selection`] as written in `state.json` (the field names files already use).
#[derive(Serialize, Deserialize)]
struct Written {
    schemas: Vec<String>,
    tables: Vec<String>,
    exclude_schemas: Vec<String>,
    exclude_tables: Vec<String>,
}

impl TryFrom<Written> for Selection {
    type Error = Error;

    fn try_from(w: Written) -> Result<Self> {
        Selection::new(&w.schemas, &w.tables, &w.exclude_schemas, &w.exclude_tables)
    }
}

impl From<Selection> for Written {
    fn from(s: Selection) -> Self {
        let texts = |v: &[Pattern]| v.iter().map(|p| p.text.clone()).collect();
        Written {
            schemas: texts(&s.schemas),
            tables: texts(&s.tables),
            exclude_schemas: texts(&s.exclude_schemas),
            exclude_tables: texts(&s.exclude_tables),
        }
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Pattern {}

impl Selection {
    /// Compiles the four pattern lists, as given on the command line.
    pub fn new(
        schemas: &[String],
        tables: &[String],
        exclude_schemas: &[String],
        exclude_tables: &[String],
    ) -> Result<Self> {
        let compile = |v: &[String], q: bool| {
            v.iter()
                .map(|s| Pattern::parse(s, q))
                .collect::<Result<Vec<_>>>()
        };
        Ok(Selection {
            schemas: compile(schemas, false)?,
            tables: compile(tables, true)?,
            exclude_schemas: compile(exclude_schemas, false)?,
            exclude_tables: compile(exclude_tables, true)?,
        })
    }

    /// pg_dump's rule: with any `--table`, only matching tables (the schema list narrows them
    /// further); else with any `--schema`, tables in matching schemas; then the excludes apply.
    pub fn includes(&self, t: &QualifiedName) -> bool {
        if self.excludes(t) {
            return false;
        }
        let schema_ok =
            self.schemas.is_empty() || self.schemas.iter().any(|p| p.matches_name(&t.schema));
        let table_ok = self.tables.is_empty() || self.tables.iter().any(|p| p.matches_table(t));
        schema_ok && table_ok
    }

    /// True when an exclude pattern names the table (or its schema).
    fn excludes(&self, t: &QualifiedName) -> bool {
        self.exclude_schemas
            .iter()
            .any(|p| p.matches_name(&t.schema))
            || self.exclude_tables.iter().any(|p| p.matches_table(t))
    }

    /// The selection every command uses, for `tables` given as `(name, partitioned parent)` (the
    /// parent only for a partition): a table is selected when the patterns include it
    /// ([`Selection::includes`]), and a partition also when its parent is selected (at any depth), unless
    /// an exclude pattern names the partition itself. A partitioned table holds no rows of its own, so
    /// selecting it without its partitions would move and compare nothing.
    pub fn select(&self, tables: &[(QualifiedName, Option<QualifiedName>)]) -> Vec<bool> {
        let index: std::collections::HashMap<&QualifiedName, usize> = tables
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (name, i))
            .collect();
        let mut selected: Vec<bool> = tables.iter().map(|(t, _)| self.includes(t)).collect();
        for i in 0..tables.len() {
            if selected[i] {
                continue;
            }
            // Walk up the partition tree to the first selected ancestor; every partition on the way
            // that no exclude pattern names comes with it.
            let mut chain = vec![i];
            let mut cur = i;
            let found = loop {
                let Some(p) = tables[cur].1.as_ref().and_then(|p| index.get(p).copied()) else {
                    break false;
                };
                if chain.contains(&p) {
                    break false;
                }
                if selected[p] {
                    break true;
                }
                chain.push(p);
                cur = p;
            };
            if found {
                for j in chain.into_iter().rev() {
                    if self.excludes(&tables[j].0) {
                        break;
                    }
                    selected[j] = true;
                }
            }
        }
        selected
    }

    /// Include patterns that matched nothing, to report (pg_dump fails on these with --strict-names).
    pub fn unmatched<'a>(&'a self, tables: &[QualifiedName]) -> Vec<&'a str> {
        let mut out = Vec::new();
        for p in &self.schemas {
            if !tables.iter().any(|t| p.matches_name(&t.schema)) {
                out.push(p.as_str());
            }
        }
        for p in &self.tables {
            if !tables.iter().any(|t| p.matches_table(t)) {
                out.push(p.as_str());
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.schemas.is_empty()
            && self.tables.is_empty()
            && self.exclude_schemas.is_empty()
            && self.exclude_tables.is_empty()
    }
}

/// The same rule for a list of tables that each move with their partitions (`copy` reads a partitioned
/// table's rows through the table itself): a partition listed together with one of its partitioned
/// ancestors (`ancestors`, per partition) is left out, so its rows are not moved twice.
pub(crate) fn without_covered_partitions(
    tables: &[QualifiedName],
    ancestors: &std::collections::HashMap<QualifiedName, Vec<QualifiedName>>,
) -> Vec<QualifiedName> {
    let listed: std::collections::HashSet<&QualifiedName> = tables.iter().collect();
    tables
        .iter()
        .filter(|t| {
            !ancestors
                .get(*t)
                .is_some_and(|a| a.iter().any(|p| listed.contains(p)))
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str, n: &str) -> QualifiedName {
        QualifiedName::new(s, n)
    }

    #[test]
    fn patterns_follow_pg_dump_rules() {
        let f = Selection::new(
            &[],
            &["shop.order*".into(), "\"Mixed\".\"A*\"".into()],
            &[],
            &[],
        )
        .unwrap();
        assert!(f.includes(&q("shop", "orders")));
        assert!(f.includes(&q("shop", "order_items")));
        assert!(!f.includes(&q("other", "orders")));
        assert!(f.includes(&q("Mixed", "A*")));
        assert!(!f.includes(&q("Mixed", "Ab")));
        let f = Selection::new(&["s?op".into()], &[], &[], &["*.tmp_*".into()]).unwrap();
        assert!(f.includes(&q("shop", "orders")));
        assert!(!f.includes(&q("shop", "tmp_x")));
        assert!(!f.includes(&q("public", "orders")));
        let f = Selection::new(&[], &["Orders".into()], &[], &[]).unwrap();
        assert!(f.includes(&q("any", "orders")));
        assert!(!f.includes(&q("any", "Orders")));
        let f = Selection::new(&[], &[], &["audit".into()], &[]).unwrap();
        assert!(!f.includes(&q("audit", "log")));
        assert!(f.includes(&q("public", "log")));
        assert_eq!(f.unmatched(&[]), Vec::<&str>::new());
        let f = Selection::new(&["nope".into()], &[], &[], &[]).unwrap();
        assert_eq!(f.unmatched(&[q("public", "t")]), vec!["nope"]);
    }

    #[test]
    fn wildcards_match_newlines_as_pg_dump_does() {
        let f = Selection::new(&[], &["line*".into(), "a?b".into()], &[], &[]).unwrap();
        assert!(f.includes(&q("public", "line\nbreak")));
        assert!(f.includes(&q("public", "a\nb")));
        let f = Selection::new(&[], &[], &[], &["*tmp*".into()]).unwrap();
        assert!(!f.includes(&q("public", "old\ntmp")));
        assert!(f.includes(&q("public", "kept")));
    }

    #[test]
    fn a_selected_partitioned_table_brings_its_partitions() {
        let part = |n: &str, p: &str| (q("public", n), Some(q("public", p)));
        let tables = vec![
            (q("public", "events"), None),
            part("events_2024", "events"),
            part("events_2025", "events_2024_sub"),
            part("events_2024_sub", "events"),
            part("events_old", "events"),
            (q("public", "other"), None),
            part("other_1", "other"),
        ];
        let f = Selection::new(&[], &["events".into()], &[], &[]).unwrap();
        assert_eq!(
            f.select(&tables),
            vec![true, true, true, true, true, false, false]
        );
        // An exclude pattern still removes a partition (and what hangs below it).
        let f = Selection::new(
            &[],
            &["events".into()],
            &[],
            &["events_old".into(), "events_2024_sub".into()],
        )
        .unwrap();
        assert_eq!(
            f.select(&tables),
            vec![true, true, false, false, false, false, false]
        );
        // A partition selected alone does not bring its parent.
        let f = Selection::new(&[], &["other_1".into()], &[], &[]).unwrap();
        assert_eq!(
            f.select(&tables),
            vec![false, false, false, false, false, false, true]
        );
    }

    #[test]
    fn partitions_listed_with_an_ancestor_are_left_out() {
        let ancestors = [
            (q("p", "e_2024"), vec![q("public", "e")]),
            (
                q("public", "e_2025_a"),
                vec![q("public", "e_2025"), q("public", "e")],
            ),
            (q("public", "o_1"), vec![q("public", "o")]),
        ]
        .into_iter()
        .collect();
        let tables = [
            q("public", "e_2025_a"),
            q("public", "e"),
            q("p", "e_2024"),
            q("public", "o_1"),
            q("public", "t"),
        ];
        assert_eq!(
            without_covered_partitions(&tables, &ancestors),
            vec![q("public", "e"), q("public", "o_1"), q("public", "t")]
        );
    }

    #[test]
    fn a_selection_is_recorded_as_its_patterns_as_given() {
        // The form state.json has always had.
        let written = r#"{"schemas":["sh?p"],"tables":[],"exclude_schemas":["\"Old\""],"exclude_tables":["*.tmp_*"]}"#;
        let s: Selection = serde_json::from_str(written).unwrap();
        assert_eq!(
            s,
            Selection::new(
                &["sh?p".into()],
                &[],
                &["\"Old\"".into()],
                &["*.tmp_*".into()]
            )
            .unwrap()
        );
        assert!(s.includes(&q("shop", "orders")));
        assert!(!s.includes(&q("shop", "tmp_x")));
        assert!(!s.includes(&q("public", "orders")));
        assert_eq!(serde_json::to_string(&s).unwrap(), written);
        assert_ne!(s, Selection::default());
        assert!(Selection::default().is_empty());
        // A pattern that no longer compiles is an error, not an empty selection.
        assert!(serde_json::from_str::<Selection>(
            r#"{"schemas":[],"tables":["a.b.c"],"exclude_schemas":[],"exclude_tables":[]}"#
        )
        .is_err());
    }

    #[test]
    fn bad_patterns_are_usage_errors() {
        assert!(Selection::new(&[], &["a.b.c".into()], &[], &[])
            .unwrap_err()
            .is_usage());
        assert!(Selection::new(&["\"open".into()], &[], &[], &[])
            .unwrap_err()
            .is_usage());
        assert!(Selection::new(&[], &["a.".into()], &[], &[]).is_err());
    }
}
