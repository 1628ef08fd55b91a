//! A chunk through the target as `INSERT` statements instead of `COPY … FROM STDIN`, for a target
//! that cannot pass on the end of a COPY: PgCat (1.3.0, its newest release, in transaction or session
//! mode alike). Only the rows that go through the coordinator take this path; rows sent straight to
//! the shards on the workers never pass through PgCat.
//!
//! Why (PgCat's source, `src/client.rs`, `Client::handle`): on a client's CopyDone (the `'c' | 'f'`
//! arm) PgCat sends it to the server and then reads the server's answer with
//! `receive_server_message`, that is `Server::recv` (`src/server.rs`), which returns only once a
//! ReadyForQuery (`'Z'`) arrived; it reads nothing more from the client meanwhile. A COPY sent with
//! the extended protocol, as tokio-postgres sends it (Bind, Execute, Sync, CopyData…, CopyDone, Sync),
//! gets its ReadyForQuery only for the Sync after the CopyDone: the server ignores the Sync after
//! Execute, which reaches it in copy-in mode (PostgreSQL's protocol, "COPY Operations"). PgCat holds
//! that Sync unread while it waits for the ReadyForQuery: the server waits for the Sync, PgCat for the
//! server, the client for the CommandComplete PgCat buffers. A COPY sent with the simple protocol
//! (psql's) is answered with ReadyForQuery right after its CommandComplete and passes. No PgCat
//! setting changes that arm, and tokio-postgres has no simple-protocol COPY.
//!
//! The rows still come from the source's COPY, text or binary as on the COPY path, so nothing is
//! converted on the way: each row's fields become parameters of a multi-row `INSERT … VALUES` in the
//! format COPY used (a binary field is its type's binary send format, which a binary parameter is;
//! a text field, unescaped, its type's text input, which a text parameter is), their types left to
//! the server (the target columns'). The chunk runs in the same transaction and ends with the same
//! decision as on the COPY path, so exactly-once and resuming are unchanged; the rows every INSERT
//! reports are summed and checked against the rows read.

use std::error::Error as StdError;

use bytes::{BufMut, Bytes, BytesMut};
use futures::{pin_mut, StreamExt};
use tokio_postgres::types::{to_sql_checked, Format, IsNull, ToSql, Type};
use tokio_postgres::Client;

use super::job::ChunkAttempt;
use super::retry::{next_row, watched, Failure};
use super::shard_route::BinaryTuples;
use crate::error::{Error, Result, Side};
use crate::ident::quote_ident;

/// A statement's parameters at most (the protocol counts them in 16 bits).
const MAX_PARAMS: usize = 65_535;
/// Rows of one INSERT at most (measured on a reference table of 200,000 rows of 4 columns through
/// PgCat: 9.6 s with 250 rows a statement, 8.6 s with 1,000, 6.8 s with 4,000 and with 16,000).
const MAX_ROWS: usize = 5_000;
/// Bytes of values after which an INSERT is sent.
const BATCH_BYTES: usize = 1 << 20;

/// Whether the target is PgCat, asked with PgCat's own `SHOW PRIMARY READS`, which PgCat answers
/// itself (every pool, whatever its settings); a PostgreSQL server (or PgBouncer, which passes it on)
/// answers with a syntax error.
pub(super) async fn target_is_pgcat(control: &Client) -> Result<bool> {
    match control.simple_query("SHOW PRIMARY READS").await {
        Ok(messages) => Ok(messages
            .iter()
            .any(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_)))),
        Err(e) if e.as_db_error().is_some() => Ok(false),
        Err(e) => Err(Error::db(
            Side::Target,
            "asking whether the target is PgCat",
            e,
        )),
    }
}

/// One field as a statement parameter: the bytes COPY gave (`None`: NULL), sent in COPY's format
/// whatever the parameter's type.
#[derive(Debug)]
struct Field {
    value: Option<Bytes>,
    binary: bool,
}

impl ToSql for Field {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match &self.value {
            None => Ok(IsNull::Yes),
            Some(v) => {
                out.put_slice(v);
                Ok(IsNull::No)
            }
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, _: &Type) -> Format {
        if self.binary {
            Format::Binary
        } else {
            Format::Text
        }
    }

    to_sql_checked!();
}

/// Runs the chunk's `COPY … TO STDOUT` on `source` and inserts its rows on `target` (inside the
/// chunk's transaction), reporting every INSERT; returns the rows and the COPY bytes moved.
pub(super) async fn pump(
    at: &ChunkAttempt<'_>,
    source: &Client,
    target: &Client,
) -> Result<(u64, u64), Failure> {
    let job = at.job;
    let columns = job.columns.len().max(1);
    let rows_per_insert = (MAX_PARAMS / columns).clamp(1, MAX_ROWS);
    let out = at.copy_out(source).await?;
    pin_mut!(out);
    let (mut rows, mut bytes) = (0u64, 0u64);
    let mut batch = Batch::default();
    let mut tuples = BinaryTuples::default();
    loop {
        let data: Option<Bytes> = next_row(&mut out, at.stall).await?;
        let last = data.is_none();
        if let Some(d) = data {
            batch.bytes += d.len();
            if job.binary {
                let mut rest = &d[..];
                while let Some((tuple, _)) = tuples
                    .next(&mut rest, 0)
                    .map_err(|why| Failure::from(Error::Other(format!("source: {why}"))))?
                {
                    let offset = tuple.as_ptr() as usize - d.as_ptr() as usize;
                    batch.push_row(binary_fields(&d.slice(offset..offset + tuple.len())));
                }
            } else {
                for line in d.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    let offset = line.as_ptr() as usize - d.as_ptr() as usize;
                    batch.push_row(text_fields(&d.slice(offset..offset + line.len())));
                }
            }
        }
        let full = batch.rows >= rows_per_insert || batch.bytes >= BATCH_BYTES;
        if batch.rows > 0 && (full || last) {
            let sent = batch.rows as u64;
            let inserted = insert(at, target, &batch).await?;
            if inserted != sent {
                return Err(Failure::from(Error::RowCountMismatch {
                    side: Side::Target,
                    what: "INSERT".into(),
                    accepted: inserted,
                    sent,
                }));
            }
            rows += sent;
            bytes += batch.bytes as u64;
            at.moved(batch.bytes as u64, sent)?;
            batch = Batch::default();
        } else if last {
            bytes += batch.bytes as u64;
        }
        if last {
            break;
        }
    }
    Ok((rows, bytes))
}

/// Rows waiting for their INSERT: `rows` rows' fields, one after another.
#[derive(Default)]
struct Batch {
    fields: Vec<Field>,
    rows: usize,
    /// COPY bytes the rows came in.
    bytes: usize,
}

impl Batch {
    fn push_row(&mut self, row: Vec<Field>) {
        self.fields.extend(row);
        self.rows += 1;
    }
}

/// One multi-row INSERT of `batch` into the chunk's table; the rows it reports.
async fn insert(at: &ChunkAttempt<'_>, target: &Client, batch: &Batch) -> Result<u64, Failure> {
    let job = at.job;
    let width = job.columns.len();
    if batch.fields.len() != batch.rows * width {
        return Err(Failure::from(Error::Other(format!(
            "source: a row of {} does not have {width} fields",
            job.name
        ))));
    }
    let sql = insert_sql(&job.name.quoted(), &job.columns, batch.rows);
    // `unknown`: the server takes each parameter's type from its column.
    let params: Vec<(&(dyn ToSql + Sync), Type)> = batch
        .fields
        .iter()
        .map(|f| (f as &(dyn ToSql + Sync), Type::UNKNOWN))
        .collect();
    let what = "inserting rows";
    watched(at.stall, Side::Target, what, async {
        let stream = target
            .query_typed_raw(&sql, params)
            .await
            .map_err(|e| Error::db(Side::Target, what, e))?;
        pin_mut!(stream);
        while let Some(row) = stream.next().await {
            row.map_err(|e| Error::db(Side::Target, what, e))?;
        }
        Ok(stream.rows_affected().unwrap_or(0))
    })
    .await
}

/// `INSERT INTO relation (columns) OVERRIDING SYSTEM VALUE VALUES ($1, …), …` for `rows` rows (as
/// COPY, it writes identity columns `GENERATED ALWAYS` too).
fn insert_sql(relation: &str, columns: &[String], rows: usize) -> String {
    let list: Vec<String> = columns.iter().map(|c| quote_ident(c)).collect();
    let mut sql = format!(
        "INSERT INTO {relation} ({}) OVERRIDING SYSTEM VALUE VALUES ",
        list.join(", ")
    );
    let mut n = 0;
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns.len() {
            if c > 0 {
                sql.push_str(", ");
            }
            n += 1;
            sql.push_str(&format!("${n}"));
        }
        sql.push(')');
    }
    sql
}

/// The fields of one binary COPY tuple (its field count, then each field's length and bytes; -1: NULL),
/// as parts of `tuple`. [`BinaryTuples`] has checked that the lengths fit.
fn binary_fields(tuple: &Bytes) -> Vec<Field> {
    let count = i16::from_be_bytes([tuple[0], tuple[1]]).max(0) as usize;
    let mut at = 2;
    let mut fields = Vec::with_capacity(count);
    for _ in 0..count {
        let len = i32::from_be_bytes(tuple[at..at + 4].try_into().unwrap());
        at += 4;
        let value = (len >= 0).then(|| {
            let v = tuple.slice(at..at + len as usize);
            at += len as usize;
            v
        });
        fields.push(Field {
            value,
            binary: true,
        });
    }
    fields
}

/// The fields of one row of COPY's text format (without its newline): tab-separated, `\N` for NULL,
/// backslash escapes undone as COPY FROM undoes them.
fn text_fields(line: &Bytes) -> Vec<Field> {
    let mut fields = Vec::new();
    let mut start = 0;
    for end in line
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\t')
        .map(|(i, _)| i)
        .chain([line.len()])
    {
        let raw = &line[start..end];
        let value = match raw {
            b"\\N" => None,
            _ if !raw.contains(&b'\\') => Some(line.slice(start..end)),
            _ => Some(Bytes::from(unescape(raw))),
        };
        fields.push(Field {
            value,
            binary: false,
        });
        start = end + 1;
    }
    fields
}

/// A text-format field with its backslash escapes undone (PostgreSQL's `CopyReadAttributesText`):
/// `\b \f \n \r \t \v`, one to three octal digits, `\x` with one or two hex digits, any other
/// character stands for itself.
fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        i += 1;
        if c != b'\\' || i == raw.len() {
            out.push(c);
            continue;
        }
        let e = raw[i];
        i += 1;
        let byte = match e {
            b'0'..=b'7' => {
                let mut v = u32::from(e - b'0');
                for _ in 0..2 {
                    match raw.get(i) {
                        Some(d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                (v & 0xff) as u8
            }
            b'x' => {
                let mut v = None;
                for _ in 0..2 {
                    match raw.get(i).and_then(|d| (*d as char).to_digit(16)) {
                        Some(d) => {
                            v = Some(v.unwrap_or(0) * 16 + d);
                            i += 1;
                        }
                        None => break,
                    }
                }
                v.map_or(b'x', |v| v as u8)
            }
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'v' => 11,
            other => other,
        };
        out.push(byte);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(fields: Vec<Field>) -> Vec<Option<Vec<u8>>> {
        fields
            .into_iter()
            .map(|f| f.value.map(|v| v.to_vec()))
            .collect()
    }

    #[test]
    fn text_rows_are_split_and_unescaped_as_copy_reads_them() {
        let line = Bytes::from_static(b"1\t\\N\ta\\tb\\nc\\\\d\t\\101\\x41\\x4g\\q\t\t\\\\N");
        assert_eq!(
            values(text_fields(&line)),
            vec![
                Some(b"1".to_vec()),
                None,
                Some(b"a\tb\nc\\d".to_vec()),
                Some(b"AA\x04gq".to_vec()),
                Some(Vec::new()),
                Some(b"\\N".to_vec()),
            ]
        );
        assert_eq!(unescape(b"\\b\\f\\r\\v\\0\\7777"), b"\x08\x0c\r\x0b\0\xff7");
        assert_eq!(unescape(b"\\x"), b"x");
    }

    #[test]
    fn binary_tuples_are_split_into_fields() {
        let mut t = BytesMut::new();
        t.put_i16(3);
        t.put_i32(2);
        t.put_slice(b"ab");
        t.put_i32(-1);
        t.put_i32(0);
        assert_eq!(
            values(binary_fields(&t.freeze())),
            vec![Some(b"ab".to_vec()), None, Some(Vec::new())]
        );
    }

    #[test]
    fn insert_statements_number_their_parameters() {
        let cols = vec!["a".to_string(), "B c".to_string()];
        assert_eq!(
            insert_sql("s.t", &cols, 2),
            "INSERT INTO s.t (a, \"B c\") OVERRIDING SYSTEM VALUE VALUES ($1, $2), ($3, $4)"
        );
    }
}
