//! `import`: a CSV file with a header line into one table, streamed, in one transaction. The header
//! names the columns (matched by name); every record is checked while it streams (field count, UTF-8),
//! and any error (ours or the server's) names the line and rolls everything back.

use std::io::Read;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use futures::{pin_mut, SinkExt};
use tokio::sync::mpsc;

use super::csv_export::CsvSummary;
use super::sql::{copy_in, Format, BEGIN_CSV_IMPORT};
use super::tables;
use crate::connect::{connect, execute};
use crate::conninfo::ConnInfo;
use crate::error::{Error, Result, Side};
use crate::ident::{quote_ident, QualifiedName};
use crate::progress::Progress;

const SEND_BYTES: usize = 1 << 20;

/// A reader that keeps a copy of everything read, so the raw bytes can be forwarded as they are.
struct Tee<R> {
    inner: R,
    copy: Arc<Mutex<Vec<u8>>>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.lock().unwrap().extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

enum Piece {
    Data(Bytes, u64),
    Bad(String),
}

fn bad_input(input: &Path, message: String) -> Error {
    Error::usage(format!(
        "{}: {message}; nothing was imported",
        input.display()
    ))
}

/// Reads the header line: the column names.
fn read_header(input: &Path) -> Result<Vec<String>> {
    let file = std::fs::File::open(input)
        .map_err(|e| Error::io(format!("opening {}", input.display()), e))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(file);
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        Ok(true) => {}
        Ok(false) => {
            return Err(bad_input(
                input,
                "the file is empty; expected a header line naming the columns".into(),
            ))
        }
        Err(e) => return Err(bad_input(input, format!("line 1: {}", describe(&e)))),
    }
    let names: Vec<String> = record.iter().map(|s| s.to_string()).collect();
    if let Some(dup) = names
        .iter()
        .enumerate()
        .find(|(i, n)| names[..*i].contains(n))
        .map(|(_, n)| n)
    {
        return Err(bad_input(
            input,
            format!("line 1: column {dup:?} appears twice in the header"),
        ));
    }
    if names.iter().any(|n| n.is_empty()) {
        return Err(bad_input(
            input,
            "line 1: the header has an empty column name".into(),
        ));
    }
    Ok(names)
}

fn describe(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("{len} fields where the header has {expected_len}")
        }
        csv::ErrorKind::Utf8 { err, .. } => format!("invalid UTF-8 in field {}", err.field() + 1),
        csv::ErrorKind::Io(err) => format!("read error: {err}"),
        _ => e.to_string(),
    }
}

/// Validates the records of `input` on a blocking thread, forwarding its raw bytes in large pieces.
fn validate_and_forward(input: &Path, tx: mpsc::Sender<Piece>) {
    let file = match std::fs::File::open(input) {
        Ok(f) => f,
        Err(e) => {
            let _ = tx.blocking_send(Piece::Bad(format!("cannot read: {e}")));
            return;
        }
    };
    let copy = Arc::new(Mutex::new(Vec::with_capacity(SEND_BYTES * 2)));
    let tee = Tee {
        inner: file,
        copy: copy.clone(),
    };
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(tee);
    let mut record = csv::StringRecord::new();
    let mut rows = 0u64;
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => rows += 1,
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                let _ = tx.blocking_send(Piece::Bad(format!("line {line}: {}", describe(&e))));
                return;
            }
        }
        let mut c = copy.lock().unwrap();
        if c.len() >= SEND_BYTES {
            let data = Bytes::from(std::mem::replace(
                &mut *c,
                Vec::with_capacity(SEND_BYTES * 2),
            ));
            drop(c);
            if tx.blocking_send(Piece::Data(data, rows)).is_err() {
                return;
            }
            rows = 0;
        }
    }
    let rest = std::mem::take(&mut *copy.lock().unwrap());
    let _ = tx.blocking_send(Piece::Data(Bytes::from(rest), rows));
}

/// The server's error with the line it names (`COPY t, line 3, column b: "x"`).
fn server_error(input: &Path, e: tokio_postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) if db.code().code().starts_with("22") => {
            let place = db.where_().map(|w| format!(" ({w})")).unwrap_or_default();
            bad_input(
                input,
                format!("rejected by the target: {}{place}", db.message()),
            )
        }
        _ => Error::db(Side::Target, format!("importing {}", input.display()), e),
    }
}

/// Imports `input` into `table` in one transaction.
pub async fn import_csv(
    target: &ConnInfo,
    table: &QualifiedName,
    input: &Path,
    progress: &dyn Progress,
) -> Result<CsvSummary> {
    let started = Instant::now();
    let header = read_header(input)?;
    let client = connect(target).await?;
    let facts = tables::read(&client, Side::Target, std::slice::from_ref(table))
        .await?
        .remove(0);
    for name in &header {
        match facts.columns.iter().find(|(c, _)| c == name) {
            None => {
                // The file does not fit the table: bad input (exit 2), like a wrong field count.
                return Err(Error::usage(format!(
                    "{}: the header names column {}, which the target table {table} does not have",
                    input.display(),
                    quote_ident(name)
                )));
            }
            Some((_, true)) => {
                return Err(Error::Precondition {
                    remedy: None,
                    side: Side::Target,
                    message: format!(
                    "column {} of {table} is generated and cannot be imported; remove it from {}",
                    quote_ident(name),
                    input.display()
                ),
                })
            }
            _ => {}
        }
    }
    if super::insert::target_is_pgcat(&client).await? {
        return Err(Error::Precondition {
            side: Side::Target,
            message: "the target is PgCat, which cannot end the import's COPY (one sent with the \
                      extended protocol; see the PgCat part of docs/connections.md): import into the \
                      Citus coordinator itself"
                .into(),
            remedy: None,
        });
    }
    let size = std::fs::metadata(input).map(|m| m.len()).unwrap_or(0);
    let sql = copy_in(&table.quoted(), &header, Format::CsvHeader);
    execute(
        &client,
        Side::Target,
        "starting the import transaction",
        BEGIN_CSV_IMPORT,
    )
    .await?;
    progress.table_started(table, size, 0);
    let result = stream_file(&client, &sql, table, input, progress).await;
    match result {
        Ok(rows) => {
            execute(&client, Side::Target, "committing the import", "COMMIT").await?;
            progress.table_finished(table);
            Ok(CsvSummary {
                table: table.clone(),
                file: input.to_path_buf(),
                columns: header,
                rows,
                bytes: size,
                seconds: started.elapsed().as_secs_f64(),
            })
        }
        Err(e) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

async fn stream_file(
    client: &tokio_postgres::Client,
    sql: &str,
    table: &QualifiedName,
    input: &Path,
    progress: &dyn Progress,
) -> Result<u64> {
    let sink = client
        .copy_in::<_, Bytes>(sql)
        .await
        .map_err(|e| server_error(input, e))?;
    pin_mut!(sink);
    let (tx, mut rx) = mpsc::channel(2);
    let path = input.to_path_buf();
    let reader = tokio::task::spawn_blocking(move || validate_and_forward(&path, tx));
    while let Some(piece) = rx.recv().await {
        match piece {
            Piece::Data(data, rows) => {
                let len = data.len() as u64;
                sink.send(data).await.map_err(|e| server_error(input, e))?;
                progress.advance(table, len, rows);
            }
            // Dropping the sink unfinished aborts the COPY.
            Piece::Bad(message) => return Err(bad_input(input, message)),
        }
    }
    reader
        .await
        .map_err(|e| Error::Other(format!("reading {}: {e}", input.display())))?;
    sink.as_mut()
        .finish()
        .await
        .map_err(|e| server_error(input, e))
}
