//! Facts about one column as a distribution column: is its type usable, how many distinct values does it
//! hold, how many NULLs, how skewed is it, and what does its name suggest. Scores a column as a candidate.

use crate::catalog::{Column, Table};
use crate::util::thousands;

/// Column names that usually hold the tenant or the root entity of a multi-tenant schema, besides
/// [`TOP_TENANT_NAMES`]. A hint only.
const TENANT_NAMES: &[&str] = &[
    "customer", "shop", "store", "team", "client", "merchant", "project", "site", "owner", "user",
    "partner", "brand",
];

/// The names a multi-tenant application gives the entity every row belongs to (Citus docs: "in a
/// multi-tenant app, the tenant: company_id, account_id, organization_id…"), as opposed to the
/// entities a single business has several of (its stores, projects, customers). A hint only.
const TOP_TENANT_NAMES: &[&str] = &[
    "tenant",
    "company",
    "account",
    "organization",
    "organisation",
    "org",
    "workspace",
];

/// Whether a table's name says it is the tenant itself (`accounts`, `myapp_account`, `companies`).
pub fn top_tenant_table(table: &str) -> bool {
    let n = table.to_ascii_lowercase();
    let last = n.rsplit('_').next().unwrap_or(&n);
    let stem = singular(last);
    TOP_TENANT_NAMES.iter().any(|t| stem == *t)
}

/// Name fragments of columns that hold time, which make poor distribution columns even as integers.
const TIME_NAMES: &[&str] = &[
    "date", "time", "day", "month", "year", "created", "updated", "_at", "_on", "week",
];

/// Why a column cannot be a distribution column (its type, or being generated), if it cannot.
pub fn type_unfit(c: &Column) -> Option<String> {
    if c.generated.is_some() {
        return Some("a generated column cannot be a distribution column".to_string());
    }
    let t = c.base_type.as_str();
    match (c.type_category.as_str(), t) {
        (
            _,
            "int2" | "int4" | "int8" | "numeric" | "uuid" | "text" | "varchar" | "bpchar"
            | "citext",
        ) => None,
        ("E", _) => None,
        ("D", _) => Some(format!(
            "{} is a date/time type: time-ordered values make hot shards",
            c.type_name
        )),
        (_, "float4" | "float8") => Some(format!(
            "{} is a floating-point type: equal values may not hash equally",
            c.type_name
        )),
        ("B", _) => Some(format!(
            "{} is boolean: two values cannot spread rows over shards",
            c.type_name
        )),
        ("A", _) => Some(format!("{} is an array type", c.type_name)),
        (_, "json" | "jsonb" | "xml") => Some(format!("{} is a document type", c.type_name)),
        _ => Some(format!(
            "{} is not a usual key type (integer, text, uuid)",
            c.type_name
        )),
    }
}

/// The width of an integer type (`int2` 2, `int4` 4, `int8` 8), `None` for other types.
pub fn int_width(base_type: &str) -> Option<u8> {
    match base_type {
        "int2" => Some(2),
        "int4" => Some(4),
        "int8" => Some(8),
        _ => None,
    }
}

/// Whether a column of type `a` can point at a key of type `b` by its name: the same type, or two
/// integer types (a `bigint` tenant_id next to an `integer` tenants.id is the same tenant, stored in
/// another width: co-locating them needs one type, which the plan check reports with the fix).
pub fn link_compatible(a: &Column, b: &Column) -> bool {
    a.base_type == b.base_type
        || (int_width(&a.base_type).is_some() && int_width(&b.base_type).is_some())
}

/// True when the type is usable but weak (numeric, enums).
pub fn type_weak(c: &Column) -> bool {
    c.base_type == "numeric" || c.type_category == "E"
}

pub fn tenant_like(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let stem = n
        .strip_suffix("_id")
        .or_else(|| n.strip_suffix("_key"))
        .or_else(|| n.strip_suffix("id"))
        .unwrap_or(&n);
    let stem = stem.trim_end_matches('_');
    let stem = singular(stem.rsplit('_').next().unwrap_or(stem));
    TOP_TENANT_NAMES
        .iter()
        .chain(TENANT_NAMES)
        .any(|t| stem == *t)
}

/// A plural table name made singular the simple English way: `companies` → `company`, `users` → `user`.
pub fn singular(name: &str) -> String {
    let n = name.to_ascii_lowercase();
    if let Some(s) = n.strip_suffix("ies") {
        format!("{s}y")
    } else if n.ends_with("sses")
        || n.ends_with("xes")
        || n.ends_with("ches")
        || n.ends_with("shes")
    {
        n[..n.len() - 2].to_string()
    } else if n.ends_with('s') && !n.ends_with("ss") {
        n[..n.len() - 1].to_string()
    } else {
        n
    }
}

pub fn time_like(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    TIME_NAMES.iter().any(|t| n.contains(t))
}

/// The number of distinct values, from the statistics (or from a single-column unique key).
pub fn distinct(t: &Table, c: &Column) -> Option<f64> {
    let single_unique = t
        .primary_key
        .iter()
        .chain(&t.unique_constraints)
        .any(|k| k.columns.len() == 1 && k.columns[0] == c.name);
    if single_unique && t.rows() > 0 {
        return Some(t.rows() as f64);
    }
    let s = c.stats.as_ref()?;
    if s.n_distinct > 0.0 {
        Some(s.n_distinct)
    } else if s.n_distinct < 0.0 && t.rows() > 0 {
        Some((-s.n_distinct * t.rows() as f64).round())
    } else {
        None
    }
}

/// The share of rows holding the most common value, when the statistics know it.
pub fn top_share(c: &Column) -> Option<f64> {
    c.stats
        .as_ref()?
        .most_common_freqs
        .iter()
        .cloned()
        .fold(None, |m, f| Some(m.map_or(f, |m: f64| m.max(f))))
}

pub fn null_frac(c: &Column) -> f64 {
    if c.not_null {
        0.0
    } else {
        c.stats.as_ref().map(|s| s.null_frac).unwrap_or(0.0)
    }
}

/// Share above which one value is called a strong skew.
pub const SKEW_SHARE: f64 = 0.2;

/// Scores `c` of `t` as a distribution column (0–100) with the reasons; `None` when its type rules it out.
pub fn score(t: &Table, c: &Column, shard_count: u32) -> Option<(u32, Vec<String>)> {
    score_with(t, c, Some(shard_count))
}

/// [`score`] without the count of distinct values: what the column's place in its table, its name, type,
/// NULLs and skew say, which does not change when the data grows tenfold. Groups are ranked by it.
pub fn structural_score(t: &Table, c: &Column) -> Option<u32> {
    score_with(t, c, None).map(|(s, _)| s)
}

fn score_with(t: &Table, c: &Column, shard_count: Option<u32>) -> Option<(u32, Vec<String>)> {
    if type_unfit(c).is_some() {
        return None;
    }
    let mut s: i32 = 30;
    let mut why = Vec::new();
    if let Some(pk) = &t.primary_key {
        if pk.columns.first() == Some(&c.name) {
            s += 20;
            why.push(if pk.columns.len() > 1 {
                "leads the composite primary key".to_string()
            } else {
                "is the primary key".to_string()
            });
        } else if pk.columns.contains(&c.name) {
            s += 10;
            why.push("is part of the primary key".into());
        }
    }
    if let Some(fk) = t.foreign_keys.iter().find(|f| f.columns.contains(&c.name)) {
        s += 10;
        why.push(format!("references {}", fk.referenced_table));
    }
    let referencing = t
        .referenced_by
        .iter()
        .filter(|r| r.referenced_columns.contains(&c.name))
        .count();
    if referencing > 0 {
        s += 10;
        why.push(format!("referenced by {referencing} foreign key(s)"));
    }
    if tenant_like(&c.name) {
        s += 10;
        why.push("name suggests a tenant/entity key".into());
    }
    if time_like(&c.name) {
        s -= 25;
        why.push("name suggests time: time-ordered values make hot shards".into());
    }
    if type_weak(c) {
        s -= 10;
        why.push(format!("{} is a weak key type", c.type_name));
    }
    match shard_count.map(|sc| (sc, distinct(t, c))) {
        None => {}
        Some((shard_count, Some(n))) if n >= 10.0 * shard_count as f64 => {
            s += 15;
            why.push(format!("{} distinct values", thousands(n as i64)));
        }
        Some((shard_count, Some(n))) if n >= shard_count as f64 => {
            s += 5;
            why.push(format!("{} distinct values", thousands(n as i64)));
        }
        Some((shard_count, Some(n))) => {
            s -= 25;
            why.push(format!(
                "only {} distinct values for {shard_count} shards",
                thousands(n as i64)
            ));
        }
        Some((_, None)) => why.push("no statistics (run ANALYZE)".into()),
    }
    let nf = null_frac(c);
    if nf > 0.0 {
        s -= (nf * 100.0).clamp(5.0, 40.0) as i32;
        why.push(format!("about {:.1}% NULL", nf * 100.0));
    }
    if let Some(top) = top_share(c).filter(|f| *f > SKEW_SHARE) {
        s -= 20;
        why.push(format!("one value holds {:.0}% of the rows", top * 100.0));
    }
    Some((s.clamp(0, 100) as u32, why))
}

/// The type without its modifier: `character varying(20)` → `character varying`. Co-location compares
/// types, not lengths or precisions.
pub fn type_without_typmod(type_name: &str) -> &str {
    match type_name.find('(') {
        Some(i) if type_name.ends_with(')') => type_name[..i].trim_end(),
        _ => type_name,
    }
}

/// Whether `prefix` abbreviates `table`'s name the way column-prefix conventions do: a prefix of the
/// name (`w` of `warehouse`, `cust` of `customer`) or the initials of its words (`ol` of `order_line`,
/// `no` of `new_order`).
pub fn abbreviates(prefix: &str, table: &str) -> bool {
    let p = prefix.to_ascii_lowercase();
    let t = table.to_ascii_lowercase();
    if p.is_empty() || !p.chars().all(|c| c.is_ascii_alphabetic()) {
        return false;
    }
    let initials: String = t.split('_').filter_map(|w| w.chars().next()).collect();
    t.starts_with(&p) || initials == p
}

/// The part of a column's name after its table's own prefix (`d_w_id` of `district` → `w_id`,
/// `ol_w_id` of `order_line` → `w_id`): the family name that columns of one meaning share across
/// tables whose columns are all prefixed. `None` when the column carries no such prefix, or when what
/// is left would be a bare `id`/`key`.
pub fn family<'a>(col: &'a str, table: &str) -> Option<&'a str> {
    let (p, rest) = col.split_once('_')?;
    (abbreviates(p, table) && !rest.is_empty() && !matches!(rest, "id" | "key")).then_some(rest)
}
