//! Worker-direct routing: rows of a hash-distributed Citus table go straight to the shard placements on
//! the workers, so the coordinator does not parse and re-send every row. Our side only finds the
//! distribution column in each COPY text row and hashes it with PostgreSQL's hash function for the
//! type (the one Citus uses; checked against `get_shard_id_for_distribution_column` in the tests).
//!
//! Used only where it is safe; everything else takes the coordinator path: the table must be
//! hash-distributed on an int2/int4/int8 column, or on a text/varchar (deterministic collation, UTF8
//! database) or uuid column when the table moves in binary (the value's bytes are then at hand
//! without unescaping), have exactly one active placement per shard, no user triggers, and the
//! workers must accept our connections with the target's credentials.

use std::collections::BTreeMap;

use tokio_postgres::types::Type;
use tokio_postgres::{Client, Row};

use crate::connect::query;
use crate::error::{Result, Side};
use crate::ident::QualifiedName;

const SQL_SHARDS: &str = include_str!("../sql/copy_shards.sql");

/// The type of the distribution column, as far as hashing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DistKind {
    Int2,
    Int4,
    Int8,
    /// `text` / `varchar` with a deterministic collation: `hashtext` hashes the bytes.
    Text,
    /// `uuid_hash` hashes the 16 bytes.
    Uuid,
}

impl DistKind {
    /// Routing needs the table to move in binary (text and uuid values are hashed as raw bytes).
    pub(super) fn needs_binary(self) -> bool {
        matches!(self, DistKind::Text | DistKind::Uuid)
    }
}

/// One shard: its hash range, its relation on the worker (quoted), its node.
#[derive(Debug, Clone)]
pub(super) struct Shard {
    pub relation: String,
    pub min: i32,
    pub max: i32,
    pub node: usize,
}

/// Where the rows of one table go.
#[derive(Debug, Clone)]
pub(super) struct ShardMap {
    /// Oid of the table on the coordinator (names the prepared transactions).
    pub table_oid: u32,
    /// Position of the distribution column among the copied columns.
    pub field: usize,
    pub kind: DistKind,
    /// Sorted by `min`, covering the whole int4 range.
    pub shards: Vec<Shard>,
    /// `(host, port)` of each node holding shards.
    pub nodes: Vec<(String, u16)>,
}

/// Reads the shard layouts of `tables` (each with its copied columns) in one query; per table `Err(reason)`
/// when worker-direct copying is not safe for it.
pub(super) async fn load(
    control: &Client,
    tables: &[(&QualifiedName, &[String])],
) -> Result<Vec<std::result::Result<ShardMap, String>>> {
    let names: Vec<String> = tables.iter().map(|(t, _)| t.quoted()).collect();
    let rows = query(
        control,
        Side::Target,
        "reading the shards of the tables",
        SQL_SHARDS,
        &[(&names, Type::TEXT_ARRAY)],
    )
    .await?;
    let mut maps: Vec<std::result::Result<ShardMap, String>> = tables
        .iter()
        .enumerate()
        .map(|(i, (_, columns))| {
            let mine: Vec<&Row> = rows
                .iter()
                .filter(|r| r.get::<_, i32>("ord") as usize == i + 1)
                .collect();
            from_rows(&mine, columns)
        })
        .collect();
    if maps.iter().flatten().any(|m| m.kind.needs_binary()) && !same_byte_hash(control).await? {
        for m in &mut maps {
            if m.as_ref().is_ok_and(|m| m.kind.needs_binary()) {
                *m = Err(
                    "the servers hash text and uuid values differently from this machine".into(),
                );
            }
        }
    }
    Ok(maps)
}

/// Whether our byte hash is the servers' (PostgreSQL's hash_bytes reads words in the machine's byte
/// order): checked on the coordinator before it is trusted.
async fn same_byte_hash(control: &Client) -> Result<bool> {
    let probe = query(
        control,
        Side::Target,
        "checking the hash of text and uuid values",
        "SELECT hashtext($1), uuid_hash($2::text::uuid)",
        &[
            (&HASH_PROBE_TEXT, Type::TEXT),
            (&HASH_PROBE_UUID, Type::TEXT),
        ],
    )
    .await?;
    let (t, u): (i32, i32) = (probe[0].get(0), probe[0].get(1));
    let uuid = uuid_bytes(HASH_PROBE_UUID);
    Ok(t == hash_bytes(HASH_PROBE_TEXT.as_bytes()) as i32 && u == hash_bytes(&uuid) as i32)
}

/// One table's layout from its rows of copy_shards.sql.
fn from_rows(rows: &[&Row], columns: &[String]) -> std::result::Result<ShardMap, String> {
    let Some(first) = rows.first() else {
        return Err("it is not a distributed table".into());
    };
    let method: String = first.get("partmethod");
    if method != "h" {
        return Err("it is not hash-distributed".into());
    }
    if first.get::<_, bool>("has_triggers") {
        return Err("it has triggers".into());
    }
    let column: String = first.get("dist_column");
    let kind = match first.get::<_, String>("dist_type").as_str() {
        "int2" => DistKind::Int2,
        "int4" => DistKind::Int4,
        "int8" => DistKind::Int8,
        "text" | "varchar" => {
            if !first.get::<_, bool>("dist_deterministic") {
                return Err("its distribution column has a nondeterministic collation".into());
            }
            if first.get::<_, String>("encoding") != "UTF8" {
                return Err("the target database is not UTF8".into());
            }
            DistKind::Text
        }
        "uuid" => DistKind::Uuid,
        other => return Err(format!("its distribution column has type {other}")),
    };
    let Some(field) = columns.iter().position(|c| *c == column) else {
        return Err("its distribution column is not copied".into());
    };
    let mut nodes: BTreeMap<(String, u16), usize> = BTreeMap::new();
    let mut shards: Vec<Shard> = Vec::new();
    for r in rows {
        let placements: i64 = r.get("placements");
        if placements != 1 {
            return Err(format!(
                "shard {} has {placements} active placements",
                r.get::<_, i64>("shardid")
            ));
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
            return Err("a shard has no hash range".into());
        };
        shards.push(Shard {
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
        return Err("its shard ranges do not cover the hash space exactly".into());
    }
    let mut addrs = vec![(String::new(), 0u16); nodes.len()];
    for (addr, i) in nodes {
        addrs[i] = addr;
    }
    Ok(ShardMap {
        table_oid: first.get::<_, i64>("table_oid") as u32,
        field,
        kind,
        shards,
        nodes: addrs,
    })
}

const HASH_PROBE_TEXT: &str = "citus-migrate ünï 😀 probe";
const HASH_PROBE_UUID: &str = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11";

/// The 16 bytes of a uuid written with hyphens (only used for the probe's constant).
fn uuid_bytes(text: &str) -> Vec<u8> {
    let hex: Vec<u8> = text.bytes().filter(|b| *b != b'-').collect();
    hex.chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(4);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(6);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(8);
    *b = b.wrapping_add(*a);
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(16);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(19);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(4);
    *b = b.wrapping_add(*a);
}

fn final_mix(mut a: u32, mut b: u32, mut c: u32) -> u32 {
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

/// PostgreSQL's `hash_bytes` (Bob Jenkins' lookup3) as a little-endian server computes it: what
/// `hashtext` (deterministic collations) and `uuid_hash` return.
fn hash_bytes(k: &[u8]) -> u32 {
    let init = 0x9e37_79b9u32
        .wrapping_add(k.len() as u32)
        .wrapping_add(3_923_095);
    let (mut a, mut b, mut c) = (init, init, init);
    let word = |w: &[u8]| -> u32 {
        w.iter().enumerate().fold(0u32, |acc, (i, &byte)| {
            acc.wrapping_add((byte as u32) << (8 * i))
        })
    };
    let mut rest = k;
    while rest.len() >= 12 {
        a = a.wrapping_add(word(&rest[0..4]));
        b = b.wrapping_add(word(&rest[4..8]));
        c = c.wrapping_add(word(&rest[8..12]));
        mix(&mut a, &mut b, &mut c);
        rest = &rest[12..];
    }
    // The last 0..=11 bytes; the lowest byte of c is reserved for the length.
    let n = rest.len();
    a = a.wrapping_add(word(&rest[..n.min(4)]));
    if n > 4 {
        b = b.wrapping_add(word(&rest[4..n.min(8)]));
    }
    if n > 8 {
        c = c.wrapping_add(word(&rest[8..n]) << 8);
    }
    final_mix(a, b, c)
}

/// PostgreSQL's `hash_bytes_uint32` (Bob Jenkins' lookup3 final mix), used by `hashint2/4/8`.
fn hash_uint32(k: u32) -> u32 {
    let init = 0x9e37_79b9u32.wrapping_add(4).wrapping_add(3_923_095);
    final_mix(init.wrapping_add(k), init, init)
}

/// The hash PostgreSQL (and so Citus) computes for an integer of the given type, as int4.
fn hash_int(kind: DistKind, v: i64) -> i32 {
    let h = match kind {
        DistKind::Int8 => {
            let lo = v as u32;
            let hi = (v >> 32) as u32;
            hash_uint32(lo ^ if v >= 0 { hi } else { !hi })
        }
        // Text and uuid values are hashed as bytes (`route_binary`); never integers.
        DistKind::Int2 | DistKind::Int4 | DistKind::Text | DistKind::Uuid => {
            hash_uint32(v as i32 as u32)
        }
    };
    h as i32
}

/// The `index`-th field of a COPY text row (tab-separated; tabs inside values are escaped).
fn field(row: &[u8], index: usize) -> Option<&[u8]> {
    let row = row.strip_suffix(b"\n").unwrap_or(row);
    row.split(|&b| b == b'\t').nth(index)
}

/// A decimal integer as COPY text writes it (`-` and digits), without going through `str`.
fn parse_int(raw: &[u8]) -> Option<i64> {
    let (negative, digits) = match raw.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, raw),
    };
    if digits.is_empty() {
        return None;
    }
    // Accumulated as a negative number so that i64::MIN parses too.
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_sub((d - b'0') as i64)?;
    }
    if negative {
        Some(v)
    } else {
        v.checked_neg()
    }
}

/// What a binary COPY stream starts with: the signature, no flags, no header extension.
pub(super) const BINARY_HEADER: &[u8; 19] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// What ends a binary COPY stream: a field count of -1.
pub(super) const BINARY_TRAILER: &[u8; 2] = b"\xff\xff";

/// A whole binary tuple and the raw value of the field asked for (`None` for NULL).
type Tuple<'m> = (&'m [u8], Option<&'m [u8]>);

/// Splits the messages of a binary `COPY … TO STDOUT` into tuples: the header comes before the first
/// tuple, the trailer after the last. PostgreSQL sends whole tuples in each message; a tuple cut
/// across messages is reported instead of guessed at.
#[derive(Debug, Default)]
pub(super) struct BinaryTuples {
    header_seen: bool,
    ended: bool,
}

fn take<'m>(rest: &mut &'m [u8], n: usize) -> std::result::Result<&'m [u8], String> {
    if rest.len() < n {
        return Err(
            "a binary COPY row is cut across messages, which PostgreSQL does not do".into(),
        );
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

impl BinaryTuples {
    /// The next tuple of `rest` (which is advanced past it) with the raw value of field `field`
    /// (`None` for NULL); `Ok(None)` when `rest` holds no further tuple.
    pub(super) fn next<'m>(
        &mut self,
        rest: &mut &'m [u8],
        field: usize,
    ) -> std::result::Result<Option<Tuple<'m>>, String> {
        if !self.header_seen && !rest.is_empty() {
            let head = take(rest, BINARY_HEADER.len())?;
            if head[..11] != BINARY_HEADER[..11] {
                return Err("the source's binary COPY output has no valid signature".into());
            }
            if head[11..15] != [0, 0, 0, 0] {
                return Err(
                    "the source's binary COPY output has flags this copy does not know".into(),
                );
            }
            let extension = u32::from_be_bytes(head[15..19].try_into().unwrap()) as usize;
            take(rest, extension)?;
            self.header_seen = true;
        }
        if rest.is_empty() {
            return Ok(None);
        }
        if self.ended {
            return Err("the source sent data after the end of its binary COPY output".into());
        }
        let start = *rest;
        let count = i16::from_be_bytes(take(rest, 2)?.try_into().unwrap());
        if count == -1 {
            self.ended = true;
            return match rest.is_empty() {
                true => Ok(None),
                false => Err("the source sent data after the end of its binary COPY output".into()),
            };
        }
        let mut value = None;
        for i in 0..count.max(0) as usize {
            let len = i32::from_be_bytes(take(rest, 4)?.try_into().unwrap());
            let data = if len < 0 {
                None
            } else {
                Some(take(rest, len as usize)?)
            };
            if i == field {
                value = Some(data);
            }
        }
        let Some(value) = value else {
            return Err("a row has fewer fields than columns".into());
        };
        let used = start.len() - rest.len();
        Ok(Some((&start[..used], value)))
    }

    /// True once the trailer has been read.
    pub(super) fn ended(&self) -> bool {
        self.ended
    }
}

const NULL_DISTRIBUTION: &str =
    "a row has NULL in the distribution column, which Citus does not accept";

impl ShardMap {
    /// The shard (index into `shards`) of a distribution column value.
    fn shard_of(&self, v: i64) -> usize {
        self.shard_of_hash(hash_int(self.kind, v))
    }

    fn shard_of_hash(&self, h: i32) -> usize {
        self.shards.partition_point(|s| s.max < h)
    }

    /// The shard a COPY text row belongs to.
    pub(super) fn route(&self, row: &[u8]) -> std::result::Result<usize, String> {
        if self.kind.needs_binary() {
            return Err(
                "text and uuid distribution values are routed from binary rows only".into(),
            );
        }
        let raw = field(row, self.field)
            .ok_or_else(|| "a row has fewer fields than columns".to_string())?;
        if raw == b"\\N" {
            return Err(NULL_DISTRIBUTION.into());
        }
        let v = parse_int(raw).ok_or_else(|| {
            format!(
                "cannot read {:?} as an integer distribution value",
                String::from_utf8_lossy(raw)
            )
        })?;
        Ok(self.shard_of(v))
    }

    /// The shard of a binary COPY tuple, given the raw value of its distribution column.
    pub(super) fn route_binary(&self, value: Option<&[u8]>) -> std::result::Result<usize, String> {
        let raw = value.ok_or(NULL_DISTRIBUTION)?;
        let v = match (self.kind, raw.len()) {
            (DistKind::Text, _) | (DistKind::Uuid, 16) => {
                return Ok(self.shard_of_hash(hash_bytes(raw) as i32))
            }
            (DistKind::Int2, 2) => i16::from_be_bytes(raw.try_into().unwrap()) as i64,
            (DistKind::Int4, 4) => i32::from_be_bytes(raw.try_into().unwrap()) as i64,
            (DistKind::Int8, 8) => i64::from_be_bytes(raw.try_into().unwrap()),
            (kind, n) => {
                return Err(format!(
                    "a binary distribution value of {n} bytes does not fit its type {kind:?}"
                ))
            }
        };
        Ok(self.shard_of(v))
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
    fn parses_copy_integers() {
        assert_eq!(parse_int(b"0"), Some(0));
        assert_eq!(parse_int(b"-42"), Some(-42));
        assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int(b"9223372036854775808"), None);
        for bad in [&b""[..], b"-", b"1.5", b" 1", b"1e3", b"\\N"] {
            assert_eq!(parse_int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn splits_binary_copy_messages_into_tuples() {
        let tuple = |id: i32, name: Option<&[u8]>| {
            let mut t = vec![0u8, 2, 0, 0, 0, 4];
            t.extend_from_slice(&id.to_be_bytes());
            match name {
                Some(n) => {
                    t.extend_from_slice(&(n.len() as i32).to_be_bytes());
                    t.extend_from_slice(n);
                }
                None => t.extend_from_slice(&(-1i32).to_be_bytes()),
            }
            t
        };
        // The header with the first tuple, one tuple alone, two tuples, then the trailer alone.
        let mut first = BINARY_HEADER.to_vec();
        first.extend(tuple(7, Some(b"a\tb")));
        let second = tuple(-3, None);
        let mut third = tuple(1, Some(b""));
        third.extend(tuple(2, Some(b"x")));
        let mut split = BinaryTuples::default();
        let mut seen = Vec::new();
        for msg in [&first[..], &second, &third, BINARY_TRAILER] {
            let mut rest = msg;
            while let Some((t, v)) = split.next(&mut rest, 0).unwrap() {
                let id = i32::from_be_bytes(v.unwrap().try_into().unwrap());
                seen.push((id, t.len()));
            }
        }
        assert!(split.ended());
        assert_eq!(seen, vec![(7, 17), (-3, 14), (1, 14), (2, 15)]);

        // The second field (NULL in the second tuple).
        let mut split = BinaryTuples::default();
        let mut rest = &first[..];
        let (_, v) = split.next(&mut rest, 1).unwrap().unwrap();
        assert_eq!(v, Some(&b"a\tb"[..]));
        let mut rest = &second[..];
        assert_eq!(split.next(&mut rest, 1).unwrap().unwrap().1, None);

        // Zero rows: header and trailer in one message.
        let mut empty = BINARY_HEADER.to_vec();
        empty.extend_from_slice(BINARY_TRAILER);
        let mut split = BinaryTuples::default();
        let mut rest = &empty[..];
        assert!(split.next(&mut rest, 0).unwrap().is_none());
        assert!(split.ended());

        // A cut tuple, a bad signature, data after the trailer.
        let mut split = BinaryTuples::default();
        let mut rest = &first[..first.len() - 1];
        assert!(split.next(&mut rest, 0).unwrap_err().contains("cut across"));
        let mut rest = &b"PGCOPY\n\xff\r\n\x01\0\0\0\0\0\0\0"[..];
        assert!(BinaryTuples::default().next(&mut rest, 0).is_err());
        let mut after = empty.clone();
        after.extend(tuple(1, None));
        let mut rest = &after[..];
        assert!(BinaryTuples::default().next(&mut rest, 0).is_err());
    }

    #[test]
    fn routes_binary_values_like_text_ones() {
        let map = ShardMap {
            table_oid: 1,
            field: 0,
            kind: DistKind::Int8,
            shards: (0..4)
                .map(|i: i64| Shard {
                    relation: format!("t_{i}"),
                    min: (i32::MIN as i64 + i * (1 << 30)) as i32,
                    max: (i32::MIN as i64 + (i + 1) * (1 << 30) - 1) as i32,
                    node: 0,
                })
                .collect(),
            nodes: vec![("h".into(), 1)],
        };
        for v in [0i64, 1, -1, 42, i64::MAX, i64::MIN, 5_000_000_000] {
            let text = format!("{v}\tx\n");
            assert_eq!(
                map.route(text.as_bytes()).unwrap(),
                map.route_binary(Some(&v.to_be_bytes())).unwrap()
            );
        }
        assert!(map.route(b"\\N\tx\n").unwrap_err().contains("NULL"));
        assert!(map.route_binary(None).unwrap_err().contains("NULL"));
        assert!(map.route_binary(Some(&[0, 1])).is_err());
    }

    #[test]
    fn byte_hashes_match_postgresql() {
        // From PostgreSQL 15 (x86_64): SELECT hashtext(s) …, uuid_hash(…).
        let known: &[(&str, i32)] = &[
            ("", -1477818771),
            ("a", 1075015857),
            ("ab", 1718550461),
            ("abc", -785388649),
            ("abcd", -393934804),
            ("abcde", -445659580),
            ("abcdefgh", -1960928205),
            ("abcdefghijk", -1483803693),
            ("abcdefghijkl", -1586087212),
            ("abcdefghijklm", 405849808),
            ("tenant-00042", 973208844),
            ("ünï 😀 𝄞", 2106118228),
            ("The quick brown fox jumps over the lazy dog", -827430201),
        ];
        for (s, h) in known {
            assert_eq!(hash_bytes(s.as_bytes()) as i32, *h, "{s:?}");
        }
        assert_eq!(hash_bytes(&[0; 16]) as i32, 1353656403);
        assert_eq!(hash_bytes(&uuid_bytes(HASH_PROBE_UUID)) as i32, 1154666245);
        assert_eq!(hash_bytes(&[0xff; 16]) as i32, -682383255);
    }

    #[test]
    fn known_hashes() {
        // From PostgreSQL 15: SELECT hashint4(0), hashint4(1), hashint8(-1), hashint8(4294967296), …
        assert_eq!(hash_int(DistKind::Int4, 0), -272_711_505);
        assert_eq!(hash_int(DistKind::Int4, 1), -1_905_060_026);
        assert_eq!(hash_int(DistKind::Int8, 1), hash_int(DistKind::Int4, 1));
        assert_eq!(hash_int(DistKind::Int8, -1), 385_747_274);
        assert_eq!(hash_int(DistKind::Int8, 4_294_967_296), -1_905_060_026);
        assert_eq!(hash_int(DistKind::Int8, -5_000_000_000), 954_517_114);
        assert_eq!(hash_int(DistKind::Int2, 7), -978_793_473);
        assert_eq!(hash_int(DistKind::Int4, i32::MIN as i64), -1_524_351_049);
    }
}
