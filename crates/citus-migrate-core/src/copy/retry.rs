//! Which failures of a chunk are worth another attempt (the backend was terminated, the connection
//! dropped, a stall), and the bounded back-off between attempts. A retried chunk is safe: its target
//! transaction either rolled back or committed together with its progress row, which is checked first.

use std::time::Duration;

use crate::error::Error;

/// A failed attempt at a chunk.
#[derive(Debug)]
pub struct Failure {
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
}

/// True for errors that say nothing about the data: a terminated backend, a lost connection, a server
/// starting or shutting down, a serialization failure or deadlock, no free connection slot.
pub fn is_transient(e: &Error) -> bool {
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
pub fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((500u64 << attempt.saturating_sub(1).min(5)).min(10_000))
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
