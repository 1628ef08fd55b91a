//! The SQL that applies one decoded change on the target: every identifier quoted, every value a quoted
//! literal of pgoutput's text form (coerced by the target to the column's type). Pure: no connection.

use super::pgoutput::{Relation, Value};
use crate::ident::{quote_ident, quote_literal, QualifiedName};

/// How many rows a statement must touch for the target to still match the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    /// An UPDATE: exactly the row the source updated.
    One,
    /// A DELETE: the row, or none when a cascade on the target already removed it.
    AtMostOne,
    /// INSERT and TRUNCATE.
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Statement {
    pub sql: String,
    pub expect: Expect,
}

/// A decoded relation and where its rows go on the target.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub table: QualifiedName,
    pub relation: Relation,
    /// The target's distribution column, as an index into the relation's columns.
    pub distribution: Option<usize>,
}

/// What an UPDATE becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum UpdatePlan {
    Statements(Vec<Statement>),
    /// The row moves to another distribution value and some of its values were not sent (unchanged
    /// TOAST): read them from the target's row first (`SELECT` returning those columns as text), then
    /// plan again with them filled in.
    NeedsValues {
        select: String,
        missing: Vec<usize>,
    },
}

fn literal(v: &Value) -> String {
    match v {
        Value::Text(t) => quote_literal(t),
        Value::Null | Value::Unchanged => "NULL".into(),
    }
}

impl Target {
    fn column(&self, i: usize) -> String {
        quote_ident(&self.relation.columns[i].name)
    }

    /// `WHERE` naming the row by its replica identity: the key columns, or every column sent (FULL).
    /// `old` is the old tuple when pgoutput sent one, else the key is read from `new`.
    fn key_condition(&self, old: Option<&[Value]>, new: &[Value]) -> String {
        let full = self.relation.replica_identity == b'f';
        let values = old.unwrap_or(new);
        let parts: Vec<String> = (0..self.relation.columns.len())
            .filter(|&i| full || self.relation.columns[i].key)
            .filter_map(|i| match &values[i] {
                Value::Unchanged => None,
                Value::Null => Some(format!("{} IS NULL", self.column(i))),
                v => Some(format!("{} = {}", self.column(i), literal(v))),
            })
            .collect();
        if parts.is_empty() {
            "false".into()
        } else {
            parts.join(" AND ")
        }
    }

    pub fn insert(&self, new: &[Value]) -> Statement {
        let cols: Vec<String> = (0..new.len()).map(|i| self.column(i)).collect();
        let vals: Vec<String> = new.iter().map(literal).collect();
        Statement {
            sql: format!(
                "INSERT INTO {} ({}) VALUES ({})",
                self.table.quoted(),
                cols.join(", "),
                vals.join(", ")
            ),
            expect: Expect::Any,
        }
    }

    pub fn delete(&self, old: &[Value]) -> Statement {
        Statement {
            sql: format!(
                "DELETE FROM {} WHERE {}",
                self.table.quoted(),
                self.key_condition(Some(old), old)
            ),
            expect: Expect::AtMostOne,
        }
    }

    /// An UPDATE: in place, leaving out the unchanged TOASTed columns; or, when the distribution
    /// column changes, a DELETE and an INSERT (Citus cannot move a row by UPDATE).
    pub fn update(&self, old: Option<&[Value]>, new: &[Value]) -> UpdatePlan {
        let moves = match (self.distribution, old) {
            (Some(d), Some(old)) => !matches!(new[d], Value::Unchanged) && old[d] != new[d],
            _ => false,
        };
        let condition = self.key_condition(old, new);
        if moves {
            let missing: Vec<usize> = (0..new.len())
                .filter(|&i| new[i] == Value::Unchanged)
                .collect();
            if !missing.is_empty() {
                let cols: Vec<String> = missing
                    .iter()
                    .map(|&i| format!("{}::pg_catalog.text", self.column(i)))
                    .collect();
                return UpdatePlan::NeedsValues {
                    select: format!(
                        "SELECT {} FROM {} WHERE {condition}",
                        cols.join(", "),
                        self.table.quoted()
                    ),
                    missing,
                };
            }
            let delete = Statement {
                sql: format!("DELETE FROM {} WHERE {condition}", self.table.quoted()),
                expect: Expect::One,
            };
            return UpdatePlan::Statements(vec![delete, self.insert(new)]);
        }
        let set: Vec<String> = (0..new.len())
            .filter(|&i| new[i] != Value::Unchanged)
            .map(|i| format!("{} = {}", self.column(i), literal(&new[i])))
            .collect();
        if set.is_empty() {
            return UpdatePlan::Statements(Vec::new());
        }
        UpdatePlan::Statements(vec![Statement {
            sql: format!(
                "UPDATE {} SET {} WHERE {condition}",
                self.table.quoted(),
                set.join(", ")
            ),
            expect: Expect::One,
        }])
    }
}

/// `TRUNCATE` of the tables the source truncated together (they are all in the list: the source's
/// CASCADE already named every referencing table, so the target needs none).
pub(super) fn truncate(tables: &[&QualifiedName]) -> Statement {
    let names: Vec<String> = tables.iter().map(|t| t.quoted()).collect();
    Statement {
        sql: format!("TRUNCATE {}", names.join(", ")),
        expect: Expect::Any,
    }
}

#[cfg(test)]
mod tests {
    use super::super::pgoutput::Column;
    use super::*;

    fn target(identity: u8, distribution: Option<usize>) -> Target {
        let col = |name: &str, key| Column {
            key,
            name: name.into(),
            type_oid: 25,
            type_mod: -1,
        };
        Target {
            table: QualifiedName::new("s", "Odd\"t"),
            relation: Relation {
                oid: 1,
                schema: "s".into(),
                name: "Odd\"t".into(),
                replica_identity: identity,
                columns: vec![col("id", true), col("tenant", true), col("note", false)],
            },
            distribution,
        }
    }

    fn t(s: &str) -> Value {
        Value::Text(s.into())
    }

    #[test]
    fn insert_and_delete_quote_everything() {
        let tg = target(b'd', Some(1));
        let ins = tg.insert(&[t("1"), t("a'b"), Value::Null]);
        assert_eq!(
            ins.sql,
            r#"INSERT INTO s."Odd""t" (id, tenant, note) VALUES ('1', 'a''b', NULL)"#
        );
        let del = tg.delete(&[t("1"), t("x\\y"), Value::Null]);
        assert_eq!(
            del.sql,
            r#"DELETE FROM s."Odd""t" WHERE id = '1' AND tenant = E'x\\y'"#
        );
        assert_eq!(del.expect, Expect::AtMostOne);
    }

    #[test]
    fn update_in_place_leaves_unchanged_toast_out() {
        let tg = target(b'd', Some(1));
        let plan = tg.update(None, &[t("1"), t("a"), Value::Unchanged]);
        assert_eq!(
            plan,
            UpdatePlan::Statements(vec![Statement {
                sql: r#"UPDATE s."Odd""t" SET id = '1', tenant = 'a' WHERE id = '1' AND tenant = 'a'"#.into(),
                expect: Expect::One
            }])
        );
    }

    #[test]
    fn update_of_the_distribution_column_moves_the_row() {
        let tg = target(b'd', Some(1));
        let old = [t("1"), t("a"), Value::Null];
        let UpdatePlan::Statements(s) = tg.update(Some(&old), &[t("1"), t("b"), t("n")]) else {
            panic!()
        };
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[0].sql,
            r#"DELETE FROM s."Odd""t" WHERE id = '1' AND tenant = 'a'"#
        );
        assert_eq!(s[0].expect, Expect::One);
        assert!(s[1].sql.starts_with("INSERT INTO"));
        // A moved row whose TOASTed value was not sent: read it first.
        let plan = tg.update(Some(&old), &[t("1"), t("b"), Value::Unchanged]);
        assert_eq!(
            plan,
            UpdatePlan::NeedsValues {
                select: r#"SELECT note::pg_catalog.text FROM s."Odd""t" WHERE id = '1' AND tenant = 'a'"#.into(),
                missing: vec![2]
            }
        );
        // A key change that keeps the distribution value is an UPDATE by the old key.
        let UpdatePlan::Statements(s) = tg.update(Some(&old), &[t("2"), t("a"), t("n")]) else {
            panic!()
        };
        assert_eq!(s.len(), 1);
        assert!(
            s[0].sql.ends_with("WHERE id = '1' AND tenant = 'a'"),
            "{}",
            s[0].sql
        );
    }

    #[test]
    fn full_identity_names_the_row_by_all_its_values() {
        let tg = target(b'f', None);
        let del = tg.delete(&[t("1"), Value::Null, t("z")]);
        assert_eq!(
            del.sql,
            r#"DELETE FROM s."Odd""t" WHERE id = '1' AND tenant IS NULL AND note = 'z'"#
        );
        let tr = truncate(&[&tg.table, &QualifiedName::new("public", "b")]);
        assert_eq!(tr.sql, r#"TRUNCATE s."Odd""t", public.b"#);
    }
}
