//! Rebalancing with Citus's rebalancer: the plan first (`get_rebalance_table_shards_plan`), the
//! replica-identity check up front (the one Citus makes only when it gets there), then Citus's
//! background rebalance (`citus_rebalance_start`) followed until it is done, every move reported
//! through [`Progress`], a move that fails or is retried with Citus's own error.
//!
//! A rebalance of one table runs `rebalance_table_shards` in the session instead (Citus's background
//! rebalance knows no table), followed the same way from a second connection.

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_postgres::types::Type;
use tokio_postgres::Client;

use super::{coordinator, NodeAddress, TransferMode};
use crate::connect::{self, query};
use crate::conninfo::ConnInfo;
use crate::error::{Error, Remedy, Result, Side};
use crate::ident::QualifiedName;
use crate::progress::Progress;

const SQL_PLAN: &str = include_str!("../sql/cluster_rebalance_plan.sql");
const SQL_REPLICA_IDENTITY: &str = include_str!("../sql/cluster_replica_identity.sql");
const SQL_JOB: &str = include_str!("../sql/cluster_job.sql");
const SQL_MOVES: &str = include_str!("../sql/cluster_moves.sql");
const SQL_START: &str = "SELECT citus_rebalance_start(rebalance_strategy => $1::text::name, \
     shard_transfer_mode => $2::text::citus.shard_transfer_mode)::int8";
const SQL_REBALANCE_TABLE: &str = "SELECT rebalance_table_shards(relation => $1::text::regclass, \
     rebalance_strategy => $2::text::name, shard_transfer_mode => $3::text::citus.shard_transfer_mode)";

/// What to rebalance and how.
#[derive(Debug, Clone)]
pub struct RebalanceOptions {
    /// Only this table (and the tables co-located with it), as `schema.table` in SQL spelling;
    /// `None`: every co-location group, in the background.
    pub table: Option<String>,
    /// A rebalance strategy of `pg_dist_rebalance_strategy` (`None`: the default one).
    pub strategy: Option<String>,
    pub transfer_mode: TransferMode,
    /// Plan and check only.
    pub dry_run: bool,
    /// How often the progress is read.
    pub poll: Duration,
}

impl Default for RebalanceOptions {
    fn default() -> Self {
        RebalanceOptions {
            table: None,
            strategy: None,
            transfer_mode: TransferMode::Auto,
            dry_run: false,
            poll: Duration::from_millis(500),
        }
    }
}

/// The moves Citus's rebalancer would make.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct RebalancePlan {
    pub moves: Vec<PlannedMove>,
    pub bytes: i64,
}

/// One shard move (its co-located shards move with it).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct PlannedMove {
    pub table: QualifiedName,
    pub shard_id: i64,
    pub bytes: i64,
    pub source: NodeAddress,
    pub target: NodeAddress,
}

/// How a rebalance ended.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct RebalanceSummary {
    pub plan: RebalancePlan,
    /// The background job (none for a dry run, a one-table rebalance, or when nothing was to move).
    pub job_id: Option<i64>,
    /// `planned` (dry run), `balanced` (nothing to move), or the job's final state (`finished`).
    pub state: String,
    /// Background tasks done (shard moves, and the reference tables' copy to new nodes).
    pub tasks_done: i64,
    /// Tasks that failed and were retried, with Citus's message.
    pub retried: Vec<String>,
}

impl RebalanceSummary {
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Other(e.to_string()))
    }
}

/// Plans, checks, starts and follows a rebalance (see the module's documentation).
pub async fn rebalance(
    info: &ConnInfo,
    opts: &RebalanceOptions,
    progress: &dyn Progress,
) -> Result<RebalanceSummary> {
    let client = coordinator(info).await?;
    progress.step("plan");
    let plan = plan(&client, opts).await?;
    let shard_ids: Vec<i64> = plan.moves.iter().map(|m| m.shard_id).collect();
    check_replica_identity(&client, &shard_ids, opts.transfer_mode).await?;
    let summary = |state: &str| RebalanceSummary {
        plan: plan.clone(),
        job_id: None,
        state: state.into(),
        tasks_done: 0,
        retried: Vec::new(),
    };
    if opts.dry_run {
        return Ok(summary("planned"));
    }
    if let Some(table) = &opts.table {
        if plan.moves.is_empty() {
            return Ok(summary("balanced"));
        }
        progress.step("rebalance");
        let mode = opts.transfer_mode.as_sql();
        let params: [(&(dyn tokio_postgres::types::ToSql + Sync), Type); 3] = [
            (table, Type::TEXT),
            (&opts.strategy, Type::TEXT),
            (&mode, Type::TEXT),
        ];
        run_following_moves(
            info,
            &client,
            &format!("rebalancing {table}"),
            SQL_REBALANCE_TABLE,
            &params,
            progress,
            opts.poll,
        )
        .await?;
        let mut s = summary("finished");
        s.tasks_done = plan.moves.len() as i64;
        return Ok(s);
    }
    let Some(job_id) = start(&client, opts).await? else {
        return Ok(summary("balanced"));
    };
    progress.step(&format!("rebalance job {job_id}"));
    let outcome = follow(&client, job_id, progress, opts.poll).await?;
    Ok(RebalanceSummary {
        plan,
        job_id: Some(job_id),
        state: outcome.state,
        tasks_done: outcome.done,
        retried: outcome.retried,
    })
}

/// The moves `get_rebalance_table_shards_plan` lists for these options.
pub async fn plan(client: &Client, opts: &RebalanceOptions) -> Result<RebalancePlan> {
    if let Some(t) = &opts.table {
        let found = query(
            client,
            Side::Target,
            "looking up the table",
            "SELECT to_regclass($1::text) IS NOT NULL AND EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass($1::text))",
            &[(t, Type::TEXT)],
        )
        .await?;
        if !found.first().is_some_and(|r| r.get::<_, bool>(0)) {
            return Err(Error::usage(format!(
                "target: {t} is not a Citus table of this database (write schema.table, double-quoting names with capitals)"
            )));
        }
    }
    let drain_only = false;
    let rows = query(
        client,
        Side::Target,
        "planning the rebalance (get_rebalance_table_shards_plan)",
        SQL_PLAN,
        &[
            (&opts.table, Type::TEXT),
            (&opts.strategy, Type::TEXT),
            (&drain_only, Type::BOOL),
        ],
    )
    .await?;
    let moves: Vec<PlannedMove> = rows
        .iter()
        .map(|r| PlannedMove {
            table: QualifiedName::new(r.get::<_, String>("schema"), r.get::<_, String>("name")),
            shard_id: r.get("shard_id"),
            bytes: r.get("bytes"),
            source: NodeAddress {
                host: r.get("source_host"),
                port: r.get::<_, i64>("source_port") as u16,
            },
            target: NodeAddress {
                host: r.get("target_host"),
                port: r.get::<_, i64>("target_port") as u16,
            },
        })
        .collect();
    Ok(RebalancePlan {
        bytes: moves.iter().map(|m| m.bytes).sum(),
        moves,
    })
}

/// Refuses, before anything moves, when a logical move would fail on a table without a replica
/// identity: every table co-located with `shard_ids`, and the reference tables when a node lacks
/// them. Nothing to check for `block_writes` and `force_logical`.
pub async fn check_replica_identity(
    client: &Client,
    shard_ids: &[i64],
    mode: TransferMode,
) -> Result<()> {
    if mode != TransferMode::Auto {
        return Ok(());
    }
    let ids = shard_ids.to_vec();
    let rows = query(
        client,
        Side::Target,
        "checking the replica identity of the tables to move",
        SQL_REPLICA_IDENTITY,
        &[(&ids, Type::INT8_ARRAY)],
    )
    .await?;
    let tables: Vec<QualifiedName> = rows
        .iter()
        .map(|r| QualifiedName::new(r.get::<_, String>("schema"), r.get::<_, String>("name")))
        .collect();
    if tables.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
    let fixes: Vec<String> = tables
        .iter()
        .map(|t| format!("ALTER TABLE {} REPLICA IDENTITY FULL;", t.quoted()))
        .collect();
    Err(Error::Precondition {
        side: Side::Target,
        message: format!(
            "{} table(s) to move have no primary key or REPLICA IDENTITY, so Citus cannot move their shards with logical replication (UPDATE and DELETE would fail during the move): {}. Nothing was moved. Fix: add a primary key, or run `{}`",
            tables.len(),
            names.join(", "),
            fixes.join(" ")
        ),
        remedy: Some(Remedy::ShardTransferMode),
    })
}

/// Starts Citus's background rebalance; `None` when there is nothing to move.
pub async fn start(client: &Client, opts: &RebalanceOptions) -> Result<Option<i64>> {
    let mode = opts.transfer_mode.as_sql();
    let rows = query(
        client,
        Side::Target,
        "starting the rebalance (citus_rebalance_start)",
        SQL_START,
        &[(&opts.strategy, Type::TEXT), (&mode, Type::TEXT)],
    )
    .await?;
    Ok(rows.first().and_then(|r| r.get::<_, Option<i64>>(0)))
}

/// Where a followed job ended.
#[derive(Debug, Clone)]
pub struct JobOutcome {
    pub state: String,
    pub tasks: i64,
    pub done: i64,
    pub retried: Vec<String>,
}

/// Follows background job `job_id` until it finishes, reporting the moves through `progress` and every
/// failed or retried task once, with Citus's message. A job that fails or is cancelled is an error
/// carrying those messages. Dropping the future leaves the job running.
pub async fn follow(
    client: &Client,
    job_id: i64,
    progress: &dyn Progress,
    poll: Duration,
) -> Result<JobOutcome> {
    let mut moves = MoveTracker::default();
    let mut reported: Vec<String> = Vec::new();
    loop {
        let rows = query(
            client,
            Side::Target,
            "reading the rebalance job",
            SQL_JOB,
            &[(&job_id, Type::INT8)],
        )
        .await?;
        let r = rows.first().ok_or_else(|| Error::Precondition {
            side: Side::Target,
            message: format!("background job {job_id} is gone from pg_dist_background_job"),
            remedy: None,
        })?;
        let state: String = r.get("state");
        let errors: Vec<String> = r.get("errors");
        for e in &errors {
            if !reported.contains(e) {
                progress.message(&format!("rebalance job {job_id}: task {e}"));
                reported.push(e.clone());
            }
        }
        moves.update(client, progress).await?;
        match state.as_str() {
            "finished" => {
                moves.finish_all(progress);
                return Ok(JobOutcome {
                    state,
                    tasks: r.get("tasks"),
                    done: r.get("done"),
                    retried: reported,
                });
            }
            "failed" | "cancelled" => {
                let failed: Vec<&String> =
                    errors.iter().filter(|e| e.starts_with("error")).collect();
                let why = match failed.is_empty() {
                    true => errors.join("; "),
                    false => failed
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join("; "),
                };
                return Err(Error::Precondition {
                    side: Side::Target,
                    message: format!(
                        "the rebalance (background job {job_id}) {state} after {} of {} task(s){}",
                        r.get::<_, i64>("done"),
                        r.get::<_, i64>("tasks"),
                        if why.is_empty() {
                            String::new()
                        } else {
                            format!(": {why}")
                        }
                    ),
                    remedy: None,
                });
            }
            _ => tokio::time::sleep(poll).await,
        }
    }
}

/// Runs one statement that moves shards in the session (`citus_drain_node`, `rebalance_table_shards`)
/// while a second connection reports the moves through `progress`.
pub(crate) async fn run_following_moves(
    info: &ConnInfo,
    client: &Client,
    context: &str,
    sql: &str,
    params: &[(&(dyn tokio_postgres::types::ToSql + Sync), Type)],
    progress: &dyn Progress,
    poll: Duration,
) -> Result<()> {
    let watcher = connect::connect(info).await?;
    let work = query(client, Side::Target, context, sql, params);
    tokio::pin!(work);
    let mut moves = MoveTracker::default();
    loop {
        tokio::select! {
            done = &mut work => {
                done?;
                moves.finish_all(progress);
                return Ok(());
            }
            _ = tokio::time::sleep(poll) => {
                // Progress is best effort: a failed read must not stop the moves.
                if let Err(e) = moves.update(&watcher, progress).await {
                    progress.message(&format!("cannot read the progress: {e}"));
                }
            }
        }
    }
}

/// Turns `get_rebalance_progress()` snapshots into `Progress` calls: a move appears (started), grows
/// (advance by the bytes arrived), disappears (finished).
#[derive(Default)]
struct MoveTracker {
    running: HashMap<i64, (QualifiedName, i64, i64)>,
}

impl MoveTracker {
    async fn update(&mut self, client: &Client, progress: &dyn Progress) -> Result<()> {
        let rows = query(
            client,
            Side::Target,
            "reading the shard moves (get_rebalance_progress)",
            SQL_MOVES,
            &[],
        )
        .await?;
        let mut now = HashMap::new();
        for r in &rows {
            let shard: i64 = r.get("shard_id");
            let table =
                QualifiedName::new(r.get::<_, String>("schema"), r.get::<_, String>("name"));
            let bytes: i64 = r.get("bytes");
            let moved: i64 = r.get::<_, i64>("moved").min(bytes);
            match self.running.remove(&shard) {
                Some((_, _, before)) => {
                    if moved > before {
                        progress.advance(&table, (moved - before) as u64, 0);
                    }
                    now.insert(shard, (table, bytes, moved.max(before)));
                }
                None => {
                    progress.table_started(&table, bytes.max(0) as u64, 0);
                    progress.advance(&table, moved.max(0) as u64, 0);
                    now.insert(shard, (table, bytes, moved.max(0)));
                }
            }
        }
        self.finish_all(progress);
        self.running = now;
        Ok(())
    }

    /// The moves no longer running are done: their remaining bytes arrived.
    fn finish_all(&mut self, progress: &dyn Progress) {
        for (_, (table, bytes, moved)) in self.running.drain() {
            if bytes > moved {
                progress.advance(&table, (bytes - moved) as u64, 0);
            }
            progress.table_finished(&table);
        }
    }
}

/// The statement that stops a background rebalance, for a front end to show.
pub const STOP_SQL: &str = "SELECT citus_rebalance_stop();";
/// The statement that shows a background rebalance, for a front end to show.
pub const STATUS_SQL: &str = "SELECT * FROM citus_rebalance_status();";
