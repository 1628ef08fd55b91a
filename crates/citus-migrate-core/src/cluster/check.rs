//! The health checks a Citus operator runs, each on its own so that one failing (a worker down) does
//! not hide the others: workers active and reachable from the coordinator, metadata synced, reference
//! tables on every node, co-location groups consistent, no prepared transaction left behind, no shard
//! over a size, no table skewed over the nodes. A check whose query fails fails, with the error.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_postgres::types::Type;

use super::{coordinator, node_list, status};
use crate::connect::query;
use crate::conninfo::ConnInfo;
use crate::error::{Error, Result, Side};
use crate::util::human_bytes;

const SQL_REACHABLE: &str = include_str!("../sql/cluster_check_reachable.sql");
const SQL_PREPARED: &str = include_str!("../sql/cluster_check_prepared.sql");
const SQL_SHARD_SIZES: &str = include_str!("../sql/cluster_check_shard_sizes.sql");

/// The thresholds of the checks.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// A shard larger than this fails `shard_sizes`.
    pub max_shard_bytes: i64,
    /// A distributed table whose bytes per node reach this `max / mean` fails `skew`…
    pub max_skew: f64,
    /// …when it holds at least this many bytes (small tables are never balanced, nor need to be).
    pub skew_min_bytes: i64,
    /// A Citus prepared transaction older than this is orphaned (Citus resolves its own within a
    /// minute).
    pub prepared_age: Duration,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            max_shard_bytes: 50 << 30,
            max_skew: 2.0,
            skew_min_bytes: 1 << 30,
            prepared_age: Duration::from_secs(300),
        }
    }
}

/// Which check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CheckName {
    WorkersActive,
    WorkersReachable,
    MetadataSynced,
    ReferenceTables,
    Colocation,
    PreparedTransactions,
    ShardSizes,
    Skew,
}

impl CheckName {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckName::WorkersActive => "workers_active",
            CheckName::WorkersReachable => "workers_reachable",
            CheckName::MetadataSynced => "metadata_synced",
            CheckName::ReferenceTables => "reference_tables",
            CheckName::Colocation => "colocation",
            CheckName::PreparedTransactions => "prepared_transactions",
            CheckName::ShardSizes => "shard_sizes",
            CheckName::Skew => "skew",
        }
    }
}

/// One check's outcome: passed when `problems` is empty.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct Check {
    pub name: CheckName,
    pub passed: bool,
    /// What was checked, in a few words.
    pub what: String,
    /// Each problem found, naming the node or table.
    pub problems: Vec<String>,
}

/// Every check's outcome.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct CheckReport {
    pub passed: bool,
    pub checks: Vec<Check>,
}

impl CheckReport {
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Other(e.to_string()))
    }

    /// The checks that failed.
    pub fn failed(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.passed)
    }
}

/// Runs every check on the coordinator.
pub async fn check(info: &ConnInfo, opts: &CheckOptions) -> Result<CheckReport> {
    let client = coordinator(info).await?;
    let mut checks = Vec::new();
    let nodes = node_list(&client).await?;
    let workers: Vec<_> = nodes
        .iter()
        .filter(|n| !n.is_coordinator && n.role == "primary")
        .collect();
    checks.push(Check {
        name: CheckName::WorkersActive,
        passed: true,
        what: format!("{} primary worker(s) active", workers.len()),
        problems: workers
            .iter()
            .filter(|n| !n.active)
            .map(|n| format!("worker {} is inactive in pg_dist_node", n.address))
            .collect(),
    });
    checks.push(Check {
        name: CheckName::MetadataSynced,
        passed: true,
        what: "metadata synced to every worker".into(),
        problems: workers
            .iter()
            .filter(|n| n.active && !(n.has_metadata && n.metadata_synced))
            .map(|n| {
                format!(
                    "worker {} has {} (run SELECT start_metadata_sync_to_all_nodes())",
                    n.address,
                    if n.has_metadata {
                        "metadata not yet synced"
                    } else {
                        "no metadata"
                    }
                )
            })
            .collect(),
    });
    checks.push(
        run(
            CheckName::WorkersReachable,
            "every worker answers the coordinator",
            || async {
                let rows = query(
                    &client,
                    Side::Target,
                    "checking the workers' connections",
                    SQL_REACHABLE,
                    &[],
                )
                .await?;
                Ok(rows
                    .iter()
                    .filter(|r| r.get::<_, Option<bool>>("reachable") == Some(false))
                    .map(|r| {
                        format!(
                            "worker {} is not reachable from the coordinator",
                            r.get::<_, String>("node")
                        )
                    })
                    .collect())
            },
        )
        .await,
    );
    checks.push(
        run(CheckName::ReferenceTables, "reference tables on every node", || async {
            Ok(status::reference_tables(&client)
                .await?
                .into_iter()
                .filter(|r| !r.missing_on.is_empty())
                .map(|r| {
                    format!(
                        "reference table {} is missing on {} (a rebalance copies it there, or SELECT replicate_reference_tables())",
                        r.table,
                        r.missing_on.join(", ")
                    )
                })
                .collect())
        })
        .await,
    );
    checks.push(
        run(
            CheckName::Colocation,
            "co-located shards on the same nodes",
            || async {
                Ok(status::colocation_groups(&client)
                    .await?
                    .into_iter()
                    .flat_map(|g| {
                        let id = g.colocation_id;
                        g.inconsistent
                            .into_iter()
                            .map(move |p| format!("co-location group {id}: {p}"))
                    })
                    .collect())
            },
        )
        .await,
    );
    let age = opts.prepared_age.as_secs() as i64;
    checks.push(
        run(
            CheckName::PreparedTransactions,
            &format!("no Citus prepared transaction older than {}s", age),
            || async {
                let rows = query(&client, Side::Target, "counting prepared transactions", SQL_PREPARED, &[(&age, Type::INT8)]).await?;
                Ok(rows
                    .iter()
                    .filter_map(|r| {
                        let node: String = r.get("node");
                        let result: Option<String> = r.get("result");
                        match (r.get::<_, bool>("success"), result.as_deref()) {
                            (true, Some("0")) => None,
                            (true, n) => Some(format!(
                                "{node} holds {} orphaned prepared transaction(s) (SELECT recover_prepared_transactions() on the coordinator resolves them)",
                                n.unwrap_or("?")
                            )),
                            (false, why) => Some(format!("{node} cannot be asked: {}", why.unwrap_or("no answer"))),
                        }
                    })
                    .collect())
            },
        )
        .await,
    );
    let max = opts.max_shard_bytes;
    checks.push(
        run(
            CheckName::ShardSizes,
            &format!("no shard over {}", human_bytes(max)),
            || async {
                let rows = query(&client, Side::Target, "reading the shard sizes", SQL_SHARD_SIZES, &[(&max, Type::INT8)]).await?;
                Ok(rows
                    .iter()
                    .map(|r| {
                        format!(
                            "shard {} of {} on {} holds {} (split it, or distribute with more shards)",
                            r.get::<_, i64>("shard_id"),
                            r.get::<_, String>("table_name"),
                            r.get::<_, String>("node"),
                            human_bytes(r.get::<_, i64>("bytes"))
                        )
                    })
                    .collect())
            },
        )
        .await,
    );
    checks.push(
        run(
            CheckName::Skew,
            &format!(
                "no table of {} or more with max/mean bytes per node at {} or above",
                human_bytes(opts.skew_min_bytes),
                opts.max_skew
            ),
            || async {
                let s = status::read(&client).await?;
                Ok(s.tables
                    .iter()
                    .filter(|t| {
                        t.kind != "reference"
                            && t.bytes >= opts.skew_min_bytes
                            && t.skew >= opts.max_skew
                    })
                    .map(|t| {
                        format!(
                            "{} is skewed: {:.2}x the mean bytes on its fullest node (rebalance it)",
                            t.table, t.skew
                        )
                    })
                    .collect())
            },
        )
        .await,
    );
    for c in &mut checks {
        c.passed = c.problems.is_empty();
    }
    Ok(CheckReport {
        passed: checks.iter().all(|c| c.passed),
        checks,
    })
}

/// Runs one check; a query that fails makes it fail, with the error as its problem.
async fn run<F, Fut>(name: CheckName, what: &str, f: F) -> Check
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<Vec<String>>>,
{
    let problems = match f().await {
        Ok(p) => p,
        Err(e) => vec![format!("cannot check: {e}")],
    };
    Check {
        name,
        passed: problems.is_empty(),
        what: what.to_string(),
        problems,
    }
}
