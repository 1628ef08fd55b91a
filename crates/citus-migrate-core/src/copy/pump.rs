//! Moving one COPY stream: the bytes of the source's `COPY … TO STDOUT` go to the target's
//! `COPY … FROM STDIN` without decoding rows, regrouped into large messages. Memory stays bounded: one
//! batch being filled plus what the two connections' bounded channels hold. A watchdog turns a peer that
//! stops making progress into an error instead of a hang.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{pin_mut, FutureExt, SinkExt, Stream, StreamExt};
use tokio_postgres::Client;

use crate::copy::retry::Failure;
use crate::error::{Error, Side};

/// Size of the CopyData messages sent to the target.
pub const BATCH_BYTES: usize = 1 << 20;

/// What one stream moved.
#[derive(Debug, Clone, Copy, Default)]
pub struct Moved {
    pub rows: u64,
    pub bytes: u64,
}

fn stalled(side: Side, what: &str, after: Duration) -> Failure {
    Failure::stalled(Error::Other(format!(
        "{side}: no progress for {}s while {what}; the connection looks dead",
        after.as_secs()
    )))
}

/// The next message of a COPY TO STDOUT stream; the watchdog's timer is only armed when no message is
/// ready (most are: the connection reads many rows at once), which keeps timers off the per-row path.
pub async fn next_row<S, T>(
    out: &mut std::pin::Pin<&mut S>,
    stall: Duration,
) -> Result<Option<T>, Failure>
where
    S: Stream<Item = Result<T, tokio_postgres::Error>>,
{
    let next = match out.next().now_or_never() {
        Some(n) => n,
        None => tokio::time::timeout(stall, out.next())
            .await
            .map_err(|_| stalled(Side::Source, "reading COPY data", stall))?,
    };
    next.transpose()
        .map_err(|e| Failure::from(Error::db(Side::Source, "reading COPY data", e)))
}

/// Runs `copy_out_sql` on `source` and feeds its output to `copy_in_sql` on `target`. `on_batch` is
/// called with the bytes and rows of every batch sent; an error from it stops the stream. The caller owns the transactions; the COPY
/// sink is dropped before this returns, so the target can COMMIT right after (needed behind PgBouncer:
/// the COPY statement is prepared and closed inside the transaction).
pub async fn pump(
    source: &Client,
    copy_out_sql: &str,
    target: &Client,
    copy_in_sql: &str,
    binary: bool,
    stall: Duration,
    mut on_batch: impl FnMut(u64, u64) -> Result<(), Failure>,
) -> Result<Moved, Failure> {
    let db = |side: Side, what: &'static str| move |e| Failure::from(Error::db(side, what, e));
    let out = tokio::time::timeout(stall, source.copy_out(copy_out_sql))
        .await
        .map_err(|_| stalled(Side::Source, "starting COPY TO STDOUT", stall))?
        .map_err(db(Side::Source, "COPY TO STDOUT"))?;
    pin_mut!(out);
    let sink = tokio::time::timeout(stall, target.copy_in::<_, Bytes>(copy_in_sql))
        .await
        .map_err(|_| stalled(Side::Target, "starting COPY FROM STDIN", stall))?
        .map_err(db(Side::Target, "COPY FROM STDIN"))?;
    pin_mut!(sink);

    let mut moved = Moved::default();
    let mut batch = BytesMut::with_capacity(BATCH_BYTES);
    let mut batch_rows = 0u64;
    let mut tuples = crate::copy::shard_route::BinaryTuples::default();
    loop {
        let data = next_row(&mut out, stall).await?;
        let last = data.is_none();
        // A message at least as large as a batch (a large row) is sent as it is, in pieces of a
        // batch's size, after what was batched before it: copied into the batch and then whole into
        // the connection's write buffer, it was held three times (a 50 MB value peaked at 165 MB).
        // COPY's input may be cut anywhere between CopyData messages.
        let mut large = None;
        if let Some(d) = data {
            if binary {
                // Counted tuple by tuple: the header and the trailer are not rows.
                let mut rest = &d[..];
                while tuples
                    .next(&mut rest, 0)
                    .map_err(|why| Failure::from(Error::Other(format!("source: {why}"))))?
                    .is_some()
                {
                    batch_rows += 1;
                }
            } else {
                // The server sends every row in a CopyData message of its own.
                batch_rows += 1;
            }
            if d.len() >= BATCH_BYTES {
                large = Some(d);
            } else {
                batch.extend_from_slice(&d);
            }
        }
        if batch.len() >= BATCH_BYTES || large.is_some() || (last && !batch.is_empty()) {
            let mut pieces = vec![batch.split().freeze()];
            if let Some(d) = large {
                pieces.extend(
                    (0..d.len())
                        .step_by(BATCH_BYTES)
                        .map(|at| d.slice(at..(at + BATCH_BYTES).min(d.len()))),
                );
            }
            let len: u64 = pieces.iter().map(|p| p.len() as u64).sum();
            for piece in pieces.into_iter().filter(|p| !p.is_empty()) {
                tokio::time::timeout(stall, sink.send(piece))
                    .await
                    .map_err(|_| stalled(Side::Target, "sending COPY data", stall))?
                    .map_err(db(Side::Target, "sending COPY data"))?;
            }
            moved.bytes += len;
            moved.rows += batch_rows;
            on_batch(len, batch_rows)?;
            batch_rows = 0;
            if batch.capacity() < BATCH_BYTES {
                batch.reserve(BATCH_BYTES);
            }
        }
        if last {
            break;
        }
    }
    let rows = tokio::time::timeout(stall, sink.as_mut().finish())
        .await
        .map_err(|_| stalled(Side::Target, "finishing COPY FROM STDIN", stall))?
        .map_err(db(Side::Target, "COPY FROM STDIN"))?;
    if rows != moved.rows {
        return Err(Failure::from(Error::Other(format!(
            "target: COPY reported {rows} rows but {} rows were sent",
            moved.rows
        ))));
    }
    Ok(moved)
}
