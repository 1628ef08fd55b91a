//! The workload sections: predicted routing ([`WorkloadReport`], analyze and generate) and measured
//! routing ([`RoutingCheck`], verify) as readable text.

use std::fmt::Write as _;

use citus_migrate_core::workload::explain::RoutingCheck;
use citus_migrate_core::workload::{Routing, WorkloadReport};

/// A query on one line, cut to `n` characters.
fn short(q: &str, n: usize) -> String {
    let one: String = q.split_whitespace().collect::<Vec<_>>().join(" ");
    if one.chars().count() <= n {
        one
    } else {
        format!("{}…", one.chars().take(n - 1).collect::<String>())
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// The predicted routing of a workload under the plan: shares, heaviest queries, what holds the plan back.
pub fn workload_text(r: &WorkloadReport) -> String {
    let mut out = String::new();
    let total: f64 = r.queries.iter().map(|q| q.weight).sum();
    let _ = writeln!(
        out,
        "\nWorkload: {} queries{}; single-shard {}, co-located multi-shard {} of the weight",
        r.queries.len(),
        if r.unparsed.is_empty() {
            String::new()
        } else {
            format!(" ({} more could not be read)", r.unparsed.len())
        },
        pct(r.single_shard_share),
        pct(r.colocated_share)
    );
    for (routing, share) in &r.shares {
        let _ = writeln!(out, "  {:<34} {:>6}", routing.label(), pct(*share));
    }
    let mut heaviest: Vec<_> = r.queries.iter().collect();
    heaviest.sort_by(|a, b| b.weight.total_cmp(&a.weight));
    let _ = writeln!(out, "  Heaviest queries:");
    for q in heaviest.iter().take(15) {
        let share = if total > 0.0 { q.weight / total } else { 0.0 };
        let _ = writeln!(
            out,
            "    {:>6}  {:<12} {}\n            {}",
            pct(share),
            q.routing.name(),
            short(&q.query, 100),
            q.reason
        );
    }
    if !r.holding_back.is_empty() {
        let _ = writeln!(out, "  Holding the plan back:");
        for q in &r.holding_back {
            let _ = writeln!(out, "    {:<12} {}", q.routing.name(), short(&q.query, 100));
            let _ = writeln!(out, "            {}", q.reason);
            if let Some(f) = &q.fix {
                let _ = writeln!(out, "            would change with: {f}");
            }
        }
    }
    for u in &r.unparsed {
        let _ = writeln!(
            out,
            "  not read: {}: {} ({})",
            u.origin,
            u.error,
            short(&u.query, 60)
        );
    }
    out
}

/// Measured against predicted routing, query by query.
pub fn routing_check_text(c: &RoutingCheck) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:<12} {:>6}  QUERY",
        "PREDICTED", "MEASURED", "TASKS"
    );
    for m in &c.queries {
        let _ = writeln!(
            out,
            "{:<12} {:<12} {:>6}  {}{}",
            m.predicted.name(),
            m.measured.map_or("?", Routing::name),
            m.task_count.map_or("-".into(), |n| n.to_string()),
            short(&m.query, 90),
            if m.agree {
                String::new()
            } else {
                format!(
                    "\n    DIFFERS: predicted: {}; measured: {}",
                    m.reason, m.evidence
                )
            }
        );
    }
    let _ = writeln!(
        out,
        "Routing: prediction and measurement agree on {} of {} queries ({}); measured single-shard {}, co-located multi-shard {} of the weight{}",
        c.queries.len() - c.disagreements,
        c.queries.len(),
        pct(c.agreement),
        pct(c.single_shard_share),
        pct(c.colocated_share),
        if c.unparsed > 0 { format!("; {} statement(s) could not be read", c.unparsed) } else { String::new() }
    );
    out
}
