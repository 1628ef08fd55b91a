//! `extend_keys`: a distributed table's primary key, unique constraints and unique indexes that lack the
//! distribution column get it in front on the target (in `03-post-data.sql`), and the foreign keys of
//! co-located tables that reference them get their own distribution column in front.

use crate::catalog::{Catalog, ForeignKey, Index, KeyConstraint, Table};
use crate::ident::{find_top_level, quote_ident, top_level, QualifiedName};
use crate::plan::Plan;

/// The keys of `t` (primary key first, then unique constraints) and the unique indexes that do not back
/// a constraint, which lack `col`.
pub fn keys_lacking<'a>(t: &'a Table, col: &str) -> (Vec<&'a KeyConstraint>, Vec<&'a Index>) {
    let keys = t
        .primary_key
        .iter()
        .chain(&t.unique_constraints)
        .filter(|k| !k.columns.iter().any(|c| c == col))
        .collect();
    let idx = t
        .indexes
        .iter()
        .filter(|i| i.unique && !i.backs_constraint && !i.columns.iter().any(|c| c == col))
        .collect();
    (keys, idx)
}

fn same_set(a: &[String], b: &[String]) -> bool {
    let (mut x, mut y) = (a.to_vec(), b.to_vec());
    x.sort();
    y.sort();
    x == y
}

/// For a foreign key of `a` that references a key `extend_keys` extends, the new referencing and
/// referenced columns (both distribution columns in front); `None` when the key is not rewritten.
pub fn fk_rewrite(
    catalog: &Catalog,
    plan: &Plan,
    a: &Table,
    fk: &ForeignKey,
) -> Option<(Vec<String>, Vec<String>)> {
    let pb = plan
        .table(&fk.referenced_table)
        .filter(|p| p.extend_keys && p.kind == crate::advice::Kind::Distributed)?;
    let db = pb.distribution_column.as_deref()?;
    let pa = plan
        .table(&a.qualified())
        .filter(|p| p.kind == crate::advice::Kind::Distributed)?;
    let da = pa.distribution_column.as_deref()?;
    if plan.group_of(&a.qualified())? != plan.group_of(&fk.referenced_table)?
        || a.column(da).is_none()
    {
        return None;
    }
    if fk.columns.iter().any(|c| c == da) || fk.referenced_columns.iter().any(|c| c == db) {
        return None;
    }
    let b = catalog.table(&fk.referenced_table)?;
    let (keys, idx) = keys_lacking(b, db);
    let targets = keys
        .iter()
        .any(|k| same_set(&k.columns, &fk.referenced_columns))
        || idx
            .iter()
            .any(|i| !i.partial && !i.expressions && same_set(&i.columns, &fk.referenced_columns));
    if !targets {
        return None;
    }
    let mut from = vec![da.to_string()];
    from.extend(fk.columns.iter().cloned());
    let mut to = vec![db.to_string()];
    to.extend(fk.referenced_columns.iter().cloned());
    Some((from, to))
}

/// Quoted column names, comma-separated.
pub(crate) fn cols(names: &[String]) -> String {
    names
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `ALTER TABLE ONLY t ADD CONSTRAINT k PRIMARY KEY (col, …)`.
pub fn key_sql(t: &QualifiedName, k: &KeyConstraint, primary: bool, col: &str) -> String {
    let mut c = vec![col.to_string()];
    c.extend(k.columns.iter().cloned());
    format!(
        "ALTER TABLE ONLY {t} ADD CONSTRAINT {} {} ({});",
        quote_ident(&k.name),
        if primary { "PRIMARY KEY" } else { "UNIQUE" },
        cols(&c)
    )
}

/// The index's definition with `col` as its first column: `… USING btree (col, x) WHERE …`. The
/// ` USING ` and the parenthesis are looked for outside quoted names (an index or table named
/// `x USING (` is not taken apart).
pub fn index_sql(i: &Index, col: &str) -> Option<String> {
    let def = &i.definition;
    let top = top_level(def);
    let at = find_top_level(def, &top, " USING ", 0)?;
    let open = find_top_level(def, &top, "(", at)?;
    Some(format!(
        "{}{}, {};",
        &def[..=open],
        quote_ident(col),
        &def[open + 1..]
    ))
}

/// The foreign key with the new column lists, keeping its actions, match type and deferrability (the
/// part of its definition after the referenced columns).
pub fn fk_sql(a: &QualifiedName, fk: &ForeignKey, from: &[String], to: &[String]) -> String {
    format!(
        "ALTER TABLE ONLY {a} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}){};",
        quote_ident(&fk.name),
        cols(from),
        fk.referenced_table,
        cols(to),
        definition_tail(&fk.definition)
    )
}

/// What follows `REFERENCES table(columns)` in `pg_get_constraintdef` output (` ON DELETE CASCADE …`),
/// found outside quoted names and strings (a column named `a) REFERENCES t(b); …` is a name).
fn definition_tail(def: &str) -> String {
    let top = top_level(def);
    let Some(r) = find_top_level(def, &top, " REFERENCES ", 0) else {
        return String::new();
    };
    let mut depth = 0;
    for (i, ch) in def.char_indices().skip_while(|&(i, _)| i < r) {
        match ch {
            '(' if top[i] => depth += 1,
            ')' if top[i] => {
                depth -= 1;
                if depth == 0 {
                    return def[i + 1..].trim_end().to_string();
                }
            }
            _ => {}
        }
    }
    String::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_keep_the_rest_of_the_definition() {
        assert_eq!(definition_tail("FOREIGN KEY (order_id) REFERENCES legacy.\"or(ders\"(id) ON DELETE CASCADE DEFERRABLE"), " ON DELETE CASCADE DEFERRABLE");
        assert_eq!(definition_tail("FOREIGN KEY (a) REFERENCES t(b)"), "");
        let i = Index {
            name: "u".into(),
            columns: vec![],
            unique: true,
            primary: false,
            partial: true,
            expressions: true,
            method: "btree".into(),
            backs_constraint: false,
            bytes: 0,
            definition:
                "CREATE UNIQUE INDEX u ON public.t USING btree (lower(email)) WHERE (active)".into(),
        };
        let idx = index_sql(&i, "tenant id").unwrap();
        assert_eq!(idx, "CREATE UNIQUE INDEX u ON public.t USING btree (\"tenant id\", lower(email)) WHERE (active);");
        let t = QualifiedName::new("my schema", "Order\"s");
        let k = KeyConstraint {
            name: "pk;x".into(),
            columns: vec!["id".into()],
            definition: String::new(),
        };
        let fk = ForeignKey {
            name: "fk".into(),
            columns: vec!["order_id".into()],
            referenced_table: t.clone(),
            referenced_columns: vec!["id".into()],
            on_update: "no action".into(),
            on_delete: "cascade".into(),
            match_type: "simple".into(),
            deferrable: false,
            validated: true,
            definition: "FOREIGN KEY (order_id) REFERENCES \"my schema\".\"Order\"\"s\"(id) ON DELETE CASCADE".into(),
        };
        let from = vec!["tenant id".to_string(), "order_id".to_string()];
        let to = vec!["tenant id".to_string(), "id".to_string()];
        let fk_text = fk_sql(&QualifiedName::new("public", "lines"), &fk, &from, &to);
        assert!(
            fk_text.ends_with("(\"tenant id\", id) ON DELETE CASCADE;"),
            "{fk_text}"
        );
        // Every statement the plan writes parses as PostgreSQL.
        for sql in [key_sql(&t, &k, true, "tenant id"), fk_text, idx] {
            sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::PostgreSqlDialect {}, &sql)
                .unwrap_or_else(|e| panic!("{e}: {sql}"));
        }
    }

    #[test]
    fn names_that_look_like_syntax_stay_names() {
        let i = Index {
            name: "x USING (".into(),
            columns: vec!["a".into()],
            unique: true,
            primary: false,
            partial: false,
            expressions: false,
            method: "btree".into(),
            backs_constraint: false,
            bytes: 0,
            definition:
                "CREATE UNIQUE INDEX \"x USING (\" ON public.\"t USING (y\" USING btree (a)".into(),
        };
        assert_eq!(
            index_sql(&i, "ON t (a); CREATE TABLE pwned(); --").unwrap(),
            "CREATE UNIQUE INDEX \"x USING (\" ON public.\"t USING (y\" USING btree (\"ON t (a); CREATE TABLE pwned(); --\", a);"
        );
        assert_eq!(
            definition_tail("FOREIGN KEY (\"a REFERENCES x(y); CREATE TABLE pwned(); --\") REFERENCES t(\"i)d\") ON DELETE CASCADE"),
            " ON DELETE CASCADE"
        );
    }
}
