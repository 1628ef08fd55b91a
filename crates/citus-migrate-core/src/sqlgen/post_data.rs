//! Splits pg_dump's plain post-data output into one item per object (index, constraint, foreign key,
//! trigger, …) using the `-- Name: …; Type: …; Schema: …` comment pg_dump writes before each, so that
//! indexes can be built in parallel and foreign keys added last.

use serde::Serialize;

use crate::catalog::Catalog;
use crate::ident::QualifiedName;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PostDataKind {
    /// `CREATE INDEX` (may run in parallel with other indexes).
    Index,
    /// Primary key, unique, exclusion or check constraint added with `ALTER TABLE`.
    Constraint,
    /// `FOREIGN KEY` constraint (after every constraint it may depend on).
    ForeignKey,
    Trigger,
    /// Anything else (index attachments, rules, policies, statistics, plan-required changes…).
    Other,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PostDataItem {
    pub kind: PostDataKind,
    /// The table the object belongs to, when known.
    pub table: Option<QualifiedName>,
    /// pg_dump's name of the object (`orders orders_pkey` for a constraint).
    pub name: String,
    pub sql: String,
}

/// pg_dump's preamble (the `SET` lines before the first object) and the items, in pg_dump's order.
pub fn split(dump: &str, catalog: &Catalog) -> (String, Vec<PostDataItem>) {
    let lines: Vec<&str> = dump.lines().collect();
    let mut preamble = String::new();
    let mut items: Vec<PostDataItem> = Vec::new();
    let mut cur: Option<(String, String, String, Vec<&str>)> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some((name, typ, schema)) = header(line) {
            if let Some(c) = cur.take() {
                push(&mut items, c, catalog);
            }
            cur = Some((name, typ, schema, Vec::new()));
            i += 1;
            continue;
        }
        if line.starts_with("-- PostgreSQL database dump complete") {
            break;
        }
        match &mut cur {
            Some((_, _, _, body)) => body.push(line),
            None => {
                if !(line.starts_with("--")
                    && (line.contains("PostgreSQL database dump")
                        || line.starts_with("-- Dumped ")))
                {
                    preamble.push_str(line);
                    preamble.push('\n');
                }
            }
        }
        i += 1;
    }
    if let Some(c) = cur.take() {
        push(&mut items, c, catalog);
    }
    (tidy(&preamble), items)
}

fn header(line: &str) -> Option<(String, String, String)> {
    let rest = line.strip_prefix("-- Name: ")?;
    let (name, rest) = rest.split_once("; Type: ")?;
    let (typ, rest) = rest.split_once("; Schema: ")?;
    let schema = rest.split_once("; Owner: ").map(|(s, _)| s).unwrap_or(rest);
    Some((name.to_string(), typ.to_string(), schema.to_string()))
}

/// Trims the comment-only lines pg_dump puts around statements.
fn tidy(s: &str) -> String {
    let body: Vec<&str> = s.lines().filter(|l| l.trim() != "--").collect();
    body.join("\n").trim().to_string()
}

fn push(
    items: &mut Vec<PostDataItem>,
    (name, typ, schema, body): (String, String, String, Vec<&str>),
    catalog: &Catalog,
) {
    let sql = tidy(&body.join("\n"));
    if sql.is_empty() {
        return;
    }
    let kind = match typ.as_str() {
        "INDEX" => PostDataKind::Index,
        "CONSTRAINT" => PostDataKind::Constraint,
        "FK CONSTRAINT" => PostDataKind::ForeignKey,
        "TRIGGER" => PostDataKind::Trigger,
        _ => PostDataKind::Other,
    };
    let table = owner(catalog, &schema, &name, kind);
    items.push(PostDataItem {
        kind,
        table,
        name,
        sql,
    });
}

/// The table an object named `name` (pg_dump's tag) in `schema` belongs to.
fn owner(catalog: &Catalog, schema: &str, name: &str, kind: PostDataKind) -> Option<QualifiedName> {
    let in_schema = || catalog.tables.iter().filter(|t| t.schema == schema);
    let found = match kind {
        PostDataKind::Index => in_schema().find(|t| t.indexes.iter().any(|i| i.name == name)),
        PostDataKind::Other
        | PostDataKind::Trigger
        | PostDataKind::Constraint
        | PostDataKind::ForeignKey => {
            // Tags of table-owned objects are "table object"; the longest table name that fits wins.
            in_schema()
                .filter(|t| {
                    name.len() > t.name.len()
                        && name.starts_with(&t.name)
                        && name.as_bytes()[t.name.len()] == b' '
                })
                .max_by_key(|t| t.name.len())
        }
    };
    found.map(|t| t.qualified())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_pg_dump_output_by_object() {
        let dump = "--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 15.4\n\nSET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n\n--\n-- Name: t t_pkey; Type: CONSTRAINT; Schema: public; Owner: -\n--\n\nALTER TABLE ONLY \"public\".\"t\"\n    ADD CONSTRAINT \"t_pkey\" PRIMARY KEY (\"id\");\n\n\n--\n-- Name: t_x; Type: INDEX; Schema: public; Owner: -\n--\n\nCREATE INDEX \"t_x\" ON \"public\".\"t\" USING \"btree\" (\"x\");\n\n\n--\n-- PostgreSQL database dump complete\n--\n\n";
        let catalog = Catalog {
            database: "d".into(),
            server_version: "15".into(),
            server_version_num: 150000,
            citus_version: None,
            extensions: vec![],
            current_user: "u".into(),
            database_bytes: 0,
            tables: vec![],
        };
        let (pre, items) = split(dump, &catalog);
        assert_eq!(
            pre,
            "SET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);"
        );
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].kind, PostDataKind::Constraint);
        assert_eq!(items[0].sql, "ALTER TABLE ONLY \"public\".\"t\"\n    ADD CONSTRAINT \"t_pkey\" PRIMARY KEY (\"id\");");
        assert_eq!(items[1].kind, PostDataKind::Index);
        assert_eq!(items[1].name, "t_x");
    }
}
