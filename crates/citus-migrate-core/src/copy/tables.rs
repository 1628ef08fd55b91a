//! What copying needs to know about the tables on each side (one query per side for all tables), and
//! the matching of columns by name, checked before any data moves.

use tokio_postgres::types::Type;
use tokio_postgres::Client;

use crate::catalog::partition_ancestors;
use crate::connect::{connect, query};
use crate::conninfo::ConnInfo;
use crate::error::{Error, Result, Side, UsageProblem};
use crate::filter::without_covered_partitions;
use crate::ident::{quote_ident, QualifiedName};

const SQL_COPY_TABLES: &str = include_str!("../sql/copy_tables.sql");

/// One table as seen on one side.
#[derive(Debug, Clone)]
pub(super) struct TableFacts {
    pub name: QualifiedName,
    /// A plain table (else partitioned): see [`super::sql::rows_of`].
    pub plain: bool,
    pub table_bytes: u64,
    pub pages: i64,
    pub rows_estimate: u64,
    /// `(name, generated)` in column order.
    pub columns: Vec<(String, bool)>,
    /// Per column (same order), its type when binary COPY can carry it between servers (see
    /// copy_tables.sql), else `None`.
    pub binary_types: Vec<Option<String>>,
    /// A NOT NULL integer column that is a single-column primary key or unique constraint.
    pub key_column: Option<String>,
    /// Columns the source computes rather than stores: `(column, expression)` (see
    /// [`super::CopyOptions::computed_columns`]).
    pub computed: Vec<(String, String)>,
}

impl TableFacts {
    /// Adds columns the source computes (in text: their type is the target's to read).
    pub fn add_computed(&mut self, computed: &[(String, String)]) {
        for (c, e) in computed {
            if !self.columns.iter().any(|(n, _)| n == c) {
                self.columns.push((c.clone(), false));
                self.binary_types.push(None);
                self.computed.push((c.clone(), e.clone()));
            }
        }
    }
}

/// Reads the facts of `tables` on one side; a missing table is an error naming the side.
pub(super) async fn read(
    client: &Client,
    side: Side,
    tables: &[QualifiedName],
) -> Result<Vec<TableFacts>> {
    let schemas: Vec<&str> = tables.iter().map(|t| t.schema.as_str()).collect();
    let names: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    let rows = query(
        client,
        side,
        "reading the tables to copy",
        SQL_COPY_TABLES,
        &[(&schemas, Type::TEXT_ARRAY), (&names, Type::TEXT_ARRAY)],
    )
    .await?;
    let mut missing = Vec::new();
    let mut out = Vec::new();
    for (row, name) in rows.iter().zip(tables) {
        if !row.get::<_, bool>("found") {
            missing.push(name.quoted());
            continue;
        }
        let relkind: String = row.get("relkind");
        if relkind == "v" {
            return Err(Error::Precondition {
                remedy: None,
                side,
                message: format!("{name} is a view, not a table"),
            });
        }
        let cols: Vec<String> = row.get("columns");
        let generated: Vec<bool> = row.get("generated");
        let binary_types: Vec<Option<String>> = row.get("binary_types");
        out.push(TableFacts {
            name: name.clone(),
            plain: relkind == "r",
            table_bytes: row.get::<_, i64>("table_bytes").max(0) as u64,
            pages: row.get("pages"),
            rows_estimate: row.get::<_, i64>("rows_estimate").max(0) as u64,
            columns: cols.into_iter().zip(generated).collect(),
            binary_types,
            key_column: row.get("key_column"),
            computed: Vec::new(),
        });
    }
    if !missing.is_empty() {
        let what = format!(
            "table{} {} not found",
            if missing.len() > 1 { "s" } else { "" },
            missing.join(", ")
        );
        // On the source the user named something that is not there (bad input, exit 2); on the target
        // the database is not prepared yet (a precondition, exit 1).
        return Err(match side {
            Side::Source => Error::Usage(UsageProblem::NotInSource { what }),
            Side::Target => Error::Precondition {
                remedy: None,
                side,
                message: format!(
                    "{what} (create the target tables first, e.g. with `citus-migrate generate`)"
                ),
            },
        });
    }
    Ok(out)
}

/// The columns to copy: every non-generated column of the target, each of which must exist on the
/// source; every non-generated source column must exist on the target (no data is silently dropped).
pub(super) fn match_columns(source: &TableFacts, target: &TableFacts) -> Result<Vec<String>> {
    let has = |t: &TableFacts, c: &str| t.columns.iter().any(|(n, _)| n == c);
    let missing_on_source: Vec<String> = target
        .columns
        .iter()
        .filter(|(n, g)| !g && !has(source, n))
        .map(|(n, _)| quote_ident(n))
        .collect();
    if !missing_on_source.is_empty() {
        return Err(Error::Precondition {
            remedy: None,
            side: Side::Source,
            message: format!(
                "table {} has no column{} {} that the target table has",
                source.name,
                if missing_on_source.len() > 1 { "s" } else { "" },
                missing_on_source.join(", ")
            ),
        });
    }
    let missing_on_target: Vec<String> = source
        .columns
        .iter()
        .filter(|(n, g)| !g && !has(target, n))
        .map(|(n, _)| quote_ident(n))
        .collect();
    if !missing_on_target.is_empty() {
        return Err(Error::Precondition {
            remedy: None,
            side: Side::Target,
            message: format!(
                "table {} has no column{} {} that the source table has (its data would be lost)",
                target.name,
                if missing_on_target.len() > 1 { "s" } else { "" },
                missing_on_target.join(", ")
            ),
        });
    }
    let cols: Vec<String> = target
        .columns
        .iter()
        .filter(|(_, g)| !g)
        .map(|(n, _)| n.clone())
        .collect();
    if cols.is_empty() {
        return Err(Error::Precondition {
            remedy: None,
            side: Side::Target,
            message: format!("table {} has no columns that can be written", target.name),
        });
    }
    Ok(cols)
}

/// True when every one of `columns` has the same binary-safe type on both sides, so the table can move
/// in COPY's binary format (no text to write and parse on either server).
pub(super) fn binary_compatible(
    source: &TableFacts,
    target: &TableFacts,
    columns: &[String],
) -> bool {
    let type_of = |t: &TableFacts, c: &str| {
        t.columns
            .iter()
            .position(|(n, _)| n == c)
            .and_then(|i| t.binary_types.get(i).cloned().flatten())
    };
    columns.iter().all(|c| {
        let s = type_of(source, c);
        s.is_some() && s == type_of(target, c)
    })
}

/// The tables a copy of `named` tables and of every table of `schemas` moves, as one list for
/// [`crate::copy::copy_tables`]: the named tables in their order, then each schema's tables (plain,
/// partitioned and partitions) largest first. A partition listed together with one of its partitioned
/// ancestors is left out: it moves with the ancestor, whose rows include it, and would otherwise be
/// copied twice. An unknown schema, or a schema without tables, is an error about the source.
pub async fn tables_to_copy(
    source: &ConnInfo,
    named: &[QualifiedName],
    schemas: &[String],
) -> Result<Vec<QualifiedName>> {
    let client = connect(source).await?;
    let mut tables = named.to_vec();
    if !schemas.is_empty() {
        let found = tables_in_schemas(&client, Side::Source, schemas).await?;
        if found.is_empty() {
            let names: Vec<String> = schemas.iter().map(|s| quote_ident(s)).collect();
            return Err(Error::Precondition {
                remedy: None,
                side: Side::Source,
                message: format!("no tables in schema {}", names.join(", ")),
            });
        }
        tables.extend(found);
    }
    let ancestors = partition_ancestors(&client, Side::Source, &tables).await?;
    Ok(without_covered_partitions(&tables, &ancestors))
}

/// The tables (plain, partitioned and partitions) of the given schemas, largest first; an unknown schema
/// is an error.
async fn tables_in_schemas(
    client: &Client,
    side: Side,
    schemas: &[String],
) -> Result<Vec<QualifiedName>> {
    let rows = query(
        client,
        side,
        "listing the tables of the schemas",
        "SELECT s.name, c.relname::text, n.oid IS NOT NULL \
         FROM unnest($1::text[]) AS s(name) \
         LEFT JOIN pg_namespace n ON n.nspname = s.name \
         LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p') \
         ORDER BY pg_total_relation_size(c.oid) DESC NULLS LAST, 1, 2",
        &[(&schemas, Type::TEXT_ARRAY)],
    )
    .await?;
    let unknown: Vec<String> = rows
        .iter()
        .filter(|r| !r.get::<_, bool>(2))
        .map(|r| quote_ident(&r.get::<_, String>(0)))
        .collect();
    if !unknown.is_empty() {
        let what = format!("schema {} not found", unknown.join(", "));
        return Err(match side {
            Side::Source => Error::Usage(UsageProblem::SchemaNotInSource { what }),
            Side::Target => Error::Precondition {
                remedy: None,
                side,
                message: what,
            },
        });
    }
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(QualifiedName::new(
                r.get::<_, String>(0),
                r.get::<_, Option<String>>(1)?,
            ))
        })
        .collect())
}

/// Which of `tables` already hold rows (one cheap `LIMIT 1` probe per table: Citus plans a UNION of
/// distributed subqueries through intermediate results, which is far slower).
pub(super) async fn non_empty(
    client: &Client,
    side: Side,
    tables: &[QualifiedName],
) -> Result<Vec<QualifiedName>> {
    let mut out = Vec::new();
    for t in tables {
        let sql = format!("SELECT 1 FROM {} LIMIT 1", t.quoted());
        if !query(
            client,
            side,
            &format!("checking whether {t} is empty"),
            &sql,
            &[],
        )
        .await?
        .is_empty()
        {
            out.push(t.clone());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(cols: &[(&str, bool)]) -> TableFacts {
        TableFacts {
            name: QualifiedName::new("s", "t"),
            plain: true,
            table_bytes: 0,
            pages: 0,
            rows_estimate: 0,
            columns: cols.iter().map(|(n, g)| (n.to_string(), *g)).collect(),
            binary_types: cols
                .iter()
                .map(|(n, _)| Some(format!("type of {n}")))
                .collect(),
            key_column: None,
            computed: Vec::new(),
        }
    }

    #[test]
    fn matches_by_name_and_skips_generated() {
        let s = facts(&[("a", false), ("b", false), ("g", true)]);
        let t = facts(&[("b", false), ("a", false), ("g", true)]);
        assert_eq!(match_columns(&s, &t).unwrap(), vec!["b", "a"]);
        let t2 = facts(&[("b", false)]);
        let e = match_columns(&s, &t2).unwrap_err().to_string();
        assert!(e.starts_with("target: table s.t has no column a"), "{e}");
        let t3 = facts(&[("a", false), ("b", false), ("C", false)]);
        let e = match_columns(&s, &t3).unwrap_err().to_string();
        assert!(
            e.starts_with("source: table s.t has no column \"C\""),
            "{e}"
        );
    }

    #[test]
    fn binary_only_when_every_copied_column_has_the_same_safe_type() {
        let s = facts(&[("a", false), ("b", false)]);
        let mut t = facts(&[("b", false), ("a", false)]);
        let cols = vec!["b".to_string(), "a".to_string()];
        assert!(binary_compatible(&s, &t, &cols));
        t.binary_types[0] = Some("bigint".into());
        assert!(!binary_compatible(&s, &t, &cols));
        assert!(binary_compatible(&s, &t, &["a".to_string()]));
        t.binary_types[1] = None;
        assert!(!binary_compatible(&s, &t, &["a".to_string()]));
    }
}
