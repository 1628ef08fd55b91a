//! Predicted routing of a query under a plan, by Citus's rules: a query whose distributed tables
//! are all co-located, joined on their distribution columns and filtered to one value of it is a
//! single-shard router query; without the filter it runs on every shard in parallel with no data
//! movement; distributed tables joined on anything else need a repartition (or a subplan whose rows
//! go through the coordinator); some writes Citus refuses.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use super::parse::{Names, Node, Shape, WriteKind};
use crate::advice::Kind;
use crate::ident::{quote_ident, QualifiedName};
use crate::plan::Plan;

/// How Citus runs a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Routing {
    /// One shard (one task, "Citus Router").
    Router,
    /// Reference tables only: one task on one node.
    Reference,
    /// Every shard (or several) in parallel, no data moved between nodes: co-located.
    MultiShard,
    /// Distributed tables not joined on their co-located distribution columns: a repartition join,
    /// or subplans whose results go through the coordinator.
    Repartition,
    /// Citus refuses the query as it stands.
    Unsupported,
    /// Only tables that stay local on the coordinator (plain PostgreSQL).
    Local,
}

impl Routing {
    pub fn label(self) -> &'static str {
        match self {
            Routing::Router => "single-shard router",
            Routing::Reference => "reference tables only",
            Routing::MultiShard => "co-located multi-shard",
            Routing::Repartition => "repartition / pull to coordinator",
            Routing::Unsupported => "not supported",
            Routing::Local => "local on the coordinator",
        }
    }

    /// The routing's name in reports (`router`, `multi_shard`, …).
    pub fn name(self) -> &'static str {
        match self {
            Routing::Router => "router",
            Routing::Reference => "reference",
            Routing::MultiShard => "multi_shard",
            Routing::Repartition => "repartition",
            Routing::Unsupported => "unsupported",
            Routing::Local => "local",
        }
    }

    /// Reads a name as [`Self::name`] writes it (fixtures' expectations).
    pub fn from_name(s: &str) -> Option<Routing> {
        [
            Routing::Router,
            Routing::Reference,
            Routing::MultiShard,
            Routing::Repartition,
            Routing::Unsupported,
            Routing::Local,
        ]
        .into_iter()
        .find(|r| r.name() == s.trim())
    }
}

impl std::fmt::Display for Routing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Placement {
    Distributed { column: String, group: String },
    Reference,
    Local,
}

/// Where each table of a plan lives (tables the plan does not list stay local).
#[derive(Debug, Clone, Default)]
pub(crate) struct Layout {
    tables: HashMap<QualifiedName, Placement>,
}

impl Layout {
    pub fn with_tables(tables: HashMap<QualifiedName, Placement>) -> Layout {
        Layout { tables }
    }

    pub fn from_plan(plan: &Plan) -> Layout {
        let tables = plan
            .tables
            .iter()
            .map(|t| {
                let p = match (t.kind, &t.distribution_column) {
                    (Kind::Distributed, Some(c)) => Placement::Distributed {
                        column: c.clone(),
                        group: t
                            .colocation_group
                            .clone()
                            .unwrap_or_else(|| format!("table {}", t.qualified())),
                    },
                    (Kind::Reference, _) => Placement::Reference,
                    _ => Placement::Local,
                };
                (t.qualified(), p)
            })
            .collect();
        Layout { tables }
    }

    pub fn placement(&self, t: &QualifiedName) -> Placement {
        self.tables.get(t).cloned().unwrap_or(Placement::Local)
    }
}

/// The distribution column of a distributed table.
fn layout_column(layout: &Layout, t: &QualifiedName) -> Option<String> {
    match layout.placement(t) {
        Placement::Distributed { column, .. } => Some(column),
        _ => None,
    }
}

/// A query's predicted routing, why, and what would improve it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    pub routing: Routing,
    pub reason: String,
    /// What change to the plan would make it single-shard or co-located, where one would.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

struct Classes {
    ids: HashMap<Node, usize>,
    parent: Vec<usize>,
}

impl Classes {
    fn new(shape: &Shape) -> Classes {
        let mut c = Classes {
            ids: HashMap::new(),
            parent: Vec::new(),
        };
        for (a, b) in &shape.equal {
            let (x, y) = (c.id(a), c.id(b));
            let (rx, ry) = (c.find(x), c.find(y));
            if rx != ry {
                c.parent[rx] = ry;
            }
        }
        c
    }

    fn id(&mut self, n: &Node) -> usize {
        if let Some(&i) = self.ids.get(n) {
            return i;
        }
        self.parent.push(self.parent.len());
        self.ids.insert(n.clone(), self.parent.len() - 1);
        self.parent.len() - 1
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn class(&mut self, n: &Node) -> Option<usize> {
        let i = *self.ids.get(n)?;
        Some(self.find(i))
    }

    /// A constant or parameter in the class of `n`.
    fn bound(&mut self, n: &Node) -> Option<Node> {
        let c = self.class(n)?;
        let values: Vec<Node> = self
            .ids
            .keys()
            .filter(|k| !matches!(k, Node::Col(..)))
            .cloned()
            .collect();
        values.into_iter().find(|k| self.class(k) == Some(c))
    }
}

fn value_text(n: &Node) -> String {
    match n {
        Node::Param(p) => format!("${p}"),
        Node::Const(c) => c.clone(),
        Node::Col(..) => "a column".into(),
    }
}

/// Predicts how Citus runs the query `shape` under `layout`.
pub(crate) fn predict(shape: &Shape, layout: &Layout, names: &Names<'_>) -> Prediction {
    let mut classes = Classes::new(shape);
    let col_name = |r: usize, c: &str| format!("{}.{}", shape.refs[r].table, quote_ident(c));
    let mut dist: Vec<(usize, String, String)> = Vec::new();
    let mut refs = 0usize;
    let mut local: Vec<usize> = Vec::new();
    for (i, r) in shape.refs.iter().enumerate() {
        match layout.placement(&r.table) {
            Placement::Distributed { column, group } => dist.push((i, column, group)),
            Placement::Reference => refs += 1,
            Placement::Local => local.push(i),
        }
    }
    let p = |routing, reason: String, fix: Option<String>| Prediction {
        routing,
        reason,
        fix,
    };

    // Writes first: Citus's rules for the written table.
    if let Some(w) = &shape.write {
        let target = &shape.refs[w.target].table;
        match layout.placement(target) {
            Placement::Reference | Placement::Local if !dist.is_empty() => {
                return p(
                    Routing::Repartition,
                    format!("writes {target} from distributed tables: the rows go through the coordinator"),
                    None,
                );
            }
            Placement::Reference => {
                return p(
                    Routing::Reference,
                    format!(
                        "writes the reference table {target}: one task, replicated to every node"
                    ),
                    None,
                );
            }
            Placement::Local => {
                return p(
                    Routing::Local,
                    format!("writes {target}, which stays local on the coordinator"),
                    None,
                );
            }
            Placement::Distributed { column, .. } => {
                if w.kind == WriteKind::Update && w.set_columns.contains(&column) {
                    return p(
                        Routing::Unsupported,
                        format!("updates the distribution column {}: Citus does not move rows between shards", col_name(w.target, &column)),
                        Some(format!("distribute {target} on a column the application never updates")),
                    );
                }
                if w.kind == WriteKind::Insert && !w.from_select {
                    let has_default = names
                        .get(target)
                        .and_then(|t| t.column(&column))
                        .is_some_and(|c| c.default.is_some() || c.identity.is_some());
                    let mut values: BTreeSet<Node> = BTreeSet::new();
                    for row in &w.rows {
                        match row.get(&column) {
                            Some(Some(n)) => {
                                values.insert(classes.bound(n).unwrap_or_else(|| n.clone()));
                            }
                            Some(None) | None if has_default => {
                                // Each row gets its own default value.
                                values.insert(Node::Const(format!("default {}", values.len())));
                            }
                            _ => {
                                return p(
                                    Routing::Unsupported,
                                    format!("inserts into {target} without a value for its distribution column {}", quote_ident(&column)),
                                    Some(format!("give {} a value in the INSERT", quote_ident(&column))),
                                );
                            }
                        }
                    }
                    return if values.len() <= 1 {
                        p(
                            Routing::Router,
                            format!("inserts into {target} with one value of its distribution column {}: one shard", quote_ident(&column)),
                            None,
                        )
                    } else {
                        p(
                            Routing::MultiShard,
                            format!("a multi-row INSERT into {target} with {} values of {}: one task per shard it touches", values.len(), quote_ident(&column)),
                            None,
                        )
                    };
                }
            }
        }
    }

    if dist.is_empty() {
        return if refs > 0 && local.is_empty() {
            p(
                Routing::Reference,
                "reads reference tables only: one task on one node".into(),
                None,
            )
        } else if refs > 0 {
            p(
                Routing::Local,
                "joins local and reference tables: runs on the coordinator".into(),
                None,
            )
        } else {
            p(
                Routing::Local,
                if shape.refs.is_empty() {
                    "reads no table".into()
                } else {
                    "reads only tables that stay local on the coordinator".into()
                },
                None,
            )
        };
    }
    let modifies = shape
        .write
        .as_ref()
        .is_some_and(|w| w.kind != WriteKind::Insert);
    if let Some(&l) = local.first() {
        let t = &shape.refs[l].table;
        return p(
            Routing::Repartition,
            format!("joins {t}, which stays local, with distributed tables: Citus reads the local table first and sends its rows to the workers"),
            Some(format!("make {t} a reference table")),
        );
    }
    // A correlated subquery over distributed tables must be correlated on their distribution column
    // with a co-located table outside it: Citus cannot plan it on its own first.
    for sub in shape.subqueries.iter().filter(|s| s.correlated) {
        let inside: Vec<&(usize, String, String)> =
            dist.iter().filter(|d| sub.refs.contains(&d.0)).collect();
        let Some(d) = inside.first() else { continue };
        let pushed = inside.iter().any(|d| {
            let c = classes.class(&Node::Col(d.0, d.1.clone()));
            c.is_some()
                && dist
                    .iter()
                    .filter(|o| !sub.refs.contains(&o.0))
                    .any(|o| o.2 == d.2 && classes.class(&Node::Col(o.0, o.1.clone())) == c)
        });
        if !pushed {
            let t = &shape.refs[d.0].table;
            return p(
                Routing::Unsupported,
                format!("a correlated subquery over {t} is not correlated on its distribution column {} with a co-located table outside it: Citus cannot plan it", quote_ident(&d.1)),
                Some(format!("correlate the subquery on {}, or write it as a join", quote_ident(&d.1))),
            );
        }
    }
    // Every distributed table in one co-location group, all joined on the distribution column.
    let groups: BTreeSet<&str> = dist.iter().map(|d| d.2.as_str()).collect();
    let first = &dist[0];
    let first_class = classes.class(&Node::Col(first.0, first.1.clone()));
    let mut apart: Option<&(usize, String, String)> = None;
    if groups.len() > 1 {
        apart = dist.iter().find(|d| d.2 != first.2);
    } else {
        for d in &dist[1..] {
            let c = classes.class(&Node::Col(d.0, d.1.clone()));
            if c.is_none() || c != first_class {
                apart = Some(d);
                break;
            }
        }
    }
    if let Some(d) = apart {
        let (a, b) = (&shape.refs[first.0].table, &shape.refs[d.0].table);
        let why = if d.2 != first.2 {
            format!("{a} and {b} are in different co-location groups")
        } else if a == b {
            format!(
                "reads {a} twice without joining the two on its distribution column {}",
                quote_ident(&first.1)
            )
        } else {
            format!(
                "{a} and {b} are not joined on their distribution columns ({} and {})",
                quote_ident(&first.1),
                quote_ident(&d.1)
            )
        };
        // What the query does join them on.
        let joined: Option<(String, String)> = shape.equal.iter().find_map(|(x, y)| match (x, y) {
            (Node::Col(i, ci), Node::Col(j, cj))
                if (*i == first.0 && *j == d.0) || (*i == d.0 && *j == first.0) =>
            {
                let (ca, cb) = if *i == first.0 { (ci, cj) } else { (cj, ci) };
                Some((ca.clone(), cb.clone()))
            }
            _ => None,
        });
        let fix = match joined {
            Some((ca, cb)) if a != b => Some(format!(
                "co-locate {a} on {} with {b} on {}, or make the smaller one a reference table",
                quote_ident(&ca),
                quote_ident(&cb)
            )),
            _ if a != b => Some(format!(
                "make {b} a reference table, or co-locate the two on the column they are joined by"
            )),
            _ => None,
        };
        // One of the two inside a subquery (not correlated: that was above): planned on its own first.
        let in_subquery = shape
            .subqueries
            .iter()
            .any(|s| s.refs.contains(&d.0) != s.refs.contains(&first.0));
        return if in_subquery {
            p(
                Routing::Repartition,
                format!("{why}: Citus plans the subquery on its own first (a subplan) and sends its rows through the coordinator"),
                fix,
            )
        } else if modifies {
            p(
                Routing::Unsupported,
                format!("{why}: Citus refuses a multi-shard UPDATE/DELETE that needs data moved"),
                fix,
            )
        } else {
            p(
                Routing::Repartition,
                format!("{why}: a repartition join or a subplan through the coordinator"),
                fix,
            )
        };
    }
    let key = Node::Col(first.0, first.1.clone());
    if let Some(v) = classes.bound(&key) {
        let tables: BTreeSet<String> = dist
            .iter()
            .map(|d| shape.refs[d.0].table.to_string())
            .collect();
        return p(
            Routing::Router,
            format!(
                "{} = {}: one shard{}",
                col_name(first.0, &first.1),
                value_text(&v),
                if tables.len() > 1 {
                    format!(
                        " ({} co-located)",
                        tables.into_iter().collect::<Vec<_>>().join(", ")
                    )
                } else {
                    String::new()
                }
            ),
            None,
        );
    }
    // A CTE PostgreSQL does not inline, over distributed tables: Citus runs it first, on its own.
    if let Some(r) = shape
        .materialized
        .iter()
        .find(|r| dist.iter().any(|d| r.contains(&d.0)))
    {
        let t = &shape.refs[r.start].table;
        return p(
            Routing::Repartition,
            format!("a CTE over {t} is read more than once (or MATERIALIZED): Citus plans it first as a subplan and sends its rows through the coordinator"),
            Some("read the CTE once, or write it as a subquery joined on the distribution column".into()),
        );
    }
    // A subquery over distributed tables that Citus cannot push down with the rest: with LIMIT, or
    // aggregating without grouping by (or being correlated on) the distribution column.
    for sub in &shape.subqueries {
        let inside: Vec<&(usize, String, String)> =
            dist.iter().filter(|d| sub.refs.contains(&d.0)).collect();
        let Some(d) = inside.first() else { continue };
        let t = &shape.refs[d.0].table;
        if sub.limit {
            return p(
                Routing::Repartition,
                format!("a subquery over {t} has a LIMIT: Citus runs it first as a subplan and sends its rows through the coordinator"),
                None,
            );
        }
        if sub.aggregate || !sub.group_by.is_empty() {
            let pushed = inside.iter().any(|d| {
                let c = classes.class(&Node::Col(d.0, d.1.clone()));
                c.is_some()
                    && (sub.group_by.iter().any(|g| classes.class(g) == c)
                        || shape
                            .refs
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| !sub.refs.contains(i))
                            .any(|(i, r)| {
                                let col = layout_column(layout, &r.table);
                                col.is_some_and(|col| classes.class(&Node::Col(i, col)) == c)
                            }))
            });
            if !pushed {
                return p(
                    Routing::Repartition,
                    format!("a subquery aggregates {t} without grouping by its distribution column {}: Citus computes it first as a subplan and sends its rows through the coordinator", quote_ident(&d.1)),
                    Some(format!("group the subquery by {}", quote_ident(&d.1))),
                );
            }
        }
    }
    // Not filtered on the distribution column: a filter on another column names a better one.
    let filtered: Option<String> = shape.equal.iter().find_map(|(x, y)| match (x, y) {
        (Node::Col(i, c), v) | (v, Node::Col(i, c))
            if !matches!(v, Node::Col(..)) && *i == first.0 && *c != first.1 =>
        {
            Some(c.clone())
        }
        _ => None,
    });
    let key_class = classes.class(&key);
    let in_list = shape
        .in_lists
        .iter()
        .any(|n| *n == key || (key_class.is_some() && classes.class(n) == key_class));
    let t = &shape.refs[first.0].table;
    let reason = if in_list {
        format!(
            "{} IN (…): one task for each shard the list touches",
            col_name(first.0, &first.1)
        )
    } else if dist.len() > 1 {
        format!("joined on their distribution columns, no filter on {}: co-located, every shard in parallel", quote_ident(&first.1))
    } else {
        format!(
            "no filter on the distribution column {} of {t}: every shard in parallel",
            quote_ident(&first.1)
        )
    };
    let fix = filtered.map(|c| {
        format!(
            "it filters {t} on {}: distributed on that column, it would be a single-shard query",
            quote_ident(&c)
        )
    });
    p(Routing::MultiShard, reason, fix)
}
