//! Worker-direct routing: rows of a hash-distributed Citus table go straight to the shard placements on
//! the workers, so the coordinator does not parse and re-send every row. Our side only finds the
//! distribution column in each COPY text row and hashes it with PostgreSQL's hash function for the
//! type (the one Citus uses; checked against `get_shard_id_for_distribution_column` in the tests).
//!
//! Used only where it is safe; everything else takes the coordinator path: the table must be
//! hash-distributed on an int2/int4/int8 column, have exactly one active placement per shard, no user
//! triggers, and the workers must accept our connections with the target's credentials.

use std::collections::BTreeMap;

use tokio_postgres::types::Type;
use tokio_postgres::Client;

use crate::connect::query;
use crate::error::{Result, Side};
use crate::ident::QualifiedName;

pub const SQL_SHARDS: &str = include_str!("../sql/copy_shards.sql");

/// The integer type of the distribution column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntKind {
    Int2,
    Int4,
    Int8,
}

/// One shard: its hash range, its relation on the worker (quoted), its node.
#[derive(Debug, Clone)]
pub struct Shard {
    pub id: i64,
    pub relation: String,
    pub min: i32,
    pub max: i32,
    pub node: usize,
}

/// Where the rows of one table go.
#[derive(Debug, Clone)]
pub struct ShardMap {
    /// Oid of the table on the coordinator (names the prepared transactions).
    pub table_oid: u32,
    /// Position of the distribution column among the copied columns.
    pub field: usize,
    pub kind: IntKind,
    /// Sorted by `min`, covering the whole int4 range.
    pub shards: Vec<Shard>,
    /// `(host, port)` of each node holding shards.
    pub nodes: Vec<(String, u16)>,
}

/// Reads the shard layout of `table`; `Ok(Err(reason))` when worker-direct copying is not safe for it.
pub async fn load(
    control: &Client,
    table: &QualifiedName,
    columns: &[String],
) -> Result<std::result::Result<ShardMap, String>> {
    let rows = query(
        control,
        Side::Target,
        &format!("reading the shards of {table}"),
        SQL_SHARDS,
        &[(&table.quoted(), Type::TEXT)],
    )
    .await?;
    let Some(first) = rows.first() else {
        return Ok(Err("it is not a distributed table".into()));
    };
    let method: String = first.get("partmethod");
    if method != "h" {
        return Ok(Err("it is not hash-distributed".into()));
    }
    if first.get::<_, bool>("has_triggers") {
        return Ok(Err("it has triggers".into()));
    }
    let column: String = first.get("dist_column");
    let kind = match first.get::<_, String>("dist_type").as_str() {
        "int2" => IntKind::Int2,
        "int4" => IntKind::Int4,
        "int8" => IntKind::Int8,
        other => return Ok(Err(format!("its distribution column has type {other}"))),
    };
    let Some(field) = columns.iter().position(|c| *c == column) else {
        return Ok(Err("its distribution column is not copied".into()));
    };
    let mut nodes: BTreeMap<(String, u16), usize> = BTreeMap::new();
    let mut shards: Vec<Shard> = Vec::new();
    for r in &rows {
        let placements: i64 = r.get("placements");
        if placements != 1 {
            return Ok(Err(format!(
                "shard {} has {placements} active placements",
                r.get::<_, i64>("shardid")
            )));
        }
        let addr = (
            r.get::<_, String>("nodename"),
            r.get::<_, i32>("nodeport") as u16,
        );
        let n = nodes.len();
        let node = *nodes.entry(addr).or_insert(n);
        let (Some(min), Some(max)) = (
            r.get::<_, Option<i32>>("min"),
            r.get::<_, Option<i32>>("max"),
        ) else {
            return Ok(Err("a shard has no hash range".into()));
        };
        shards.push(Shard {
            id: r.get("shardid"),
            relation: r.get("relation"),
            min,
            max,
            node,
        });
    }
    shards.sort_by_key(|s| s.min);
    let covers = shards.first().is_some_and(|s| s.min == i32::MIN)
        && shards.last().is_some_and(|s| s.max == i32::MAX)
        && shards
            .windows(2)
            .all(|w| w[0].max.checked_add(1) == Some(w[1].min));
    if !covers {
        return Ok(Err(
            "its shard ranges do not cover the hash space exactly".into()
        ));
    }
    let mut addrs = vec![(String::new(), 0u16); nodes.len()];
    for (addr, i) in nodes {
        addrs[i] = addr;
    }
    Ok(Ok(ShardMap {
        table_oid: first.get::<_, i64>("table_oid") as u32,
        field,
        kind,
        shards,
        nodes: addrs,
    }))
}

/// PostgreSQL's `hash_bytes_uint32` (Bob Jenkins' lookup3 final mix), used by `hashint2/4/8`.
pub fn hash_uint32(k: u32) -> u32 {
    let mut a: u32 = 0x9e37_79b9u32.wrapping_add(4).wrapping_add(3_923_095);
    let mut b = a;
    let mut c = a;
    a = a.wrapping_add(k);
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(14));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(11));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(25));
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(16));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(4));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(14));
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(24));
    c
}

/// The hash PostgreSQL (and so Citus) computes for an integer of the given type, as int4.
pub fn hash_int(kind: IntKind, v: i64) -> i32 {
    let h = match kind {
        IntKind::Int2 | IntKind::Int4 => hash_uint32(v as i32 as u32),
        IntKind::Int8 => {
            let lo = v as u32;
            let hi = (v >> 32) as u32;
            hash_uint32(lo ^ if v >= 0 { hi } else { !hi })
        }
    };
    h as i32
}

/// The `index`-th field of a COPY text row (tab-separated; tabs inside values are escaped).
pub fn field(row: &[u8], index: usize) -> Option<&[u8]> {
    let row = row.strip_suffix(b"\n").unwrap_or(row);
    row.split(|&b| b == b'\t').nth(index)
}

impl ShardMap {
    /// The shard (index into `shards`) a COPY text row belongs to.
    pub fn route(&self, row: &[u8]) -> std::result::Result<usize, String> {
        let raw = field(row, self.field)
            .ok_or_else(|| "a row has fewer fields than columns".to_string())?;
        if raw == b"\\N" {
            return Err(
                "a row has NULL in the distribution column, which Citus does not accept".into(),
            );
        }
        let v: i64 = std::str::from_utf8(raw)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                format!(
                    "cannot read {:?} as an integer distribution value",
                    String::from_utf8_lossy(raw)
                )
            })?;
        let h = hash_int(self.kind, v);
        Ok(self.shards.partition_point(|s| s.max < h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_fields_of_copy_rows() {
        assert_eq!(field(b"1\tab\\tc\t\\N\n", 0), Some(&b"1"[..]));
        assert_eq!(field(b"1\tab\\tc\t\\N\n", 1), Some(&b"ab\\tc"[..]));
        assert_eq!(field(b"1\tab\\tc\t\\N\n", 2), Some(&b"\\N"[..]));
        assert_eq!(field(b"1\tx\n", 3), None);
    }

    #[test]
    fn known_hashes() {
        // From PostgreSQL 15: SELECT hashint4(0), hashint4(1), hashint8(-1), hashint8(4294967296), …
        assert_eq!(hash_int(IntKind::Int4, 0), -272_711_505);
        assert_eq!(hash_int(IntKind::Int4, 1), -1_905_060_026);
        assert_eq!(hash_int(IntKind::Int8, 1), hash_int(IntKind::Int4, 1));
        assert_eq!(hash_int(IntKind::Int8, -1), 385_747_274);
        assert_eq!(hash_int(IntKind::Int8, 4_294_967_296), -1_905_060_026);
        assert_eq!(hash_int(IntKind::Int8, -5_000_000_000), 954_517_114);
        assert_eq!(hash_int(IntKind::Int2, 7), -978_793_473);
        assert_eq!(hash_int(IntKind::Int4, i32::MIN as i64), -1_524_351_049);
    }
}
