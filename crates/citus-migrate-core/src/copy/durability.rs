//! What the exactly-once guarantee needs of the target's servers, checked at the start of a run, and
//! Citus's own two-phase commits finished at its start and end.
//!
//! Every decision in the bookkeeping commits with `synchronous_commit = on` (see
//! [`super::sql::DURABLE_COMMIT`]); that is only durable where the server flushes at all: a
//! node running `fsync = off` can lose committed chunks in an operating-system crash, so the run
//! warns. A chunk copied through the coordinator commits with Citus's two-phase commit: a crash of
//! the coordinator after its commit leaves the workers' parts prepared until Citus's maintenance
//! daemon recovers them (`citus.recover_2pc_interval`); the run recovers them at once instead, so that
//! their rows are visible and their locks released before anything reads or truncates the tables.

use std::time::Duration;

use tokio_postgres::Client;

use super::retry::within;
use crate::connect::query;
use crate::error::{Result, Side};
use crate::progress::Progress;

/// Warns (through `progress`) about every node of the target that runs with `fsync = off`: the
/// coordinator, and on Citus its workers.
pub(super) async fn warn_unsafe_settings(
    control: &Client,
    citus: bool,
    progress: &dyn Progress,
) -> Result<()> {
    let sql = if citus {
        "SELECT 'the coordinator' AS node WHERE NOT current_setting('fsync')::bool \
         UNION ALL \
         SELECT 'worker ' || nodename || ':' || nodeport FROM run_command_on_workers('SHOW fsync') \
         WHERE success AND result = 'off'"
    } else {
        "SELECT 'the target server' WHERE NOT current_setting('fsync')::bool"
    };
    let rows = query(control, Side::Target, "reading the fsync setting", sql, &[]).await?;
    let nodes: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    if !nodes.is_empty() {
        progress.message(&format!(
            "warning: fsync = off on {}: a crash of the machine can lose chunks reported committed, \
             which a resumed copy would then miss (verify would say so)",
            nodes.join(", ")
        ));
    }
    Ok(())
}

/// Finishes Citus's two-phase commits left by a crash (`recover_prepared_transactions()`), under the
/// watchdog; says how many to `progress` when given.
pub(super) async fn recover_citus_commits(
    control: &Client,
    stall: Duration,
    progress: Option<&dyn Progress>,
) -> Result<()> {
    let what = "recovering Citus's prepared transactions";
    let sql = "SELECT recover_prepared_transactions()::int8";
    let rows = within(
        stall,
        Side::Target,
        what,
        query(control, Side::Target, what, sql, &[]),
    )
    .await?;
    let recovered: i64 = rows.first().map_or(0, |r| r.get(0));
    if let Some(progress) = progress.filter(|_| recovered > 0) {
        progress.message(&format!(
            "finished {recovered} of Citus's two-phase commit(s) left by an interrupted run"
        ));
    }
    Ok(())
}
