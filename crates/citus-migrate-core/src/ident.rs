//! Quoting of identifiers and literals, and parsing of qualified names given in SQL syntax.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Quotes an identifier the way PostgreSQL's `quote_ident` does: plain lower-case names that are not
/// keywords stay bare, everything else is double-quoted with embedded quotes doubled.
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

/// Splits a dotted SQL name into its parts, honouring double quotes. Unquoted parts are lower-cased.
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
}
