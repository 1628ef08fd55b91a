//! The messages of PostgreSQL's `pgoutput` plugin, protocol version 1, as
//! `pg_logical_slot_peek_binary_changes` returns them (one message per row, no replication framing).
//! Hand-parsed: no maintained crate parses the bare messages without bringing a replication client of
//! its own (docs/online.md says which were weighed). Layouts: PostgreSQL's "Logical Replication
//! Message Formats".

/// One column value of a tuple, in pgoutput's text format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    /// A TOASTed value that did not change (UPDATE only): the target keeps its own.
    Unchanged,
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Part of the replica identity (the key).
    pub key: bool,
    pub name: String,
    pub type_oid: u32,
    pub type_mod: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub oid: u32,
    /// `pg_catalog` where pgoutput sends an empty namespace.
    pub schema: String,
    pub name: String,
    /// `d` default, `n` nothing, `f` full, `i` index.
    pub replica_identity: u8,
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Begin {
        /// The LSN of the commit record.
        final_lsn: u64,
        /// Microseconds since 2000-01-01.
        commit_time: i64,
        xid: u32,
    },
    Commit {
        commit_lsn: u64,
        /// The end of the commit record: where a slot that consumed it continues.
        end_lsn: u64,
        commit_time: i64,
    },
    Relation(Relation),
    Insert {
        relation: u32,
        new: Vec<Value>,
    },
    Update {
        relation: u32,
        /// The old key (`K`, when the key changed) or the whole old row (`O`, replica identity full).
        old: Option<Vec<Value>>,
        new: Vec<Value>,
    },
    Delete {
        relation: u32,
        old: Vec<Value>,
    },
    Truncate {
        relations: Vec<u32>,
        cascade: bool,
        restart_identity: bool,
    },
    /// Origin, Type and logical decoding messages: nothing to apply.
    Other(u8),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed pgoutput message ({0})")]
pub struct ParseError(pub String);

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        if self.buf.len() < n {
            return Err(ParseError(format!(
                "{n} bytes expected, {} left",
                self.buf.len()
            )));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, ParseError> {
        Ok(self.take(1)?[0])
    }
    fn i16(&mut self) -> Result<i16, ParseError> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32, ParseError> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn i32(&mut self) -> Result<i32, ParseError> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64, ParseError> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn i64(&mut self) -> Result<i64, ParseError> {
        Ok(i64::from_be_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn cstring(&mut self) -> Result<String, ParseError> {
        let end = self
            .buf
            .iter()
            .position(|b| *b == 0)
            .ok_or_else(|| ParseError("unterminated string".into()))?;
        let s = String::from_utf8(self.buf[..end].to_vec())
            .map_err(|_| ParseError("string is not UTF-8".into()))?;
        self.buf = &self.buf[end + 1..];
        Ok(s)
    }
    fn tuple(&mut self) -> Result<Vec<Value>, ParseError> {
        let n = self.i16()?;
        (0..n)
            .map(|_| match self.u8()? {
                b'n' => Ok(Value::Null),
                b'u' => Ok(Value::Unchanged),
                b't' => {
                    let len = self.i32()?;
                    let bytes = self.take(
                        usize::try_from(len)
                            .map_err(|_| ParseError(format!("negative value length {len}")))?,
                    )?;
                    String::from_utf8(bytes.to_vec())
                        .map(Value::Text)
                        .map_err(|_| ParseError("text value is not UTF-8".into()))
                }
                k => Err(ParseError(format!(
                    "unknown tuple value kind {:?}",
                    k as char
                ))),
            })
            .collect()
    }
}

/// Parses one message.
pub fn parse(data: &[u8]) -> Result<Message, ParseError> {
    let mut r = Reader { buf: data };
    let tag = r.u8()?;
    let msg = match tag {
        b'B' => Message::Begin {
            final_lsn: r.u64()?,
            commit_time: r.i64()?,
            xid: r.u32()?,
        },
        b'C' => {
            let _flags = r.u8()?;
            Message::Commit {
                commit_lsn: r.u64()?,
                end_lsn: r.u64()?,
                commit_time: r.i64()?,
            }
        }
        b'R' => {
            let oid = r.u32()?;
            let schema = match r.cstring()? {
                s if s.is_empty() => "pg_catalog".to_string(),
                s => s,
            };
            let name = r.cstring()?;
            let replica_identity = r.u8()?;
            let n = r.i16()?;
            let columns = (0..n)
                .map(|_| {
                    Ok(Column {
                        key: r.u8()? & 1 == 1,
                        name: r.cstring()?,
                        type_oid: r.u32()?,
                        type_mod: r.i32()?,
                    })
                })
                .collect::<Result<_, ParseError>>()?;
            Message::Relation(Relation {
                oid,
                schema,
                name,
                replica_identity,
                columns,
            })
        }
        b'I' => {
            let relation = r.u32()?;
            match r.u8()? {
                b'N' => Message::Insert {
                    relation,
                    new: r.tuple()?,
                },
                k => {
                    return Err(ParseError(format!(
                        "INSERT without a new tuple ({:?})",
                        k as char
                    )))
                }
            }
        }
        b'U' => {
            let relation = r.u32()?;
            let mut old = None;
            let mut kind = r.u8()?;
            if kind == b'K' || kind == b'O' {
                old = Some(r.tuple()?);
                kind = r.u8()?;
            }
            if kind != b'N' {
                return Err(ParseError(format!(
                    "UPDATE without a new tuple ({:?})",
                    kind as char
                )));
            }
            Message::Update {
                relation,
                old,
                new: r.tuple()?,
            }
        }
        b'D' => {
            let relation = r.u32()?;
            match r.u8()? {
                b'K' | b'O' => Message::Delete {
                    relation,
                    old: r.tuple()?,
                },
                k => {
                    return Err(ParseError(format!(
                        "DELETE without an old tuple ({:?})",
                        k as char
                    )))
                }
            }
        }
        b'T' => {
            let n = r.u32()?;
            let options = r.u8()?;
            let relations = (0..n).map(|_| r.u32()).collect::<Result<_, _>>()?;
            Message::Truncate {
                relations,
                cascade: options & 1 != 0,
                restart_identity: options & 2 != 0,
            }
        }
        b'O' | b'Y' | b'M' => Message::Other(tag),
        t => return Err(ParseError(format!("unknown message type {:?}", t as char))),
    };
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuple(values: &[Option<&str>]) -> Vec<u8> {
        let mut b = (values.len() as i16).to_be_bytes().to_vec();
        for v in values {
            match v {
                None => b.push(b'n'),
                Some("\u{0}u") => b.push(b'u'),
                Some(s) => {
                    b.push(b't');
                    b.extend((s.len() as i32).to_be_bytes());
                    b.extend(s.as_bytes());
                }
            }
        }
        b
    }

    #[test]
    fn begin_and_commit() {
        let mut b = vec![b'B'];
        b.extend(0x1_0000_0028u64.to_be_bytes());
        b.extend(7i64.to_be_bytes());
        b.extend(745u32.to_be_bytes());
        assert_eq!(
            parse(&b).unwrap(),
            Message::Begin {
                final_lsn: 0x1_0000_0028,
                commit_time: 7,
                xid: 745
            }
        );
        let mut c = vec![b'C', 0];
        c.extend(10u64.to_be_bytes());
        c.extend(20u64.to_be_bytes());
        c.extend(3i64.to_be_bytes());
        assert_eq!(
            parse(&c).unwrap(),
            Message::Commit {
                commit_lsn: 10,
                end_lsn: 20,
                commit_time: 3
            }
        );
    }

    #[test]
    fn relation_with_empty_namespace_is_pg_catalog() {
        let mut b = vec![b'R'];
        b.extend(16384u32.to_be_bytes());
        b.extend(b"\0Odd \"name\"\0d");
        b.extend(2i16.to_be_bytes());
        b.push(1);
        b.extend(b"id\0");
        b.extend(20u32.to_be_bytes());
        b.extend((-1i32).to_be_bytes());
        b.push(0);
        b.extend(b"note\0");
        b.extend(25u32.to_be_bytes());
        b.extend((-1i32).to_be_bytes());
        let Message::Relation(rel) = parse(&b).unwrap() else {
            panic!()
        };
        assert_eq!(rel.schema, "pg_catalog");
        assert_eq!(rel.name, "Odd \"name\"");
        assert_eq!(rel.replica_identity, b'd');
        assert!(rel.columns[0].key && !rel.columns[1].key);
        assert_eq!(rel.columns[1].name, "note");
        assert_eq!(rel.columns[1].type_oid, 25);
    }

    #[test]
    fn update_with_old_key_null_and_unchanged_toast() {
        let mut b = vec![b'U'];
        b.extend(5u32.to_be_bytes());
        b.push(b'K');
        b.extend(tuple(&[Some("1"), None]));
        b.push(b'N');
        b.extend(tuple(&[Some("2"), Some("\u{0}u")]));
        assert_eq!(
            parse(&b).unwrap(),
            Message::Update {
                relation: 5,
                old: Some(vec![Value::Text("1".into()), Value::Null]),
                new: vec![Value::Text("2".into()), Value::Unchanged],
            }
        );
        // Without an old tuple.
        let mut b = vec![b'U'];
        b.extend(5u32.to_be_bytes());
        b.push(b'N');
        b.extend(tuple(&[Some("é")]));
        assert!(matches!(
            parse(&b).unwrap(),
            Message::Update { old: None, .. }
        ));
    }

    #[test]
    fn insert_delete_truncate() {
        let mut b = vec![b'I'];
        b.extend(9u32.to_be_bytes());
        b.push(b'N');
        b.extend(tuple(&[Some("x")]));
        assert!(matches!(
            parse(&b).unwrap(),
            Message::Insert { relation: 9, .. }
        ));
        let mut d = vec![b'D'];
        d.extend(9u32.to_be_bytes());
        d.push(b'O');
        d.extend(tuple(&[Some("x")]));
        assert!(matches!(
            parse(&d).unwrap(),
            Message::Delete { relation: 9, .. }
        ));
        let mut t = vec![b'T'];
        t.extend(2u32.to_be_bytes());
        t.push(3);
        t.extend(9u32.to_be_bytes());
        t.extend(10u32.to_be_bytes());
        assert_eq!(
            parse(&t).unwrap(),
            Message::Truncate {
                relations: vec![9, 10],
                cascade: true,
                restart_identity: true
            }
        );
    }

    #[test]
    fn truncated_or_unknown_input_is_an_error_not_a_panic() {
        assert!(parse(&[]).is_err());
        assert!(parse(&[b'B', 0, 0]).is_err());
        assert!(parse(b"Z").is_err());
        let mut b = vec![b'I'];
        b.extend(9u32.to_be_bytes());
        b.push(b'N');
        b.extend(1i16.to_be_bytes());
        b.push(b't');
        b.extend(100i32.to_be_bytes());
        b.extend(b"short");
        assert!(parse(&b).is_err());
    }
}
