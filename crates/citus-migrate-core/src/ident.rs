//! Quoting of identifiers and literals, and parsing of qualified names given in SQL syntax.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Quotes an identifier the way PostgreSQL's `quote_ident` does: plain lower-case names that are not
/// keywords stay bare, everything else is double-quoted with embedded quotes doubled.
///
/// ```
/// use citus_migrate_core::ident::quote_ident;
///
/// assert_eq!(quote_ident("orders"), "orders");
/// assert_eq!(quote_ident("Order Lines"), "\"Order Lines\"");
/// assert_eq!(quote_ident("user"), "\"user\"");
/// ```
pub fn quote_ident(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !is_keyword(name);
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

fn is_keyword(name: &str) -> bool {
    PG_KEYWORDS.binary_search(&name).is_ok()
}

/// PostgreSQL's keywords that are not "unreserved" (reserved, column-name and type/function-name
/// keywords): `SELECT word FROM pg_get_keywords() WHERE catcode <> 'U'` on PostgreSQL 15, plus the ones
/// added up to 17. These are the names `quote_ident` quotes. Sorted for binary search.
const PG_KEYWORDS: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "authorization",
    "between",
    "bigint",
    "binary",
    "bit",
    "boolean",
    "both",
    "case",
    "cast",
    "char",
    "character",
    "check",
    "coalesce",
    "collate",
    "collation",
    "column",
    "concurrently",
    "constraint",
    "create",
    "cross",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "dec",
    "decimal",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "exists",
    "extract",
    "false",
    "fetch",
    "float",
    "for",
    "foreign",
    "freeze",
    "from",
    "full",
    "grant",
    "greatest",
    "group",
    "grouping",
    "having",
    "ilike",
    "in",
    "initially",
    "inner",
    "inout",
    "int",
    "integer",
    "intersect",
    "interval",
    "into",
    "is",
    "isnull",
    "join",
    "json",
    "json_array",
    "json_arrayagg",
    "json_exists",
    "json_object",
    "json_objectagg",
    "json_query",
    "json_scalar",
    "json_serialize",
    "json_table",
    "json_value",
    "lateral",
    "leading",
    "least",
    "left",
    "like",
    "limit",
    "localtime",
    "localtimestamp",
    "merge_action",
    "national",
    "natural",
    "nchar",
    "none",
    "normalize",
    "not",
    "notnull",
    "null",
    "nullif",
    "numeric",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "out",
    "outer",
    "overlaps",
    "overlay",
    "placing",
    "position",
    "precision",
    "primary",
    "real",
    "references",
    "returning",
    "right",
    "row",
    "select",
    "session_user",
    "setof",
    "similar",
    "smallint",
    "some",
    "substring",
    "symmetric",
    "system_user",
    "table",
    "tablesample",
    "then",
    "time",
    "timestamp",
    "to",
    "trailing",
    "treat",
    "trim",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "values",
    "varchar",
    "variadic",
    "verbose",
    "when",
    "where",
    "window",
    "with",
    "xmlattributes",
    "xmlconcat",
    "xmlelement",
    "xmlexists",
    "xmlforest",
    "xmlnamespaces",
    "xmlparse",
    "xmlpi",
    "xmlroot",
    "xmlserialize",
    "xmltable",
];

/// Quotes a string literal. Uses the `E''` form when the value holds a backslash, so the result is
/// correct whatever `standard_conforming_strings` is.
pub fn quote_literal(value: &str) -> String {
    if value.contains('\\') {
        format!("E'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        format!("'{}'", value.replace('\'', "''"))
    }
}

/// Text made safe for a `--` comment of a SQL script that psql runs: one line, whatever the text.
/// Control characters (the line breaks `\n` and `\r` that end a comment among them), Unicode line
/// and paragraph separators and backslashes are written as escapes (`\n`, `\u{1b}`, `\\`), so the
/// comment ends where the script ends it and nothing from the text becomes SQL or a psql command.
/// For names, pass them quoted ([`quote_ident`], [`quote_literal`]) so that their quotes are
/// balanced too.
pub(crate) fn comment_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// For each byte of `sql`, whether PostgreSQL's lexer is at top level just before it: not inside a
/// string constant (`'…'`, `E'…'`), a quoted identifier (`"…"`), a dollar-quoted string
/// (`$tag$…$tag$`) or a comment (`-- …`, `/* … */`, which nest). The first byte of each of these is
/// at top level, the rest of it is not. Text taken apart by lines or searched for keywords
/// (pg_dump's output, `pg_get_indexdef`) is only taken apart where this says so, never inside a
/// name or a string that the source chose.
pub(crate) fn top_level(sql: &str) -> Vec<bool> {
    let b = sql.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80;
    let mut top = vec![false; b.len()];
    let mut i = 0;
    while i < b.len() {
        top[i] = true;
        i = match b[i] {
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i + 2
                    + b[i + 2..]
                        .iter()
                        .position(|&c| c == b'\n' || c == b'\r')
                        .unwrap_or(b.len() - i - 2)
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let (mut depth, mut j) = (1, i + 2);
                while j < b.len() && depth > 0 {
                    if b[j..].starts_with(b"/*") {
                        depth += 1;
                        j += 2;
                    } else if b[j..].starts_with(b"*/") {
                        depth -= 1;
                        j += 2;
                    } else {
                        j += 1;
                    }
                }
                j
            }
            b'\'' => {
                let escapes =
                    i > 0 && matches!(b[i - 1], b'E' | b'e') && (i < 2 || !word(b[i - 2]));
                after_closing(b, i + 1, b'\'', escapes)
            }
            b'"' => after_closing(b, i + 1, b'"', false),
            b'$' if i == 0 || !word(b[i - 1]) => match dollar_tag(&b[i..]) {
                Some(tag) => {
                    let from = i + tag.len();
                    b[from..]
                        .windows(tag.len())
                        .position(|w| w == tag)
                        .map_or(b.len(), |p| from + p + tag.len())
                }
                None => i + 1,
            },
            _ => i + 1,
        };
    }
    top
}

/// The lines of `sql` (split at `\n` only, so a `\r` in a string stays; a final `\n` ends the last
/// line), each with whether it starts at top level (see [`top_level`]): only such a line can be a
/// statement, a psql command or a comment of the script itself; any other is part of a string, a
/// name or a comment that spans lines.
pub(crate) fn lines_with_level(sql: &str) -> Vec<(&str, bool)> {
    let top = top_level(sql);
    let mut start = 0;
    sql.strip_suffix('\n')
        .unwrap_or(sql)
        .split('\n')
        .map(|line| {
            let at = top.get(start).copied().unwrap_or(true);
            start += line.len() + 1;
            (line, at)
        })
        .collect()
}

/// `sql` with `indent` put in front of every line but the first that starts at top level (see
/// `lines_with_level`), for showing SQL indented under a label: a line break inside a quoted name
/// or string stays as it is, so the SQL shown is still the SQL meant.
pub fn indent_sql(sql: &str, indent: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    for (i, (line, top)) in lines_with_level(sql).into_iter().enumerate() {
        if i > 0 {
            out.push('\n');
            if top {
                out.push_str(indent);
            }
        }
        out.push_str(line);
    }
    out
}

/// The index just past the quote that closes a quoted text whose content starts at `from` (a
/// doubled quote stands for itself; with `escapes`, a backslash escapes the next byte).
fn after_closing(b: &[u8], from: usize, quote: u8, escapes: bool) -> usize {
    let mut j = from;
    while j < b.len() {
        if escapes && b[j] == b'\\' {
            j += 2;
        } else if b[j] == quote {
            if b.get(j + 1) == Some(&quote) {
                j += 2;
            } else {
                return j + 1;
            }
        } else {
            j += 1;
        }
    }
    b.len()
}

/// `$$` or `$tag$` at the start of `b`.
fn dollar_tag(b: &[u8]) -> Option<&[u8]> {
    let first = |c: u8| c.is_ascii_alphabetic() || c == b'_' || c >= 0x80;
    let rest = |c: u8| first(c) || c.is_ascii_digit();
    match b.get(1)? {
        b'$' => Some(&b[..2]),
        &c if first(c) => {
            let end = 2 + b[2..].iter().position(|&c| !rest(c))?;
            (b[end] == b'$').then(|| &b[..=end])
        }
        _ => None,
    }
}

/// The first occurrence of `pat` in `sql` at or after `from` that lies wholly at top level (see
/// [`top_level`], computed for `sql` as `top`).
pub(crate) fn find_top_level(sql: &str, top: &[bool], pat: &str, from: usize) -> Option<usize> {
    sql.match_indices(pat)
        .map(|(i, _)| i)
        .find(|&i| i >= from && top[i..i + pat.len()].iter().all(|&t| t))
}

/// A schema-qualified relation name, kept unquoted (as stored in the catalog).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct QualifiedName {
    pub schema: String,
    pub name: String,
}

impl QualifiedName {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        QualifiedName {
            schema: schema.into(),
            name: name.into(),
        }
    }

    /// `schema.name`, each part quoted as needed: ready to put into SQL.
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }

    /// The quoted name as a SQL string literal, for `'schema.table'::regclass` arguments.
    pub fn regclass_literal(&self) -> String {
        quote_literal(&self.quoted())
    }

    /// Parses a name written in SQL syntax: `orders`, `shop.orders`, `shop."Order Notes"`,
    /// `"My Schema"."t.1"`. Unquoted parts are folded to lower case; a missing schema is `public`.
    pub fn parse(input: &str) -> Result<Self> {
        let parts = split_sql_name(input)?;
        match parts.as_slice() {
            [name] => Ok(QualifiedName::new("public", name.clone())),
            [schema, name] => Ok(QualifiedName::new(schema.clone(), name.clone())),
            _ => Err(Error::usage(format!(
                "invalid table name {input:?}: expected [schema.]table, quoting parts with double quotes where needed"
            ))),
        }
    }
}

impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.quoted())
    }
}

/// Splits a dotted SQL name into its parts, honouring double quotes. Unquoted parts are
/// lower-cased.
pub fn split_sql_name(input: &str) -> Result<Vec<String>> {
    let err = |why: &str| Error::usage(format!("invalid name {input:?}: {why}"));
    let mut parts = Vec::new();
    let mut chars = input.trim().chars().peekable();
    loop {
        let mut part = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        part.push('"');
                    }
                    Some('"') => break,
                    Some(c) => part.push(c),
                    None => return Err(err("unterminated double quote")),
                }
            }
            if part.is_empty() {
                return Err(err("empty quoted identifier"));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == '.' {
                    break;
                }
                if c == '"' {
                    return Err(err("a double quote inside an unquoted name"));
                }
                part.push(c.to_ascii_lowercase());
                chars.next();
            }
            let trimmed = part.trim();
            if trimmed.is_empty() {
                return Err(err("empty name part"));
            }
            part = trimmed.to_string();
        }
        parts.push(part);
        match chars.next() {
            None => break,
            Some('.') => continue,
            Some(c) => {
                return Err(err(&format!(
                    "unexpected character {c:?} after a quoted part"
                )))
            }
        }
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_identifiers_like_postgres() {
        assert_eq!(quote_ident("orders"), "orders");
        assert_eq!(quote_ident("Orders"), "\"Orders\"");
        assert_eq!(quote_ident("order"), "\"order\"");
        assert_eq!(quote_ident("user"), "\"user\"");
        assert_eq!(quote_ident("log"), "log");
        assert_eq!(quote_ident("audit"), "audit");
        assert_eq!(quote_ident("public"), "public");
        assert_eq!(quote_ident("json_table"), "\"json_table\"");
        assert!(PG_KEYWORDS.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(quote_ident("a b"), "\"a b\"");
        assert_eq!(quote_ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(quote_ident("1abc"), "\"1abc\"");
        assert_eq!(quote_ident("café"), "\"café\"");
        assert_eq!(quote_ident(""), "\"\"");
    }

    #[test]
    fn quotes_literals() {
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\b'c"), "E'a\\\\b''c'");
    }

    #[test]
    fn parses_qualified_names() {
        assert_eq!(
            QualifiedName::parse("Orders").unwrap(),
            QualifiedName::new("public", "orders")
        );
        assert_eq!(
            QualifiedName::parse("shop.\"Order Notes\"").unwrap(),
            QualifiedName::new("shop", "Order Notes")
        );
        assert_eq!(
            QualifiedName::parse("\"a.b\".\"c\"\"d\"").unwrap(),
            QualifiedName::new("a.b", "c\"d")
        );
        assert!(QualifiedName::parse("a.b.c").is_err());
        assert!(QualifiedName::parse("\"open").is_err());
        assert!(QualifiedName::parse("a.").is_err());
        let q = QualifiedName::new("my schema", "t;drop");
        assert_eq!(q.quoted(), "\"my schema\".\"t;drop\"");
        assert_eq!(QualifiedName::parse(&q.quoted()).unwrap(), q);
    }

    #[test]
    fn comment_text_is_one_line() {
        assert_eq!(
            comment_text("a\nCREATE TABLE pwned();\r\\! touch x\u{1b}\u{85}\u{2028}'\"*/ ok é"),
            "a\\nCREATE TABLE pwned();\\r\\\\! touch x\\u{1b}\\u{85}\\u{2028}'\"*/ ok é"
        );
    }

    #[test]
    fn indent_sql_leaves_line_breaks_in_names_alone() {
        assert_eq!(
            indent_sql("DROP TABLE \"a\nb\";\n-- x\nSELECT 'c\nd';", "  "),
            "DROP TABLE \"a\nb\";\n  -- x\n  SELECT 'c\nd';"
        );
        assert_eq!(indent_sql("x", "  "), "x");
    }

    #[test]
    fn top_level_skips_quotes_and_comments() {
        let marks = |sql: &str| -> String {
            top_level(sql)
                .iter()
                .map(|&t| if t { 'T' } else { '.' })
                .collect()
        };
        assert_eq!(marks("a'b''c'd"), "TT.....T");
        assert_eq!(marks("\"x\"\"y\"z"), "T.....T");
        assert_eq!(marks("E'\\'x'y"), "TT....T");
        assert_eq!(marks("e'x' 'a\\'b"), "TT..TT...T");
        assert_eq!(marks("$a$ $$ $a$;$$'$$;"), "T.........TT....T");
        assert_eq!(marks("x$1$y"), "TTTTT");
        assert_eq!(marks("/* /* */ ' */x-- 'y\nz"), "T............TT....TT");
        assert_eq!(marks("-- a\rb"), "T...TT");
        let sql = "CREATE INDEX \"a USING (\" ON t USING btree (x)";
        let top = top_level(sql);
        assert_eq!(find_top_level(sql, &top, " USING ", 0), Some(29));
        assert_eq!(find_top_level(sql, &top, "(", 29), Some(42));
    }
}
