//! The SQL that applies one decoded change on the target: every identifier quoted, every value a quoted
//! literal of pgoutput's text form (coerced by the target to the column's type). Pure: no connection.

use super::pgoutput::{Relation, Value};
use super::state::Hop;
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
    /// Columns only the target has (a plan's added column), each looked up from the parents' rows.
    pub added: Vec<Added>,
}

/// A column only the target has, and how its value is found on the target.
#[derive(Debug, Clone)]
pub(super) struct Added {
    pub column: String,
    /// The relation's columns the first foreign key matches (indexes).
    pub columns: Vec<usize>,
    pub hops: Vec<Hop>,
}

/// Where a row's added value is found on the target for `values` (the foreign key's columns of
/// the row; a hop's `read` columns for the next hop): `None` when one of them is NULL (the foreign key
/// names no row, the value is NULL too).
pub(super) fn hop_select(hop: &Hop, values: &[Value]) -> Option<String> {
    let mut conditions = Vec::new();
    for (k, v) in hop.key.iter().zip(values) {
        match v {
            Value::Text(t) => conditions.push(format!("{} = {}", quote_ident(k), quote_literal(t))),
            Value::Null | Value::Unchanged => return None,
        }
    }
    let read: Vec<String> = hop
        .read
        .iter()
        .map(|c| format!("{}::pg_catalog.text", quote_ident(c)))
        .collect();
    Some(format!(
        "SELECT {} FROM {} WHERE {}",
        read.join(", "),
        hop.table.quoted(),
        conditions.join(" AND ")
    ))
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
        self.insert_with(new, &[])
    }

    /// An INSERT of `new` and of the added columns' values (in the order of `added`).
    pub fn insert_with(&self, new: &[Value], added: &[Value]) -> Statement {
        let mut cols: Vec<String> = (0..new.len()).map(|i| self.column(i)).collect();
        cols.extend(self.added.iter().map(|a| quote_ident(&a.column)));
        let vals: Vec<String> = new.iter().chain(added).map(literal).collect();
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

    /// `SELECT` of `columns` (as text) of the target's row that the change names.
    pub fn select_row(&self, old: Option<&[Value]>, new: &[Value], columns: &[String]) -> String {
        let cols: Vec<String> = columns
            .iter()
            .map(|c| format!("{c}::pg_catalog.text"))
            .collect();
        format!(
            "SELECT {} FROM {} WHERE {}",
            cols.join(", "),
            self.table.quoted(),
            self.key_condition(old, new)
        )
    }

    /// The quoted names of the relation's columns at `indexes`.
    pub fn columns(&self, indexes: &[usize]) -> Vec<String> {
        indexes.iter().map(|&i| self.column(i)).collect()
    }

    /// An UPDATE whose row gets other added values: the row is deleted and inserted again with them
    /// (an added column is the distribution column, which Citus cannot change in place). Every value
    /// of `new` must be there (unchanged TOAST filled in from the target's row first).
    pub fn relocate(
        &self,
        old: Option<&[Value]>,
        new: &[Value],
        added: &[Value],
    ) -> Vec<Statement> {
        vec![
            Statement {
                sql: format!(
                    "DELETE FROM {} WHERE {}",
                    self.table.quoted(),
                    self.key_condition(old, new)
                ),
                expect: Expect::One,
            },
            self.insert_with(new, added),
        ]
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
                return UpdatePlan::NeedsValues {
                    select: self.select_row(old, new, &self.columns(&missing)),
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
            added: Vec::new(),
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
    fn added_columns_are_looked_up_and_inserted() {
        let hop = Hop {
            table: QualifiedName::new("s", "Par\"ent"),
            key: vec!["id".into(), "Kind".into()],
            read: vec!["tenant".into()],
        };
        assert_eq!(
            hop_select(&hop, &[t("7"), t("a'b")]).unwrap(),
            r#"SELECT tenant::pg_catalog.text FROM s."Par""ent" WHERE id = '7' AND "Kind" = 'a''b'"#
        );
        // A NULL foreign key names no parent: the value is NULL, nothing to look up.
        assert_eq!(hop_select(&hop, &[t("7"), Value::Null]), None);
        let mut tg = target(b'd', None);
        tg.added.push(Added {
            column: "tenant_id".into(),
            columns: vec![0],
            hops: vec![hop],
        });
        let ins = tg.insert_with(&[t("1"), t("a"), Value::Null], &[t("42")]);
        assert_eq!(
            ins.sql,
            r#"INSERT INTO s."Odd""t" (id, tenant, note, tenant_id) VALUES ('1', 'a', NULL, '42')"#
        );
        let moved = tg.relocate(None, &[t("1"), t("a"), t("n")], &[t("43")]);
        assert_eq!(
            moved[0].sql,
            r#"DELETE FROM s."Odd""t" WHERE id = '1' AND tenant = 'a'"#
        );
        assert_eq!(moved[0].expect, Expect::One);
        assert!(
            moved[1].sql.ends_with("VALUES ('1', 'a', 'n', '43')"),
            "{}",
            moved[1].sql
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
