//! Operating the Citus cluster after the migration: where the shards are ([`status`]), moving them
//! ([`rebalance`]), adding, draining and removing workers ([`nodes`]) and the health checks an
//! operator runs ([`check`]). Everything is done by Citus's own functions (`citus_rebalance_start`,
//! `get_rebalance_table_shards_plan`, `citus_drain_node`, `citus_add_node`, `citus_remove_node`,
//! `citus_shards`, `pg_dist_node`…): this module plans, checks up front, starts and follows; it never
//! moves a shard itself. The queries are in `src/sql/cluster_*.sql` and run as they are in psql.
//!
//! Every entry point takes the coordinator's [`ConnInfo`] (side [`Side::Target`]) and refuses, before
//! doing anything, a database without Citus or a node that is not the coordinator.
//!
//! ```no_run
//! use citus_migrate_core::cluster::{self, nodes, NodeAddress};
//! use citus_migrate_core::{ConnInfo, NoProgress, Side};
//!
//! # async fn run() -> citus_migrate_core::Result<()> {
//! let coordinator = ConnInfo::parse(Side::Target, "postgresql://app@citus.example.com/shop")?;
//! let status = cluster::status::status(&coordinator).await?;
//! println!("{} nodes, shard imbalance {:.2}", status.nodes.len(), status.imbalance.shards);
//! nodes::add_node(&coordinator, &NodeAddress::parse("10.0.0.7:5432")?).await?;
//! let opts = cluster::rebalance::RebalanceOptions::default();
//! let summary = cluster::rebalance::rebalance(&coordinator, &opts, &NoProgress).await?;
//! println!("{} moves", summary.plan.moves.len());
//! # Ok(()) }
//! ```

pub mod check;
pub mod nodes;
pub mod rebalance;
pub mod status;

use std::fmt;

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::connect::{self, query};
use crate::conninfo::ConnInfo;
use crate::error::{Error, Result, Side};

const SQL_COORDINATOR: &str = include_str!("../sql/cluster_coordinator.sql");
const SQL_CITUS_VERSION: &str = "SELECT extversion::text FROM pg_extension WHERE extname = 'citus'";

/// A node as `pg_dist_node` names it: host and port.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeAddress {
    pub host: String,
    pub port: u16,
}

impl NodeAddress {
    /// `HOST:PORT` (`[v6addr]:PORT` for IPv6); a usage error names what is wrong.
    pub fn parse(text: &str) -> Result<Self> {
        let bad = |why: &str| Error::usage(format!("node {text:?}: {why} (write HOST:PORT)"));
        let (host, port) = text.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?;
        Ok(NodeAddress {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for NodeAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// How Citus copies a shard to its new node (`citus.shard_transfer_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferMode {
    /// Logical replication where every table has a replica identity (Citus refuses otherwise; this
    /// module refuses first, naming the tables).
    #[default]
    Auto,
    /// Logical replication even without a replica identity: UPDATE and DELETE on those tables fail
    /// while their shards move.
    ForceLogical,
    /// Writes to the moving shards wait until the move is done.
    BlockWrites,
}

impl TransferMode {
    /// The value Citus's functions take.
    pub fn as_sql(self) -> &'static str {
        match self {
            TransferMode::Auto => "auto",
            TransferMode::ForceLogical => "force_logical",
            TransferMode::BlockWrites => "block_writes",
        }
    }
}

/// Connects to the coordinator and makes sure it is one: Citus installed, and this node is the
/// coordinator (group 0).
pub(crate) async fn coordinator(info: &ConnInfo) -> Result<Client> {
    let client = connect::connect(info).await?;
    let version = query(
        &client,
        Side::Target,
        "checking for Citus",
        SQL_CITUS_VERSION,
        &[],
    )
    .await?;
    if version.is_empty() {
        return Err(Error::Precondition {
            side: Side::Target,
            message: format!(
                "the database {} has no citus extension: connect to the database of a Citus coordinator (CREATE EXTENSION citus where Citus is installed)",
                info.dbname
            ),
            remedy: None,
        });
    }
    let group = query(
        &client,
        Side::Target,
        "checking for the coordinator",
        SQL_COORDINATOR,
        &[],
    )
    .await?;
    match group.first().map(|r| r.get::<_, bool>(0)) {
        Some(true) => Ok(client),
        _ => Err(Error::Precondition {
            side: Side::Target,
            message: "this node is not the Citus coordinator (its pg_dist_local_group is not group 0): connect to the coordinator".into(),
            remedy: None,
        }),
    }
}

/// One row of `pg_dist_node` (with placement counts and sizes where the query had them).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct Node {
    pub node_id: i64,
    pub group_id: i64,
    pub address: NodeAddress,
    /// `primary` or `secondary`.
    pub role: String,
    pub is_coordinator: bool,
    pub active: bool,
    pub has_metadata: bool,
    pub metadata_synced: bool,
    pub should_have_shards: bool,
    /// Placements of distributed (and schema-based) tables.
    pub shards: i64,
    pub bytes: i64,
    /// Placements of reference tables.
    pub reference_shards: i64,
    pub reference_bytes: i64,
}

impl Node {
    fn from_row(r: &tokio_postgres::Row) -> Self {
        let group_id: i64 = r.get("group_id");
        Node {
            node_id: r.get("node_id"),
            group_id,
            address: NodeAddress {
                host: r.get("host"),
                port: r.get::<_, i64>("port") as u16,
            },
            role: r.get("role"),
            is_coordinator: group_id == 0,
            active: r.get("active"),
            has_metadata: r.get("has_metadata"),
            metadata_synced: r.get("metadata_synced"),
            should_have_shards: r.get("should_have_shards"),
            shards: r.get("shards"),
            bytes: r.get("bytes"),
            reference_shards: r.get("reference_shards"),
            reference_bytes: r.get("reference_bytes"),
        }
    }
}

const SQL_NODE_LIST: &str = include_str!("../sql/cluster_node_list.sql");

/// The nodes with placement counts but no sizes: asks no worker, so it works while one is down.
pub(crate) async fn node_list(client: &Client) -> Result<Vec<Node>> {
    let rows = query(
        client,
        Side::Target,
        "reading pg_dist_node",
        SQL_NODE_LIST,
        &[],
    )
    .await?;
    Ok(rows.iter().map(Node::from_row).collect())
}

/// The node at `addr`, or a usage error listing the nodes there are.
pub(crate) async fn find_node(client: &Client, addr: &NodeAddress) -> Result<Node> {
    let nodes = node_list(client).await?;
    if let Some(n) = nodes.iter().find(|n| &n.address == addr) {
        return Ok(n.clone());
    }
    let known: Vec<String> = nodes.iter().map(|n| n.address.to_string()).collect();
    Err(Error::usage(format!(
        "target: no node {addr} in the cluster (pg_dist_node lists {})",
        if known.is_empty() {
            "no node".to_string()
        } else {
            known.join(", ")
        }
    )))
}

/// `max / mean` of `values` (1.0 for a perfect balance; 0 when there is nothing).
pub fn max_over_mean(values: &[i64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let sum: i64 = values.iter().sum();
    if sum == 0 {
        return 0.0;
    }
    let mean = sum as f64 / values.len() as f64;
    *values.iter().max().unwrap() as f64 / mean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_addresses_parse_and_print() {
        let a = NodeAddress::parse("10.0.0.7:5432").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("10.0.0.7", 5432));
        assert_eq!(a.to_string(), "10.0.0.7:5432");
        let v6 = NodeAddress::parse("[::1]:6432").unwrap();
        assert_eq!(
            (v6.host.as_str(), v6.to_string()),
            ("::1", "[::1]:6432".into())
        );
        for bad in ["worker", "worker:", ":5432", "w:0", "w:99999", "w:x"] {
            let e = NodeAddress::parse(bad).unwrap_err();
            assert!(e.is_usage() && e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn imbalance_is_max_over_mean() {
        assert_eq!(max_over_mean(&[]), 0.0);
        assert_eq!(max_over_mean(&[0, 0]), 0.0);
        assert_eq!(max_over_mean(&[4, 4]), 1.0);
        assert!((max_over_mean(&[6, 2, 4]) - 1.5).abs() < 1e-9);
    }
}
