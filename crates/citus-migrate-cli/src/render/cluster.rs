//! The results of `cluster status`, `cluster rebalance` and `cluster check` as readable text, and the
//! words (with the options and commands) a user needs after an interrupted rebalance.

use std::fmt::Write as _;

use citus_migrate_core::cluster::check::CheckReport;
use citus_migrate_core::cluster::rebalance::{
    RebalancePlan, RebalanceSummary, STATUS_SQL, STOP_SQL,
};
use citus_migrate_core::cluster::status::ClusterStatus;
use citus_migrate_core::util::{human_bytes, thousands};

/// Nodes, imbalance, tables per node, co-location groups, reference tables, the latest rebalance.
pub fn cluster_status_text(s: &ClusterStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<24}  {:>6}  {:<11}  {:<8}  {:>8}  {:>10}  {:>8}  {:>10}",
        "NODE", "ID", "ROLE", "STATE", "SHARDS", "BYTES", "REF", "REF BYTES"
    );
    for n in &s.nodes {
        let role = if n.is_coordinator {
            "coordinator".to_string()
        } else {
            n.role.clone()
        };
        let mut state = Vec::new();
        if !n.active {
            state.push("inactive");
        }
        if !n.should_have_shards {
            state.push("no-shards");
        }
        if !n.is_coordinator && !n.metadata_synced {
            state.push("unsynced");
        }
        let _ = writeln!(
            out,
            "{:<24}  {:>6}  {:<11}  {:<8}  {:>8}  {:>10}  {:>8}  {:>10}",
            n.address.to_string(),
            n.node_id,
            role,
            if state.is_empty() {
                "ok".into()
            } else {
                state.join(",")
            },
            thousands(n.shards),
            human_bytes(n.bytes),
            thousands(n.reference_shards),
            human_bytes(n.reference_bytes)
        );
    }
    let _ = writeln!(
        out,
        "\nImbalance (max/mean over the nodes that hold shards): bytes {:.2}, shards {:.2}",
        s.imbalance.bytes, s.imbalance.shards
    );
    if !s.tables.is_empty() {
        let w = s
            .tables
            .iter()
            .map(|t| t.table.to_string().chars().count())
            .max()
            .unwrap_or(5)
            .clamp(5, 48);
        let _ = writeln!(
            out,
            "\n{:<w$}  {:<11}  {:<16}  {:>5}  {:>6}  {:>10}  {:>5}  PER NODE (shards/bytes)",
            "TABLE", "KIND", "COLUMN", "GROUP", "SHARDS", "BYTES", "SKEW"
        );
        for t in &s.tables {
            let per_node: Vec<String> = t
                .nodes
                .iter()
                .map(|n| format!("{} {}/{}", n.node, n.shards, human_bytes(n.bytes)))
                .collect();
            let _ = writeln!(
                out,
                "{:<w$}  {:<11}  {:<16}  {:>5}  {:>6}  {:>10}  {:>5}  {}",
                t.table.to_string(),
                t.kind,
                t.distribution_column.as_deref().unwrap_or("-"),
                t.colocation_id,
                t.shard_count,
                human_bytes(t.bytes),
                if t.kind == "reference" {
                    "-".into()
                } else {
                    format!("{:.2}", t.skew)
                },
                per_node.join(", ")
            );
        }
    }
    if !s.colocation_groups.is_empty() {
        let _ = writeln!(out, "\nCo-location groups:");
        for g in &s.colocation_groups {
            let tables: Vec<String> = g.tables.iter().map(|t| t.to_string()).collect();
            let _ = writeln!(
                out,
                "  {}: {} shard(s), replication factor {}: {}",
                g.colocation_id,
                g.shard_count,
                g.replication_factor,
                tables.join(", ")
            );
            for p in &g.inconsistent {
                let _ = writeln!(out, "    inconsistent: {p}");
            }
        }
    }
    if !s.reference_tables.is_empty() {
        let _ = writeln!(out, "\nReference tables:");
        for r in &s.reference_tables {
            let where_ = if r.missing_on.is_empty() {
                "on every node".to_string()
            } else {
                format!("missing on {}", r.missing_on.join(", "))
            };
            let _ = writeln!(
                out,
                "  {}: {} placement(s), {where_}",
                r.table, r.placements
            );
        }
    }
    if let Some(j) = &s.rebalance {
        let _ = writeln!(out, "\nLatest rebalance: job {} {}", j.job_id, j.state);
    }
    out
}

/// The moves a rebalance will make.
pub fn rebalance_plan_text(plan: &RebalancePlan) -> String {
    if plan.moves.is_empty() {
        return "Rebalance plan: nothing to move, the shards are balanced.\n".into();
    }
    let mut out = format!(
        "Rebalance plan: {} move(s), {}:\n",
        plan.moves.len(),
        human_bytes(plan.bytes)
    );
    for m in &plan.moves {
        let _ = writeln!(
            out,
            "  shard {} of {} ({}): {} -> {}",
            m.shard_id,
            m.table,
            human_bytes(m.bytes),
            m.source,
            m.target
        );
    }
    out
}

/// How a rebalance ended.
pub fn rebalance_text(s: &RebalanceSummary) -> String {
    let mut out = String::new();
    match s.state.as_str() {
        "planned" => {
            out.push_str(&rebalance_plan_text(&s.plan));
            out.push_str("Dry run: nothing was moved.\n");
        }
        "balanced" => out.push_str("Nothing to move: the shards are balanced.\n"),
        state => {
            let job = s
                .job_id
                .map(|j| format!(" (background job {j})"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "Rebalance {state}{job}: {} move(s) planned, {} task(s) done, {}.",
                s.plan.moves.len(),
                s.tasks_done,
                human_bytes(s.plan.bytes)
            );
        }
    }
    for r in &s.retried {
        let _ = writeln!(out, "  retried: {r}");
    }
    out
}

/// Every check with its problems, then the verdict.
pub fn check_text(r: &CheckReport) -> String {
    let mut out = String::new();
    for c in &r.checks {
        let _ = writeln!(
            out,
            "{}  {:<22} {}",
            if c.passed { "ok  " } else { "FAIL" },
            c.name.as_str(),
            c.what
        );
        for p in &c.problems {
            let _ = writeln!(out, "        {p}");
        }
    }
    let failed = r.failed().count();
    if failed == 0 {
        out.push_str("All checks passed.\n");
    } else {
        let _ = writeln!(out, "{failed} check(s) failed.");
    }
    out
}

/// What an interrupted rebalance left and how to watch or stop it.
pub fn interrupted_text(background: bool) -> String {
    if background {
        format!(
            "interrupted: the rebalance goes on in the background on the coordinator. Watch it with `citus-migrate cluster status --watch` (or `{STATUS_SQL}`); stop it with `{STOP_SQL}`"
        )
    } else {
        "interrupted: the moves ran in this command's session, which ends now; Citus cleans up a move it did not finish. Run the same command again to continue".into()
    }
}
