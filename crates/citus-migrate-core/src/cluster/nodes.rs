//! Adding, draining and removing workers with Citus's functions: `citus_add_node`, `citus_drain_node`
//! (its moves followed through [`Progress`]) and `citus_remove_node`, which this module refuses while
//! the node still holds shards of distributed tables.

use serde::{Deserialize, Serialize};
use tokio_postgres::types::Type;

use super::rebalance::{check_replica_identity, run_following_moves, RebalanceOptions};
use super::{coordinator, find_node, node_list, NodeAddress};
use crate::connect::{execute, query};
use crate::conninfo::ConnInfo;
use crate::error::{Error, Remedy, Result, Side};
use crate::progress::Progress;

const SQL_ADD: &str = "SELECT citus_add_node($1::text, $2::int4)::int8";
const SQL_DRAIN: &str = "SELECT citus_drain_node($1::text, $2::int4, \
     shard_transfer_mode => $3::text::citus.shard_transfer_mode, rebalance_strategy => $4::text::name)";
const SQL_REMOVE: &str = "SELECT citus_remove_node($1::text, $2::int4)";
const SQL_CLEANUP: &str = "CALL citus_cleanup_orphaned_resources()";
const SQL_LEFT_TO_CLEAN: &str =
    "SELECT count(*)::int8 FROM pg_dist_cleanup WHERE node_group_id = $1::int4";
const SQL_SHARDS_ON_NODE: &str = "SELECT pl.shardid::int8 FROM pg_dist_placement pl \
     JOIN pg_dist_shard s ON s.shardid = pl.shardid \
     JOIN pg_dist_partition p ON p.logicalrelid = s.logicalrelid \
     WHERE pl.groupid = $1::int4 AND NOT (p.partmethod = 'n' AND p.repmodel = 't')";

/// A node that was added.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct AddedNode {
    pub node_id: i64,
    pub address: NodeAddress,
}

/// Adds a worker (`citus_add_node`). It holds nothing until a rebalance moves shards (and copies the
/// reference tables) there.
pub async fn add_node(info: &ConnInfo, addr: &NodeAddress) -> Result<AddedNode> {
    let client = coordinator(info).await?;
    if node_list(&client).await?.iter().any(|n| &n.address == addr) {
        return Err(Error::Precondition {
            side: Side::Target,
            message: format!("{addr} is already a node of the cluster"),
            remedy: None,
        });
    }
    let port = i32::from(addr.port);
    let rows = query(
        &client,
        Side::Target,
        &format!("adding the node {addr} (citus_add_node)"),
        SQL_ADD,
        &[(&addr.host, Type::TEXT), (&port, Type::INT4)],
    )
    .await?;
    Ok(AddedNode {
        node_id: rows.first().map_or(0, |r| r.get(0)),
        address: addr.clone(),
    })
}

/// What a drain did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct DrainSummary {
    pub address: NodeAddress,
    /// Shards of distributed tables the node held before (their co-located shards included).
    pub shards_moved: i64,
}

/// Moves every shard off a node (`citus_drain_node`, which also marks it as not to have shards), after
/// the replica-identity check for its tables when the mode is `auto`.
pub async fn drain_node(
    info: &ConnInfo,
    addr: &NodeAddress,
    opts: &RebalanceOptions,
    progress: &dyn Progress,
) -> Result<DrainSummary> {
    let client = coordinator(info).await?;
    let node = find_node(&client, addr).await?;
    let shards = distributed_shards_on(&client, node.group_id).await?;
    check_replica_identity(&client, &shards, opts.transfer_mode).await?;
    progress.step(&format!("drain {addr}"));
    let port = i32::from(addr.port);
    let mode = opts.transfer_mode.as_sql();
    run_following_moves(
        info,
        &client,
        &format!("draining {addr} (citus_drain_node)"),
        SQL_DRAIN,
        &[
            (&addr.host, Type::TEXT),
            (&port, Type::INT4),
            (&mode, Type::TEXT),
            (&opts.strategy, Type::TEXT),
        ],
        progress,
        opts.poll,
    )
    .await?;
    Ok(DrainSummary {
        address: addr.clone(),
        shards_moved: shards.len() as i64,
    })
}

/// Removes a node (`citus_remove_node`); refused while it holds shards of distributed tables (drain
/// it first). The copies earlier moves left on it are dropped first
/// (`citus_cleanup_orphaned_resources`), so that it can be added again later; its reference-table
/// placements go with it.
pub async fn remove_node(info: &ConnInfo, addr: &NodeAddress) -> Result<()> {
    let client = coordinator(info).await?;
    let node = find_node(&client, addr).await?;
    if node.is_coordinator {
        return Err(Error::Precondition {
            side: Side::Target,
            message: format!("{addr} is the coordinator; only workers can be removed"),
            remedy: None,
        });
    }
    let held = distributed_shards_on(&client, node.group_id).await?.len();
    if held > 0 {
        return Err(Error::Precondition {
            side: Side::Target,
            message: format!(
                "{addr} still holds {held} shard placement(s) of distributed tables; nothing was removed"
            ),
            remedy: Some(Remedy::DrainFirst {
                node: addr.to_string(),
            }),
        });
    }
    // The copies a move (a drain) left on the node are dropped later by Citus, through
    // pg_dist_cleanup; once the node is removed nothing drops them, and adding it again would fail
    // on them. Drop them now.
    execute(
        &client,
        Side::Target,
        "dropping the shard copies earlier moves left behind (citus_cleanup_orphaned_resources)",
        SQL_CLEANUP,
    )
    .await?;
    let group = node.group_id as i32;
    let left: i64 = query(
        &client,
        Side::Target,
        "reading pg_dist_cleanup",
        SQL_LEFT_TO_CLEAN,
        &[(&group, Type::INT4)],
    )
    .await?
    .first()
    .map_or(0, |r| r.get(0));
    if left > 0 {
        return Err(Error::Precondition {
            side: Side::Target,
            message: format!(
                "{addr} still holds {left} shard copy(ies) that earlier moves left behind and Citus could not drop yet (pg_dist_cleanup); nothing was removed: try again in a moment, or see what holds them with CALL citus_cleanup_orphaned_resources()"
            ),
            remedy: None,
        });
    }
    let port = i32::from(addr.port);
    query(
        &client,
        Side::Target,
        &format!("removing the node {addr} (citus_remove_node)"),
        SQL_REMOVE,
        &[(&addr.host, Type::TEXT), (&port, Type::INT4)],
    )
    .await?;
    Ok(())
}

/// The shards of distributed tables with a placement in node group `group`.
async fn distributed_shards_on(client: &tokio_postgres::Client, group: i64) -> Result<Vec<i64>> {
    let group = group as i32;
    Ok(query(
        client,
        Side::Target,
        "reading the node's shards",
        SQL_SHARDS_ON_NODE,
        &[(&group, Type::INT4)],
    )
    .await?
    .iter()
    .map(|r| r.get(0))
    .collect())
}
