//! The application's queries: read them ([`read`]: the source's `pg_stat_statements`, a SQL file or a
//! CSV export), say what each one touches, filters and joins ([`analyze`]), predict how Citus routes
//! each one under a plan ([`Workload::route`]), and feed their joins and filters to the advisor as
//! weights ([`Workload::weights`]). [`explain`] measures the routing on a Citus target.
//!
//! A query's weight is its total execution time (calls × mean time) where the input has it, else its
//! calls. What does not parse is counted and listed, never fatal.

pub mod explain;
pub mod input;
mod parse;
mod routing;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use serde::Serialize;

pub use input::RawQuery;
pub use parse::WriteKind;
pub use routing::{Prediction, Routing};

use crate::advice::WorkloadWeights;
use crate::catalog::Catalog;
use crate::conninfo::ConnInfo;
use crate::error::Result;
use crate::ident::QualifiedName;
use crate::plan::Plan;
use parse::{Names, Node, Shape};

/// Where the workload comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkloadSource {
    /// The source database's `pg_stat_statements`.
    PgStatStatements,
    /// A SQL file (`;`-separated, `-- calls: N` weights) or a CSV export of pg_stat_statements.
    File(PathBuf),
}

/// Reads the statements of a workload; `source` is the source database (for `pg_stat_statements`).
pub async fn read(from: &WorkloadSource, source: &ConnInfo) -> Result<Vec<RawQuery>> {
    match from {
        WorkloadSource::File(path) => input::from_file(path),
        WorkloadSource::PgStatStatements => {
            let client = crate::connect::connect(source).await?;
            input::from_pg_stat_statements(&client).await
        }
    }
}

/// Whether the database `client` is connected to has the extension `name`.
async fn has_extension(
    client: &tokio_postgres::Client,
    side: crate::Side,
    name: &str,
) -> Result<bool> {
    let rows = crate::connect::query(
        client,
        side,
        &format!("looking for the extension {name}"),
        "SELECT 1 FROM pg_catalog.pg_extension WHERE extname = $1",
        &[(&name, postgres_types::Type::TEXT)],
    )
    .await?;
    Ok(!rows.is_empty())
}

/// A column of a table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ColumnRef {
    pub table: QualifiedName,
    pub column: String,
}

/// `column = constant` or `column = $n`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Filter {
    pub column: ColumnRef,
    /// The constant as written, or `$n`.
    pub value: String,
}

/// One query of the workload, as read and understood.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Query {
    pub query: String,
    pub calls: u64,
    /// Total execution time in ms where known, else the calls.
    pub weight: f64,
    pub origin: String,
    /// `-- key: value` notes of a SQL file (`expect: router` in the fixtures).
    pub notes: BTreeMap<String, String>,
    pub tables: Vec<QualifiedName>,
    pub filters: Vec<Filter>,
    /// `a = b` between columns of two table references (two of one table included).
    pub joins: Vec<(ColumnRef, ColumnRef)>,
    pub group_by: Vec<ColumnRef>,
    pub write: Option<WriteKind>,
    shape: Shape,
}

/// A statement that could not be read, with why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unparsed {
    pub query: String,
    pub calls: u64,
    pub origin: String,
    pub error: String,
}

/// A workload, parsed against a catalog.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Workload {
    pub queries: Vec<Query>,
    pub unparsed: Vec<Unparsed>,
}

/// Parses every statement against the catalog (names without a schema resolve to `public` first), on
/// all cores.
pub fn analyze(raw: Vec<RawQuery>, catalog: &Catalog) -> Workload {
    let names = Names::new(catalog);
    let parsed = parallel(&raw, |r| parse::parse(&r.query, &names));
    let mut w = Workload::default();
    for (r, p) in raw.into_iter().zip(parsed) {
        match p {
            Ok(shape) => w.queries.push(facts(r, shape)),
            Err(error) => w.unparsed.push(Unparsed {
                query: r.query,
                calls: r.calls,
                origin: r.origin,
                error,
            }),
        }
    }
    w
}

/// `f` over `items` on every core, results in order.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || items.len() < 256 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| {
                let f = &f;
                s.spawn(move || c.iter().map(f).collect::<Vec<R>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a workload thread panicked"))
            .collect()
    })
}

fn facts(r: RawQuery, shape: Shape) -> Query {
    let col = |n: &Node| match n {
        Node::Col(i, c) => Some(ColumnRef {
            table: shape.refs[*i].table.clone(),
            column: c.clone(),
        }),
        _ => None,
    };
    let mut filters = Vec::new();
    let mut joins = Vec::new();
    for (a, b) in &shape.equal {
        match (a, b) {
            (Node::Col(i, _), Node::Col(j, _)) if i != j => {
                joins.push((col(a).expect("a column"), col(b).expect("a column")))
            }
            (Node::Col(..), Node::Const(v)) | (Node::Const(v), Node::Col(..)) => {
                let c = col(if matches!(a, Node::Col(..)) { a } else { b });
                filters.push(Filter {
                    column: c.expect("a column"),
                    value: v.clone(),
                });
            }
            (Node::Col(..), Node::Param(p)) | (Node::Param(p), Node::Col(..)) => {
                let c = col(if matches!(a, Node::Col(..)) { a } else { b });
                filters.push(Filter {
                    column: c.expect("a column"),
                    value: format!("${p}"),
                });
            }
            _ => {}
        }
    }
    if let Some(w) = &shape.write {
        for row in &w.rows {
            for (c, v) in row {
                if let Some(v @ (Node::Const(_) | Node::Param(_))) = v {
                    filters.push(Filter {
                        column: ColumnRef {
                            table: shape.refs[w.target].table.clone(),
                            column: c.clone(),
                        },
                        value: match v {
                            Node::Param(p) => format!("${p}"),
                            Node::Const(s) => s.clone(),
                            Node::Col(..) => unreachable!(),
                        },
                    });
                }
            }
        }
    }
    let tables: BTreeSet<QualifiedName> = shape.refs.iter().map(|r| r.table.clone()).collect();
    let group_by = shape.group_by.iter().filter_map(col).collect();
    Query {
        weight: r.total_ms.unwrap_or(r.calls as f64),
        query: r.query,
        calls: r.calls,
        origin: r.origin,
        notes: r.notes,
        tables: tables.into_iter().collect(),
        filters,
        joins,
        group_by,
        write: shape.write.as_ref().map(|w| w.kind),
        shape,
    }
}

/// One query's predicted routing, as the reports show it.
#[derive(Debug, Clone, Serialize)]
pub struct RoutedQuery {
    pub query: String,
    pub calls: u64,
    pub weight: f64,
    pub routing: Routing,
    pub tables: Vec<String>,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    pub origin: String,
}

/// A workload's predicted routing under a plan: the `workload` section of the reports.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct WorkloadReport {
    /// Share of the weight that runs on one shard (router) or one node (reference tables only).
    pub single_shard_share: f64,
    /// Share of the weight that runs on many shards with no data moved between nodes.
    pub colocated_share: f64,
    /// Share of the weight of each routing.
    pub shares: BTreeMap<Routing, f64>,
    pub queries: Vec<RoutedQuery>,
    /// The heaviest queries that are neither single-shard nor co-located, with what would change them.
    pub holding_back: Vec<RoutedQuery>,
    pub unparsed: Vec<Unparsed>,
}

impl Workload {
    /// The join and filter edges, each with its share of the workload's weight, for the advisor.
    pub fn weights(&self) -> WorkloadWeights {
        let total: f64 = self.queries.iter().map(|q| q.weight).sum();
        if total <= 0.0 {
            return WorkloadWeights::default();
        }
        let mut joins: HashMap<(ColumnRef, ColumnRef), f64> = HashMap::new();
        let mut filters: HashMap<ColumnRef, f64> = HashMap::new();
        for q in &self.queries {
            let share = q.weight / total;
            let mut seen = BTreeSet::new();
            for (a, b) in &q.joins {
                if a.table == b.table && a.column == b.column {
                    continue;
                }
                let key = if a <= b {
                    (a.clone(), b.clone())
                } else {
                    (b.clone(), a.clone())
                };
                if seen.insert(key.clone()) {
                    *joins.entry(key).or_default() += share;
                }
            }
            // A single-row INSERT goes to one shard whatever the distribution column: its values say
            // nothing about which column to choose. Otherwise a query's share is split between the
            // columns it filters each table on (a lookup by two columns favours neither).
            if q.write == Some(WriteKind::Insert)
                && !q.shape.write.as_ref().is_some_and(|w| w.from_select)
            {
                continue;
            }
            let mut by_table: BTreeMap<&QualifiedName, BTreeSet<&ColumnRef>> = BTreeMap::new();
            for (a, b) in &q.shape.equal {
                if let (Node::Col(i, c), Node::Const(_) | Node::Param(_))
                | (Node::Const(_) | Node::Param(_), Node::Col(i, c)) = (a, b)
                {
                    if let Some(f) = q
                        .filters
                        .iter()
                        .find(|f| f.column.table == q.shape.refs[*i].table && &f.column.column == c)
                    {
                        by_table
                            .entry(&f.column.table)
                            .or_default()
                            .insert(&f.column);
                    }
                }
            }
            for cols in by_table.values() {
                for c in cols {
                    *filters.entry((*c).clone()).or_default() += share / cols.len() as f64;
                }
            }
        }
        let mut w = WorkloadWeights {
            joins: joins
                .into_iter()
                .map(|((a, b), s)| (a.table, a.column, b.table, b.column, s))
                .collect(),
            filters: filters
                .into_iter()
                .map(|(c, s)| (c.table, c.column, s))
                .collect(),
        };
        w.joins.sort_by(|x, y| {
            y.4.total_cmp(&x.4)
                .then_with(|| (&x.0, &x.1, &x.2, &x.3).cmp(&(&y.0, &y.1, &y.2, &y.3)))
        });
        w.filters.sort_by(|x, y| {
            y.2.total_cmp(&x.2)
                .then_with(|| (&x.0, &x.1).cmp(&(&y.0, &y.1)))
        });
        w
    }

    /// Each query's predicted routing under `plan`.
    pub fn predict(&self, plan: &Plan, catalog: &Catalog) -> Vec<Prediction> {
        let names = Names::new(catalog);
        let layout = routing::Layout::from_plan(plan);
        parallel(&self.queries, |q| {
            routing::predict(&q.shape, &layout, &names)
        })
    }

    /// The predicted routing of the whole workload under `plan` (the advised one, or an edited one).
    pub fn route(&self, plan: &Plan, catalog: &Catalog) -> WorkloadReport {
        let predictions = self.predict(plan, catalog);
        let total: f64 = self.queries.iter().map(|q| q.weight).sum();
        let mut shares: BTreeMap<Routing, f64> = BTreeMap::new();
        let mut queries = Vec::with_capacity(self.queries.len());
        for (q, p) in self.queries.iter().zip(predictions) {
            *shares.entry(p.routing).or_default() +=
                if total > 0.0 { q.weight / total } else { 0.0 };
            queries.push(RoutedQuery {
                query: q.query.clone(),
                calls: q.calls,
                weight: q.weight,
                routing: p.routing,
                tables: q.tables.iter().map(|t| t.to_string()).collect(),
                reason: p.reason,
                fix: p.fix,
                origin: q.origin.clone(),
            });
        }
        let share = |r: Routing| shares.get(&r).copied().unwrap_or(0.0);
        let mut holding_back: Vec<RoutedQuery> = queries
            .iter()
            .filter(|q| matches!(q.routing, Routing::Repartition | Routing::Unsupported))
            .cloned()
            .collect();
        holding_back.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        holding_back.truncate(10);
        WorkloadReport {
            single_shard_share: share(Routing::Router) + share(Routing::Reference),
            colocated_share: share(Routing::MultiShard),
            shares,
            queries,
            holding_back,
            unparsed: self.unparsed.clone(),
        }
    }
}
