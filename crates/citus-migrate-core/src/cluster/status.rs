//! Where the data of a Citus cluster is: the nodes with their shards and bytes, each table's spread
//! over the nodes, the imbalance, the co-location groups, the reference tables' placements and the
//! latest background rebalance. A handful of set-based queries on the coordinator.

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use super::{coordinator, max_over_mean, node_list, Node, NodeAddress};
use crate::connect::query;
use crate::conninfo::ConnInfo;
use crate::error::{Error, Result, Side};
use crate::ident::QualifiedName;

const SQL_TABLES: &str = include_str!("../sql/cluster_tables.sql");
const SQL_COLOCATION: &str = include_str!("../sql/cluster_colocation.sql");
const SQL_REFERENCE: &str = include_str!("../sql/cluster_reference.sql");
const SQL_LATEST_JOB: &str = "SELECT job_id::int8, state::text FROM citus_rebalance_status()";

/// The cluster as the coordinator's metadata and the workers' sizes describe it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClusterStatus {
    pub nodes: Vec<Node>,
    pub tables: Vec<TableDistribution>,
    /// Over the nodes that should have shards (the workers, and the coordinator when it does).
    pub imbalance: Imbalance,
    pub colocation_groups: Vec<ColocationGroup>,
    pub reference_tables: Vec<ReferencePlacements>,
    /// The latest background rebalance, if any ran.
    pub rebalance: Option<RebalanceJob>,
}

/// `max / mean` per node: 1.0 is a perfect balance.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Imbalance {
    pub bytes: f64,
    pub shards: f64,
}

/// One Citus table and its placements per node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct TableDistribution {
    pub table: QualifiedName,
    /// `distributed`, `reference`, `schema` or `local` (as `citus_shards` says).
    pub kind: String,
    pub distribution_column: Option<String>,
    pub colocation_id: i64,
    pub shard_count: i64,
    pub bytes: i64,
    pub nodes: Vec<NodeShare>,
    /// `max / mean` of bytes over the nodes that should have shards (0 for reference tables).
    pub skew: f64,
}

/// A table's placements on one node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeShare {
    pub node: NodeAddress,
    pub shards: i64,
    pub bytes: i64,
}

/// A co-location group: tables whose shards of the same hash range sit on the same node.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct ColocationGroup {
    pub colocation_id: i64,
    pub shard_count: i64,
    pub replication_factor: i64,
    pub tables: Vec<QualifiedName>,
    /// Members whose shards do not line up with the group (a shard count of their own, or shards on
    /// another node than the first member's of the same range).
    pub inconsistent: Vec<String>,
}

/// A reference table and the active primary nodes lacking its placement.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[non_exhaustive]
pub struct ReferencePlacements {
    pub table: QualifiedName,
    pub placements: i64,
    pub missing_on: Vec<String>,
}

/// A background rebalance job (`citus_rebalance_status()`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RebalanceJob {
    pub job_id: i64,
    pub state: String,
}

impl ClusterStatus {
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| Error::Other(e.to_string()))
    }
}

/// Connects to the coordinator and reads the status.
pub async fn status(info: &ConnInfo) -> Result<ClusterStatus> {
    let client = coordinator(info).await?;
    read(&client).await
}

/// The status, on a connection to the coordinator of your own.
pub async fn read(client: &Client) -> Result<ClusterStatus> {
    let mut tables: Vec<TableDistribution> = Vec::new();
    for r in query(client, Side::Target, "reading the shards", SQL_TABLES, &[]).await? {
        let table = QualifiedName::new(r.get::<_, String>("schema"), r.get::<_, String>("name"));
        let share = NodeShare {
            node: NodeAddress {
                host: r.get("host"),
                port: r.get::<_, i64>("port") as u16,
            },
            shards: r.get("shards"),
            bytes: r.get("bytes"),
        };
        match tables.last_mut() {
            Some(t) if t.table == table => t.nodes.push(share),
            _ => tables.push(TableDistribution {
                table,
                kind: r.get("kind"),
                distribution_column: r.get("distribution_column"),
                colocation_id: r.get("colocation_id"),
                shard_count: r.get("shard_count"),
                bytes: 0,
                nodes: vec![share],
                skew: 0.0,
            }),
        }
    }
    // The nodes' bytes are their placements' (the counts come from the metadata).
    let mut nodes = node_list(client).await?;
    for n in &mut nodes {
        for t in &tables {
            let on_node = t.nodes.iter().filter(|s| s.node == n.address);
            let bytes: i64 = on_node.map(|s| s.bytes).sum();
            match t.kind.as_str() {
                "reference" => n.reference_bytes += bytes,
                _ => n.bytes += bytes,
            }
        }
    }
    let holders: Vec<&Node> = nodes
        .iter()
        .filter(|n| n.should_have_shards && n.active && n.role == "primary")
        .collect();
    let imbalance = Imbalance {
        bytes: max_over_mean(&holders.iter().map(|n| n.bytes).collect::<Vec<_>>()),
        shards: max_over_mean(&holders.iter().map(|n| n.shards).collect::<Vec<_>>()),
    };
    for t in &mut tables {
        t.bytes = t.nodes.iter().map(|n| n.bytes).sum();
        if t.kind == "reference" {
            // Every placement holds the whole table: the size is one placement's.
            t.bytes = t.nodes.iter().map(|n| n.bytes).max().unwrap_or(0);
            continue;
        }
        let per_node: Vec<i64> = holders
            .iter()
            .map(|h| {
                t.nodes
                    .iter()
                    .find(|s| s.node == h.address)
                    .map_or(0, |s| s.bytes)
            })
            .collect();
        t.skew = max_over_mean(&per_node);
    }
    Ok(ClusterStatus {
        nodes,
        tables,
        imbalance,
        colocation_groups: colocation_groups(client).await?,
        reference_tables: reference_tables(client).await?,
        rebalance: query(
            client,
            Side::Target,
            "reading citus_rebalance_status()",
            SQL_LATEST_JOB,
            &[],
        )
        .await?
        .first()
        .map(|r| RebalanceJob {
            job_id: r.get(0),
            state: r.get(1),
        }),
    })
}

/// The co-location groups with their members, and the members that do not line up.
pub(crate) async fn colocation_groups(client: &Client) -> Result<Vec<ColocationGroup>> {
    let mut groups: Vec<ColocationGroup> = Vec::new();
    let rows = query(
        client,
        Side::Target,
        "reading the co-location groups",
        SQL_COLOCATION,
        &[],
    )
    .await?;
    for r in rows {
        let id: i64 = r.get("colocation_id");
        let table = QualifiedName::new(r.get::<_, String>("schema"), r.get::<_, String>("name"));
        if groups.last().is_none_or(|g| g.colocation_id != id) {
            groups.push(ColocationGroup {
                colocation_id: id,
                shard_count: r.get("shard_count"),
                replication_factor: r.get("replication_factor"),
                tables: Vec::new(),
                inconsistent: Vec::new(),
            });
        }
        let g = groups.last_mut().expect("pushed above");
        let table_shards: i64 = r.get("table_shards");
        let misplaced: i64 = r.get("misplaced_shards");
        if table_shards != g.shard_count && g.shard_count > 0 {
            g.inconsistent.push(format!(
                "{table} has {table_shards} shards, the group {}",
                g.shard_count
            ));
        }
        if misplaced > 0 {
            g.inconsistent.push(format!(
                "{misplaced} shard(s) of {table} are not on the node of the group's same hash range"
            ));
        }
        g.tables.push(table);
    }
    Ok(groups)
}

/// Every reference table and the nodes that lack it.
pub(crate) async fn reference_tables(client: &Client) -> Result<Vec<ReferencePlacements>> {
    Ok(query(
        client,
        Side::Target,
        "reading the reference tables' placements",
        SQL_REFERENCE,
        &[],
    )
    .await?
    .iter()
    .map(|r| ReferencePlacements {
        table: QualifiedName::new(r.get::<_, String>("schema"), r.get::<_, String>("name")),
        placements: r.get("placements"),
        missing_on: r.get("missing_on"),
    })
    .collect())
}
