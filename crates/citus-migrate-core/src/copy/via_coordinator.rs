//! A chunk through the target's front door (the Citus coordinator, or a plain PostgreSQL server): the
//! bytes of the source's `COPY … TO STDOUT` go to the target's `COPY … FROM STDIN` without decoding
//! rows, regrouped into large messages, in one target transaction that the chunk's decision commits.
//! Memory stays bounded: one batch being filled plus what the two connections' bounded channels hold.
//! Where the target cannot take a COPY (PgCat), the rows go as INSERT statements instead
//! ([`super::insert`]), in the same transaction.

use bytes::{Bytes, BytesMut};
use futures::{pin_mut, SinkExt};
use tokio_postgres::Client;

use super::job::{ChunkAttempt, Outcome};
use super::retry::{next_row, watched_db, Failure};
use super::shard_route::BinaryTuples;
use crate::connect::execute;
use crate::error::{Error, Side};

/// Size of the CopyData messages sent to the target.
const BATCH_BYTES: usize = 1 << 20;

/// Copies the chunk in one transaction on `target`, which the chunk's decision commits.
pub(super) async fn copy_chunk(
    at: &ChunkAttempt<'_>,
    source: &Client,
    target: &Client,
) -> Result<Outcome, Failure> {
    execute(
        target,
        Side::Target,
        "starting the chunk transaction",
        at.begin,
    )
    .await?;
    let (rows, bytes) = if at.job.inserts {
        super::insert::pump(at, source, target).await?
    } else {
        pump(at, source, target).await?
    };
    at.decide(target, rows, bytes, None).await
}

/// Runs the chunk's `COPY … TO STDOUT` on `source` and feeds its output to the `COPY … FROM STDIN` on
/// `target`, reporting every batch sent; returns the rows and bytes moved. The COPY sink is dropped
/// before this returns, so the target can COMMIT right after (needed behind PgBouncer: the COPY
/// statement is prepared and closed inside the transaction).
async fn pump(
    at: &ChunkAttempt<'_>,
    source: &Client,
    target: &Client,
) -> Result<(u64, u64), Failure> {
    let stall = at.stall;
    let job = at.job;
    let out = at.copy_out(source).await?;
    pin_mut!(out);
    let sink = watched_db(
        stall,
        Side::Target,
        "starting COPY FROM STDIN",
        target.copy_in::<_, Bytes>(&job.copy_in(&job.name.quoted())),
    )
    .await?;
    pin_mut!(sink);

    let (mut rows, mut bytes) = (0u64, 0u64);
    let mut batch = BytesMut::with_capacity(BATCH_BYTES);
    let mut batch_rows = 0u64;
    let mut tuples = BinaryTuples::default();
    loop {
        let data = next_row(&mut out, stall).await?;
        let last = data.is_none();
        // A message at least as large as a batch (a large row) is sent as it is, in pieces of a
        // batch's size, after what was batched before it: copied into the batch and then whole into
        // the connection's write buffer, it was held three times (a 50 MB value peaked at 165 MB).
        // COPY's input may be cut anywhere between CopyData messages.
        let mut large = None;
        if let Some(d) = data {
            if job.binary {
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
                watched_db(stall, Side::Target, "sending COPY data", sink.send(piece)).await?;
            }
            bytes += len;
            rows += batch_rows;
            at.moved(len, batch_rows)?;
            batch_rows = 0;
            if batch.capacity() < BATCH_BYTES {
                batch.reserve(BATCH_BYTES);
            }
        }
        if last {
            break;
        }
    }
    let accepted = watched_db(
        stall,
        Side::Target,
        "finishing COPY FROM STDIN",
        sink.as_mut().finish(),
    )
    .await?;
    if accepted != rows {
        return Err(Failure::from(Error::RowCountMismatch {
            side: Side::Target,
            what: "COPY".into(),
            accepted,
            sent: rows,
        }));
    }
    Ok((rows, bytes))
}
