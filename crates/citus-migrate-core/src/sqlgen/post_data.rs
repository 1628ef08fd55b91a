//! Splits pg_dump's plain post-data output into one item per object (index, constraint, foreign key,
//! trigger, …) using the `-- Name: …; Type: …; Schema: …` comment pg_dump writes before each, so that
//! indexes can be built in parallel and foreign keys added last.

use std::collections::HashSet;

use serde::Serialize;

use crate::catalog::Catalog;
use crate::ident::{lines_with_level, QualifiedName};

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
    /// pg_dump's name of the object (`orders orders_pkey` for a constraint), with line breaks in names
    /// as spaces.
    pub name: String,
    pub sql: String,
}

/// pg_dump's preamble (the `SET` lines before the first object) and the items, in pg_dump's order.
/// pg_dump's comments are recognised only at the start of a line that begins at top level (see
/// [`lines_with_level`]): a line inside a string, a name or a function body of the source is content,
/// even when it looks like pg_dump's `-- Name: …` header.
pub fn split(dump: &str, catalog: &Catalog) -> (String, Vec<PostDataItem>) {
    let mut preamble: Vec<Line> = Vec::new();
    let mut items: Vec<PostDataItem> = Vec::new();
    let mut cur: Option<(String, String, String, Vec<Line>)> = None;
    let schemas: HashSet<String> = catalog.tables.iter().map(|t| tag(&t.schema)).collect();
    for line @ (text, top) in lines_with_level(dump) {
        if top {
            if let Some((name, typ, schema)) = header(text, &schemas) {
                if let Some(c) = cur.take() {
                    push(&mut items, c, catalog);
                }
                cur = Some((name, typ, schema, Vec::new()));
                continue;
            }
            if text.starts_with("-- PostgreSQL database dump complete") {
                break;
            }
        }
        match &mut cur {
            Some((_, _, _, body)) => body.push(line),
            None => {
                if !(top
                    && text.starts_with("--")
                    && (text.contains("PostgreSQL database dump")
                        || text.starts_with("-- Dumped ")))
                {
                    preamble.push(line);
                }
            }
        }
    }
    if let Some(c) = cur.take() {
        push(&mut items, c, catalog);
    }
    (tidy(&preamble), items)
}

/// A line of pg_dump's output and whether it starts at top level.
type Line<'a> = (&'a str, bool);

/// `-- Name: TAG; Type: TYPE; Schema: SCHEMA; Owner: -` (pg_dump runs with `--no-owner`). The tag (one
/// or two names) and the schema may hold `; Type: ` or `; Schema: ` themselves: of the ways to take the
/// line apart with a type without `;`, the one whose schema is one of `schemas` (or `-`) wins, else
/// the one with the longest tag.
fn header(line: &str, schemas: &HashSet<String>) -> Option<(String, String, String)> {
    let rest = line.strip_prefix("-- Name: ")?;
    let rest = rest.rsplit_once("; Owner: ").map_or(rest, |(r, _)| r);
    let mut ways = Vec::new();
    for (i, _) in rest.match_indices("; Type: ") {
        let after = i + "; Type: ".len();
        for (j, _) in rest[after..].match_indices("; Schema: ") {
            let typ = &rest[after..after + j];
            if !typ.contains(';') {
                ways.push((&rest[..i], typ, &rest[after + j + "; Schema: ".len()..]));
            }
        }
    }
    let (name, typ, schema) = ways
        .iter()
        .find(|(_, _, schema)| *schema == "-" || schemas.contains(*schema))
        .or(ways.last())?;
    Some((name.to_string(), typ.to_string(), schema.to_string()))
}

/// Drops the comment-only lines pg_dump puts around statements and trims the ends.
fn tidy(lines: &[Line]) -> String {
    let body: Vec<&str> = lines
        .iter()
        .filter(|(text, top)| !(*top && text.trim() == "--"))
        .map(|(text, _)| *text)
        .collect();
    body.join("\n").trim().to_string()
}

fn push(
    items: &mut Vec<PostDataItem>,
    (name, typ, schema, body): (String, String, String, Vec<Line>),
    catalog: &Catalog,
) {
    let sql = tidy(&body);
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

/// A name as pg_dump writes it in its `-- Name: …` comments: line breaks become spaces.
pub(crate) fn tag(name: &str) -> String {
    name.replace(['\n', '\r'], " ")
}

/// The table an object named `name` (pg_dump's tag) in `schema` belongs to.
fn owner(catalog: &Catalog, schema: &str, name: &str, kind: PostDataKind) -> Option<QualifiedName> {
    let in_schema = || catalog.tables.iter().filter(|t| tag(&t.schema) == schema);
    let found = match kind {
        PostDataKind::Index => in_schema().find(|t| t.indexes.iter().any(|i| tag(&i.name) == name)),
        PostDataKind::Other
        | PostDataKind::Trigger
        | PostDataKind::Constraint
        | PostDataKind::ForeignKey => {
            // Tags of table-owned objects are "table object"; the longest table name that fits wins.
            in_schema()
                .filter(|t| {
                    name.strip_prefix(&tag(&t.name))
                        .is_some_and(|rest| rest.len() > 1 && rest.starts_with(' '))
                })
                .max_by_key(|t| t.name.len())
        }
    };
    found.map(|t| t.qualified())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_tables() -> Catalog {
        Catalog {
            database: "d".into(),
            server_version: "15".into(),
            server_version_num: 150000,
            citus_version: None,
            extensions: vec![],
            current_user: "u".into(),
            database_bytes: 0,
            standby: None,
            tables: vec![],
        }
    }

    #[test]
    fn splits_pg_dump_output_by_object() {
        let dump = "--\n-- PostgreSQL database dump\n--\n\n-- Dumped from database version 15.4\n\nSET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\n\n--\n-- Name: t t_pkey; Type: CONSTRAINT; Schema: public; Owner: -\n--\n\nALTER TABLE ONLY \"public\".\"t\"\n    ADD CONSTRAINT \"t_pkey\" PRIMARY KEY (\"id\");\n\n\n--\n-- Name: t_x; Type: INDEX; Schema: public; Owner: -\n--\n\nCREATE INDEX \"t_x\" ON \"public\".\"t\" USING \"btree\" (\"x\");\n\n\n--\n-- PostgreSQL database dump complete\n--\n\n";
        let catalog = no_tables();
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

    #[test]
    fn pg_dump_comments_inside_strings_and_names_are_content() {
        let stmt = "CREATE INDEX \"i\" ON \"public\".\"t\" USING \"btree\" (\"a\") WHERE (\"note\" <> '\n--\n-- Name: x''; Type: INDEX; Schema: public; Owner: -\n--\n\nCREATE TABLE pwned();\n-- PostgreSQL database dump complete\n-- '::\"text\");";
        // The constraint's name holds a line like pg_dump's header; pg_dump's own header line has the
        // name on one line.
        let con = "ALTER TABLE ONLY \"public\".\"t\"\n    ADD CONSTRAINT \"\n--\n-- Name: y; Type: TRIGGER; Schema: public; Owner: -\n--\n\" CHECK (true);";
        let dump = format!("SET x = 1;\n\n--\n-- Name: i; Type: INDEX; Schema: public; Owner: -\n--\n\n{stmt}\n\n\n--\n-- Name: t  -- -- Name: y; Type: TRIGGER; Schema: public; Owner: - -- ; Type: CONSTRAINT; Schema: public; Owner: -\n--\n\n{con}\n");
        let catalog = no_tables();
        let (pre, items) = split(&dump, &catalog);
        assert_eq!(pre, "SET x = 1;");
        assert_eq!(items.len(), 2, "{items:#?}");
        assert_eq!(items[0].kind, PostDataKind::Index);
        assert_eq!(items[0].sql, stmt);
        assert_eq!(items[1].kind, PostDataKind::Constraint);
        assert_eq!(items[1].sql, con);
        assert_eq!(
            items[1].name,
            "t  -- -- Name: y; Type: TRIGGER; Schema: public; Owner: - -- "
        );
    }
}
