//! A source read from a streaming hot standby: waiting until the standby has replayed what its primary
//! has written, so that a copy from the standby misses nothing the primary had committed when the run
//! started. The primary is only asked for its current WAL position and its system identifier.

use std::time::{Duration, Instant};

use tokio_postgres::types::Type;
use tokio_postgres::Client;

use crate::connect::{connect, query};
use crate::conninfo::ConnInfo;
use crate::error::{Error, Result, Side, TimeoutKind};

const SQL_SYSTEM_ID: &str = "SELECT system_identifier::text FROM pg_control_system()";

/// True when the server is in recovery (a standby).
pub(crate) async fn in_recovery(client: &Client) -> Result<bool> {
    let rows = query(
        client,
        Side::Source,
        "asking whether the source is a standby",
        "SELECT pg_is_in_recovery()",
        &[],
    )
    .await?;
    Ok(rows[0].get(0))
}

/// Waits until the standby behind `standby` has replayed its primary's WAL up to the primary's current
/// position, at most `timeout`; returns that position. Refuses a primary that is itself in recovery
/// or belongs to another cluster (different system identifier).
pub(crate) async fn wait_for_primary(
    standby: &Client,
    primary: &ConnInfo,
    timeout: Duration,
) -> Result<String> {
    let p = connect(primary).await?;
    if in_recovery(&p).await? {
        return Err(Error::Precondition {
            side: Side::Source,
            message: "the server given as the source's primary is itself in recovery (a standby)"
                .into(),
            remedy: None,
        });
    }
    let ids = futures::try_join!(
        system_id(standby, "the source standby"),
        system_id(&p, "the source primary")
    )?;
    if let (Some(s), Some(pr)) = ids {
        if s != pr {
            return Err(Error::Precondition {
                side: Side::Source,
                message: format!(
                    "the server given as the source's primary is not the source standby's primary \
                     (system identifiers {pr} and {s} differ)"
                ),
                remedy: None,
            });
        }
    }
    let lsn: String = query(
        &p,
        Side::Source,
        "reading the source primary's WAL position",
        // The insert position: with asynchronous commit a committed transaction's record may still sit
        // in the WAL buffers, past the write position pg_current_wal_lsn() reports.
        "SELECT pg_current_wal_insert_lsn()::text",
        &[],
    )
    .await?[0]
        .get(0);
    let started = Instant::now();
    loop {
        let replayed: bool = query(
            standby,
            Side::Source,
            "reading the source standby's replay position",
            "SELECT COALESCE(pg_last_wal_replay_lsn() >= $1::text::pg_lsn, false)",
            &[(&lsn, Type::TEXT)],
        )
        .await?[0]
            .get(0);
        if replayed {
            return Ok(lsn);
        }
        if started.elapsed() >= timeout {
            return Err(Error::Timeout {
                side: Side::Source,
                what: format!("waiting for the standby to replay its primary's WAL up to {lsn}"),
                after: timeout,
                kind: TimeoutKind::NoProgress,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The cluster's system identifier, or `None` where the user may not read it.
async fn system_id(client: &Client, what: &str) -> Result<Option<String>> {
    match query(
        client,
        Side::Source,
        &format!("reading the system identifier of {what}"),
        SQL_SYSTEM_ID,
        &[],
    )
    .await
    {
        Ok(rows) => Ok(Some(rows[0].get(0))),
        Err(e) if e.sqlstate().is_some_and(|c| c.code() == "42501") => Ok(None),
        Err(e) => Err(e),
    }
}
