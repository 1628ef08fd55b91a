//! Which failures of a chunk are worth another attempt (the backend was terminated, the connection
//! dropped, a stall), and the bounded back-off between attempts. A retried chunk is safe: its target
//! transaction either rolled back or committed together with its progress row, which is checked first.
//!
//! The watchdog lives here too: a peer that stops answering becomes a failure (worth a retry), or
//! before any data moves an error, instead of a hang.

use std::future::Future;
use std::time::Duration;

use futures::{FutureExt, Stream, StreamExt};

use crate::error::{Error, Result, Side, TimeoutKind};

/// A failed attempt at a chunk.
#[derive(Debug)]
pub(super) struct Failure {
    pub error: Error,
    pub retryable: bool,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let retryable = is_transient(&error);
        Failure { error, retryable }
    }
}

impl Failure {
    /// No progress within the watchdog's time: the peer is dead or stuck; worth another attempt.
    pub fn stalled(error: Error) -> Self {
        Failure {
            error,
            retryable: true,
        }
    }

    /// Another stream failed or the caller gave up: stop, without retrying.
    pub fn cancelled() -> Self {
        Failure {
            error: Error::Other("stopped because the copy was cancelled".into()),
            retryable: false,
        }
    }
}

/// True for errors that say nothing about the data: a terminated backend, a lost connection, a server
/// starting or shutting down, a serialization failure or deadlock, no free connection slot.
pub(super) fn is_transient(e: &Error) -> bool {
    match e {
        Error::Db { source, .. }
        | Error::Connect {
            source: Some(source),
            ..
        } => match source.code() {
            Some(code) => {
                let c = code.code();
                c.starts_with("08")
                    || matches!(c, "57P01" | "57P02" | "57P03" | "40001" | "40P01" | "53300")
            }
            // No SQLSTATE: the connection closed or an I/O error happened.
            None => true,
        },
        Error::Connect { source: None, .. } => true,
        _ => false,
    }
}

/// The pause before attempt `attempt` (1-based): 0.5 s, 1 s, 2 s, … up to 10 s.
pub(super) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((500u64 << attempt.saturating_sub(1).min(5)).min(10_000))
}

/// `fut`, a step of a chunk, under the watchdog: no answer within `stall` is a failure worth retrying.
pub(super) async fn watched<T>(
    stall: Duration,
    side: Side,
    what: &str,
    fut: impl Future<Output = Result<T>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(stall, fut).await {
        Err(_) => Err(Failure::stalled(Error::Timeout {
            side,
            what: what.to_string(),
            after: stall,
            kind: TimeoutKind::NoProgress,
        })),
        Ok(r) => r.map_err(Failure::from),
    }
}

/// [`watched`] for a call of the driver: its error is a database error on `side`, while `what`.
pub(super) async fn watched_db<T>(
    stall: Duration,
    side: Side,
    what: &str,
    fut: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, Failure> {
    watched(
        stall,
        side,
        what,
        fut.map(|r| r.map_err(|e| Error::db(side, what, e))),
    )
    .await
}

/// The next message of a COPY TO STDOUT stream, under the watchdog; its timer is only armed when no
/// message is ready (most are: the connection reads many rows at once), which keeps timers off the
/// per-row path.
pub(super) async fn next_row<S, T>(
    out: &mut std::pin::Pin<&mut S>,
    stall: Duration,
) -> Result<Option<T>, Failure>
where
    S: Stream<Item = Result<T, tokio_postgres::Error>>,
{
    match out.next().now_or_never() {
        Some(next) => next
            .transpose()
            .map_err(|e| Failure::from(Error::db(Side::Source, "reading COPY data", e))),
        None => {
            watched_db(
                stall,
                Side::Source,
                "reading COPY data",
                out.next().map(Option::transpose),
            )
            .await
        }
    }
}

/// A step before any data moves, under the watchdog: a lock wait or a dead peer becomes an error, not
/// a hang.
pub(super) async fn within<T>(
    stall: Duration,
    side: Side,
    what: &str,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(stall, fut).await.unwrap_or_else(|_| {
        Err(Error::Timeout {
            side,
            what: what.to_string(),
            after: stall,
            kind: TimeoutKind::NoAnswer,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_errors_are_not_retried() {
        assert!(!is_transient(&Error::Other("x".into())));
        assert!(!Failure::from(Error::usage("bad")).retryable);
        assert!(Failure::stalled(Error::Other("stall".into())).retryable);
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(3), Duration::from_millis(2000));
        assert_eq!(backoff(30), Duration::from_millis(10_000));
    }
}
