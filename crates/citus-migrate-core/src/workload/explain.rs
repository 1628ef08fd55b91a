//! Measured routing: each query of a workload EXPLAINed on the Citus coordinator (never executed, and
//! inside a transaction that is rolled back), `$n` replaced by values sampled from the source's data,
//! the plan's shape read back (Citus's custom scan, its task count, repartitions and subplans) and
//! set next to the prediction for the layout the target holds.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use tokio_postgres::Client;

use super::parse::{Names, Node};
use super::routing::{self, Layout, Placement, Routing};
use super::Workload;
use crate::catalog::Catalog;
use crate::connect;
use crate::error::{Error, Result, Side};
use crate::ident::{quote_ident, quote_literal, QualifiedName};

const TARGET_LAYOUT: &str = include_str!("../sql/workload_target_layout.sql");

/// One query measured on the target.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    pub query: String,
    pub origin: String,
    pub weight: f64,
    /// What the prediction says for the layout the target holds.
    pub predicted: Routing,
    pub reason: String,
    /// What EXPLAIN shows (`None` when EXPLAIN failed for another reason than Citus's planner).
    pub measured: Option<Routing>,
    /// The distributed plan's task count, when it has one.
    pub task_count: Option<u64>,
    /// The lines of the plan that decided, or the error.
    pub evidence: String,
    pub agree: bool,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RoutingCheck {
    pub queries: Vec<Measured>,
    /// Share of the queries (by count) where prediction and measurement agree.
    pub agreement: f64,
    pub disagreements: usize,
    /// Measured shares of the weight, as in the prediction's report.
    pub single_shard_share: f64,
    pub colocated_share: f64,
    pub unparsed: usize,
}

/// The distribution the target holds, as a layout (read from `pg_dist_partition`).
pub(crate) async fn target_layout(target: &Client) -> Result<Layout> {
    if !super::has_extension(target, Side::Target, "citus").await? {
        return Err(Error::Precondition {
            side: Side::Target,
            message: "the Citus extension is not installed in this database: routing can only be measured on a Citus coordinator".into(),
            remedy: None,
        });
    }
    let rows = connect::query(
        target,
        Side::Target,
        "reading the Citus metadata",
        TARGET_LAYOUT,
        &[],
    )
    .await?;
    let mut tables = HashMap::new();
    for r in rows {
        let name = QualifiedName::new(r.get::<_, String>(0), r.get::<_, String>(1));
        let method: String = r.get(2);
        let repmodel: String = r.get(3);
        let colocation: i64 = r.get(4);
        let column: Option<String> = r.get(5);
        let p = match (method.as_str(), column) {
            ("h", Some(column)) => Placement::Distributed {
                column,
                group: format!("colocation {colocation}"),
            },
            ("n", _) if repmodel == "t" => Placement::Reference,
            _ => Placement::Local,
        };
        tables.insert(name, p);
    }
    Ok(Layout::with_tables(tables))
}

/// Values for the parameters: for each `$n` compared with (or inserted into) a column, one value of
/// that column from the source; `NULL` for the others (valid wherever a parameter is).
async fn sample_values(
    source: &Client,
    workload: &Workload,
) -> Result<HashMap<(QualifiedName, String), String>> {
    let mut wanted: BTreeMap<QualifiedName, BTreeSet<String>> = BTreeMap::new();
    for q in &workload.queries {
        for (c, _) in param_columns(q) {
            wanted.entry(c.0).or_default().insert(c.1);
        }
    }
    let mut out = HashMap::new();
    // One query per table, every wanted column in it.
    for (table, cols) in wanted {
        let cols: Vec<String> = cols.into_iter().collect();
        let select: Vec<String> = cols
            .iter()
            .map(|c| {
                format!(
                    "(SELECT {q}::text FROM {t} WHERE {q} IS NOT NULL LIMIT 1)",
                    q = quote_ident(c),
                    t = table.quoted()
                )
            })
            .collect();
        let sql = format!("SELECT {}", select.join(", "));
        let rows = match connect::query(
            source,
            Side::Source,
            "sampling parameter values",
            &sql,
            &[],
        )
        .await
        {
            Ok(r) => r,
            // A table or column the source does not have: those parameters stay NULL.
            Err(Error::Db { .. }) => continue,
            Err(e) => return Err(e),
        };
        if let Some(r) = rows.first() {
            for (i, c) in cols.iter().enumerate() {
                if let Some(v) = r.get::<_, Option<String>>(i) {
                    out.insert((table.clone(), c.clone()), v);
                }
            }
        }
    }
    Ok(out)
}

/// Each parameter of a query with the column it is compared with or inserted into.
fn param_columns(q: &super::Query) -> Vec<((QualifiedName, String), u32)> {
    let s = &q.shape;
    let mut out = Vec::new();
    for (a, b) in &s.equal {
        if let (Node::Col(i, c), Node::Param(p)) | (Node::Param(p), Node::Col(i, c)) = (a, b) {
            out.push(((s.refs[*i].table.clone(), c.clone()), *p));
        }
    }
    if let Some(w) = &s.write {
        for row in &w.rows {
            for (c, v) in row {
                if let Some(Node::Param(p)) = v {
                    out.push(((s.refs[w.target].table.clone(), c.clone()), *p));
                }
            }
        }
    }
    out
}

/// `sql` with each `$n` outside quotes replaced by `values[n]` (a literal) or NULL.
fn bind(sql: &str, values: &HashMap<u32, String>) -> String {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\'' || c == b'"' {
            let mut j = i + 1;
            while j < b.len() && !(b[j] == c && b.get(j + 1) != Some(&c)) {
                j += if b[j] == c { 2 } else { 1 };
            }
            let end = (j + 1).min(b.len());
            out.push_str(&sql[i..end]);
            i = end;
            continue;
        }
        if c == b'$' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit()) {
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            let n: u32 = sql[i + 1..j].parse().unwrap_or(0);
            match values.get(&n) {
                Some(v) => out.push_str(&quote_literal(v)),
                None => out.push_str("NULL"),
            }
            i = j;
            continue;
        }
        let ch = sql[i..].chars().next().expect("a char");
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// Reads Citus's EXPLAIN output: the routing, the task count and the lines that decided.
fn read_plan(lines: &[String], all_reference: bool) -> (Routing, Option<u64>, String) {
    let task_count = lines.iter().find_map(|l| {
        l.trim()
            .strip_prefix("Task Count: ")
            .and_then(|n| n.trim().parse::<u64>().ok())
    });
    let find = |needle: &str| {
        lines
            .iter()
            .find(|l| l.contains(needle))
            .map(|l| l.trim().to_string())
    };
    if let Some(l) = find("Distributed Subplan")
        .or_else(|| find("MapMergeJob"))
        .or_else(|| find("INSERT/SELECT method: pull to coordinator"))
        .or_else(|| find("INSERT/SELECT method: repartition"))
    {
        return (Routing::Repartition, task_count, l);
    }
    let Some(scan) = find("Custom Scan (Citus") else {
        return (
            Routing::Local,
            None,
            lines
                .first()
                .map(|l| l.trim().to_string())
                .unwrap_or_default(),
        );
    };
    let evidence = format!(
        "{scan}; Task Count: {}",
        task_count.map_or("?".into(), |n| n.to_string())
    );
    let routing = match task_count {
        Some(n) if n > 1 => Routing::MultiShard,
        _ if all_reference => Routing::Reference,
        _ => Routing::Router,
    };
    (routing, task_count, evidence)
}

/// EXPLAINs every parsed query of `workload` on `target` (a Citus coordinator) and compares with the
/// prediction for the layout the target holds. `source` provides parameter values and `catalog` the
/// source's tables (for names without a schema).
pub async fn check(
    source: &Client,
    target: &Client,
    catalog: &Catalog,
    workload: &Workload,
) -> Result<RoutingCheck> {
    let layout = target_layout(target).await?;
    let names = Names::new(catalog);
    let samples = sample_values(source, workload).await?;
    let mut out = Vec::with_capacity(workload.queries.len());
    for q in &workload.queries {
        let prediction = routing::predict(&q.shape, &layout, &names);
        let values: HashMap<u32, String> = param_columns(q)
            .into_iter()
            .filter_map(|(c, p)| samples.get(&c).map(|v| (p, v.clone())))
            .collect();
        let sql = format!("EXPLAIN (COSTS OFF) {}", bind(&q.query, &values));
        let all_reference = !q.shape.refs.is_empty()
            && q.shape
                .refs
                .iter()
                .all(|r| matches!(layout.placement(&r.table), Placement::Reference));
        // Never executed (EXPLAIN without ANALYZE), and rolled back all the same.
        connect::execute(target, Side::Target, "starting a transaction", "BEGIN").await?;
        let result = connect::query(target, Side::Target, "explaining a query", &sql, &[]).await;
        connect::execute(target, Side::Target, "rolling back", "ROLLBACK").await?;
        let (measured, task_count, evidence) = match result {
            Ok(rows) => {
                let lines: Vec<String> = rows
                    .iter()
                    .filter_map(|r| r.get::<_, Option<String>>(0))
                    .collect();
                let (r, n, e) = read_plan(&lines, all_reference);
                (Some(r), n, e)
            }
            // The server refused the query: what it says is the measurement.
            Err(Error::Db { source, .. }) if source.as_db_error().is_some() => {
                let d = source.as_db_error().expect("checked");
                let msg = d.message().to_string();
                let lower = msg.to_lowercase();
                let r = if lower.contains("repartition") {
                    Some(Routing::Repartition)
                } else if d.code().code() == "0A000"
                    || lower.contains("citus")
                    || lower.contains("distribut")
                    || lower.contains("shard")
                {
                    Some(Routing::Unsupported)
                } else {
                    None
                };
                (r, None, format!("error: {msg}"))
            }
            Err(e) => return Err(e),
        };
        out.push(Measured {
            query: q.query.clone(),
            origin: q.origin.clone(),
            weight: q.weight,
            predicted: prediction.routing,
            reason: prediction.reason,
            agree: measured == Some(prediction.routing),
            measured,
            task_count,
            evidence,
        });
    }
    let n = out.len().max(1) as f64;
    let agreeing = out.iter().filter(|m| m.agree).count();
    let total: f64 = out
        .iter()
        .map(|m| m.weight)
        .sum::<f64>()
        .max(f64::MIN_POSITIVE);
    let share = |f: &dyn Fn(Option<Routing>) -> bool| {
        out.iter()
            .filter(|m| f(m.measured))
            .map(|m| m.weight)
            .sum::<f64>()
            / total
            + 0.0 // an empty sum is -0.0
    };
    Ok(RoutingCheck {
        agreement: agreeing as f64 / n,
        disagreements: out.len() - agreeing,
        single_shard_share: share(&|r| matches!(r, Some(Routing::Router | Routing::Reference))),
        colocated_share: share(&|r| r == Some(Routing::MultiShard)),
        unparsed: workload.unparsed.len(),
        queries: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_bound_outside_quotes_only() {
        let v: HashMap<u32, String> = [(1, "it's".to_string())].into();
        assert_eq!(
            bind(
                "SELECT '$1', \"$2\" FROM t WHERE a = $1 AND b = $2 LIMIT $10",
                &v
            ),
            "SELECT '$1', \"$2\" FROM t WHERE a = 'it''s' AND b = NULL LIMIT NULL"
        );
    }

    #[test]
    fn plans_are_read_by_their_shape() {
        let lines = |s: &str| s.lines().map(str::to_string).collect::<Vec<_>>();
        let router = lines("Custom Scan (Citus Adaptive)\n  Task Count: 1\n  Tasks Shown: All");
        assert_eq!(read_plan(&router, false).0, Routing::Router);
        assert_eq!(read_plan(&router, true).0, Routing::Reference);
        let multi = lines("Aggregate\n  ->  Custom Scan (Citus Adaptive)\n        Task Count: 32");
        assert_eq!(
            read_plan(&multi, false),
            (
                Routing::MultiShard,
                Some(32),
                "->  Custom Scan (Citus Adaptive); Task Count: 32".into()
            )
        );
        let sub =
            lines("Custom Scan (Citus Adaptive)\n  ->  Distributed Subplan 1_1\n  Task Count: 1");
        assert_eq!(read_plan(&sub, false).0, Routing::Repartition);
        assert_eq!(read_plan(&lines("Seq Scan on t"), false).0, Routing::Local);
    }
}
