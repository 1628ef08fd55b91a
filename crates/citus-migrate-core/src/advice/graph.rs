//! The decisions: which tables share a co-location group (following foreign-key chains to the entity at
//! their root), which become reference tables, which are distributed alone, which stay local.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::column::{self, singular, tenant_like, time_like, type_unfit, type_weak};
use super::{AdviceOptions, ColocationGroup, Kind};
use crate::catalog::{Catalog, Column, Table, TableKind};
use crate::ident::{quote_ident, QualifiedName};
use crate::util::{human_bytes, thousands};

pub(super) struct Decision {
    pub kind: Kind,
    pub column: Option<String>,
    pub group: Option<String>,
    pub reasons: Vec<String>,
}

pub(super) struct Decided {
    pub tables: Vec<Decision>,
    pub groups: Vec<ColocationGroup>,
    /// Tables that join a group through a parent: the column the target gets, by table index.
    pub added: HashMap<usize, super::AddedColumn>,
}

/// A column of a table, by the table's index in the catalog.
type Key = (usize, String);

struct Graph<'a> {
    cat: &'a Catalog,
    by_name: BTreeMap<QualifiedName, usize>,
    eligible: Vec<bool>,
    max_rows: i64,
    max_bytes: i64,
    opts: &'a AdviceOptions,
    shards: u32,
    /// For each table, the index of the table each of its foreign keys references (when in the catalog).
    fk_targets: Vec<Vec<Option<usize>>>,
    /// For each table, the link by name of each of its columns ([`Self::implied_link`]).
    implied: Vec<Vec<Option<Key>>>,
    /// For each table, the root of each of its columns and whether a name made a link on the way
    /// ([`Self::root`]), `None` for tables not eligible.
    roots: Vec<Vec<Option<(Key, bool)>>>,
    /// The workload's joins and filters by table index ([`super::WorkloadWeights`]).
    workload_joins: Vec<(Key, Key, f64)>,
    workload_filters: Vec<(Key, f64)>,
}

/// What [`Graph::implied_link`] looks up, built once: eligible tables by their key column's name
/// after its prefix, and by their lowercase name and its singular.
struct LinkIndex<'a> {
    keys: Vec<Option<&'a Column>>,
    by_prefix: HashMap<&'a str, Vec<usize>>,
    by_stem: HashMap<String, Vec<usize>>,
    /// Eligible tables by their key column's lowercase name, where that name is the table's own prefix
    /// and `id`/`key` (`w_id` of `warehouse`): the head of a name family ([`family_link`]).
    by_family_key: HashMap<String, Vec<usize>>,
}

impl<'a> Graph<'a> {
    fn new(
        cat: &'a Catalog,
        by_name: BTreeMap<QualifiedName, usize>,
        eligible: Vec<bool>,
        opts: &'a AdviceOptions,
        shards: u32,
    ) -> Self {
        let n = cat.tables.len();
        let max_rows = (0..n)
            .filter(|&i| eligible[i])
            .map(|i| cat.tables[i].rows())
            .max()
            .unwrap_or(0);
        let max_bytes = (0..n)
            .filter(|&i| eligible[i])
            .map(|i| cat.tables[i].total_bytes)
            .max()
            .unwrap_or(0);
        let fk_targets = cat
            .tables
            .iter()
            .map(|t| {
                t.foreign_keys
                    .iter()
                    .map(|f| by_name.get(&f.referenced_table).copied())
                    .collect()
            })
            .collect();
        let mut g = Graph {
            cat,
            by_name,
            eligible,
            max_rows,
            max_bytes,
            opts,
            shards,
            fk_targets,
            implied: Vec::new(),
            roots: Vec::new(),
            workload_joins: Vec::new(),
            workload_filters: Vec::new(),
        };
        let w = &opts.workload;
        g.workload_joins = w
            .joins
            .iter()
            .filter_map(|(a, x, b, y, s)| {
                Some((
                    (*g.by_name.get(a)?, x.clone()),
                    (*g.by_name.get(b)?, y.clone()),
                    *s,
                ))
            })
            .collect();
        g.workload_filters = w
            .filters
            .iter()
            .filter_map(|(a, x, s)| Some(((*g.by_name.get(a)?, x.clone()), *s)))
            .collect();
        let keys: Vec<Option<&'a Column>> = (0..n).map(|j| key_column(g.t(j))).collect();
        let mut by_prefix: HashMap<&'a str, Vec<usize>> = HashMap::new();
        let mut by_stem: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_family_key: HashMap<String, Vec<usize>> = HashMap::new();
        for j in (0..n).filter(|&j| g.eligible[j]) {
            if let Some(stem) = keys[j].and_then(|pc| strip_prefix(&pc.name)) {
                by_prefix.entry(stem).or_default().push(j);
            }
            if let Some(pc) = keys[j] {
                let lower = pc.name.to_ascii_lowercase();
                if let Some((p, "id" | "key")) = lower.split_once('_') {
                    if column::abbreviates(p, &g.t(j).name) {
                        by_family_key.entry(lower.clone()).or_default().push(j);
                    }
                }
            }
            let name = g.t(j).name.to_ascii_lowercase();
            let one = singular(&name);
            if one != name {
                by_stem.entry(one).or_default().push(j);
            }
            by_stem.entry(name).or_default().push(j);
        }
        let index = LinkIndex {
            keys,
            by_prefix,
            by_stem,
            by_family_key,
        };
        g.implied = (0..n)
            .map(|i| {
                g.t(i)
                    .columns
                    .iter()
                    .map(|c| g.find_implied_link(&index, i, &c.name))
                    .collect()
            })
            .collect();
        g.roots = g.all_roots();
        g
    }

    fn t(&self, i: usize) -> &'a Table {
        &self.cat.tables[i]
    }

    fn weight(&self, i: usize) -> f64 {
        self.t(i).total_bytes.max(8192) as f64
    }

    /// Small enough, in absolute size and next to the largest table, to be copied to every node.
    fn small(&self, i: usize) -> bool {
        let t = self.t(i);
        if t.total_bytes > self.opts.reference_max_bytes {
            return false;
        }
        if self.max_rows > 0 {
            (t.rows() as f64) <= self.opts.reference_max_share * self.max_rows as f64
        } else {
            (t.total_bytes as f64) <= self.opts.reference_max_share * self.max_bytes as f64
        }
    }

    fn usable(&self, i: usize, col: &str) -> bool {
        self.t(i)
            .column(col)
            .is_some_and(|c| type_unfit(c).is_none())
    }

    /// A table the name of `col` points at (`company_id` → `companies`), when no foreign key says so:
    /// its key column ([`key_column`]) of a compatible type.
    fn implied_link(&self, i: usize, col: &str) -> Option<&Key> {
        let ci = self.t(i).columns.iter().position(|c| c.name == col)?;
        self.implied[i][ci].as_ref()
    }

    fn find_implied_link(&self, index: &LinkIndex<'_>, i: usize, col: &str) -> Option<Key> {
        let t = self.t(i);
        if t.foreign_keys
            .iter()
            .any(|f| f.columns.iter().any(|c| c == col))
        {
            return None;
        }
        let c = t.column(col)?;
        if let Some(k) = prefixed_link(index, i, c).or_else(|| family_link(index, t, i, c)) {
            return Some(k);
        }
        let lower = col.to_ascii_lowercase();
        let stem = lower
            .strip_suffix("_id")
            .or_else(|| lower.strip_suffix("_key"))?;
        let mut found: Vec<usize> = index
            .by_stem
            .get(stem)?
            .iter()
            .copied()
            .filter(|&j| j != i)
            .filter(|&j| index.keys[j].is_some_and(|pc| column::link_compatible(c, pc)))
            .collect();
        // Prefer the same schema.
        found.sort_by_key(|&j| (self.t(j).schema != t.schema, j));
        let j = *found.first()?;
        Some((j, index.keys[j]?.name.clone()))
    }

    /// The next step from the column `(i, col)` along foreign keys (else a link by name, flagged).
    fn next(&self, i: usize, col: &str) -> Option<(Key, bool)> {
        let t = self.t(i);
        let fk = t
            .foreign_keys
            .iter()
            .zip(&self.fk_targets[i])
            .filter_map(|(f, &j)| {
                let p = f.columns.iter().position(|c| c == col)?;
                j.filter(|&j| self.eligible[j]).map(|j| (f, p, j))
            })
            .min_by(|a, b| (a.1, &a.0.name).cmp(&(b.1, &b.0.name)));
        match fk {
            Some((f, p, j)) => Some(((j, f.referenced_columns[p].clone()), false)),
            None => self.implied_link(i, col).map(|k| (k.clone(), true)),
        }
    }

    /// The root of `(i, col)`: the column at the end of its chain of foreign keys, and whether a
    /// name (not a key) made a link on the way. Computed once for every column of every eligible
    /// table ([`Self::all_roots`]).
    fn root(&self, i: usize, col: &str) -> (Key, bool) {
        let ci = self.t(i).columns.iter().position(|c| c.name == col);
        match ci.and_then(|ci| self.roots[i][ci].as_ref()) {
            Some(r) => r.clone(),
            None => self.walk(i, col),
        }
    }

    /// Follows the chain from `(i, col)` until it ends or comes back to a column already seen.
    fn walk(&self, i: usize, col: &str) -> (Key, bool) {
        let mut cur: Key = (i, col.to_string());
        let mut seen = BTreeSet::new();
        let mut by_name = false;
        while seen.insert(cur.clone()) {
            let next = self.next(cur.0, &cur.1).map(|(k, named)| {
                by_name |= named;
                k
            });
            match next {
                Some(n) if !seen.contains(&n) => cur = n,
                _ => break,
            }
        }
        (cur, by_name)
    }

    /// [`Self::walk`] for every column of every eligible table, each step of each chain taken once:
    /// a column off a cycle has the root of the column it leads to; a column on a cycle ends at the
    /// one before it on the cycle.
    fn all_roots(&self) -> Vec<Vec<Option<(Key, bool)>>> {
        // Columns by number; those named by a foreign key but missing from their table get numbers too.
        let mut ids: HashMap<(usize, &'a str), usize> = HashMap::new();
        let mut nodes: Vec<Key> = Vec::new();
        let mut intern = |k: (usize, &'a str), nodes: &mut Vec<Key>| -> usize {
            *ids.entry(k).or_insert_with(|| {
                nodes.push((k.0, k.1.to_string()));
                nodes.len() - 1
            })
        };
        let n = self.cat.tables.len();
        let starts: Vec<Vec<Option<usize>>> = (0..n)
            .map(|i| {
                self.t(i)
                    .columns
                    .iter()
                    .map(|c| self.eligible[i].then(|| intern((i, &c.name), &mut nodes)))
                    .collect()
            })
            .collect();
        // The next node of each node (and whether a name made that link), found as nodes appear.
        let mut next: Vec<Option<(usize, bool)>> = Vec::new();
        let mut k = 0;
        while k < nodes.len() {
            let (i, col) = nodes[k].clone();
            let step = self.next(i, &col);
            let step = step.map(|((j, c), named)| {
                let id = match self.t(j).columns.iter().find(|x| x.name == c) {
                    Some(x) => intern((j, &x.name), &mut nodes),
                    None => {
                        let f = self
                            .t(i)
                            .foreign_keys
                            .iter()
                            .find_map(|f| f.referenced_columns.iter().find(|x| **x == c));
                        match f {
                            Some(x) => intern((j, x), &mut nodes),
                            None => unreachable!("a step leads to a column or a key's column"),
                        }
                    }
                };
                (id, named)
            });
            next.push(step);
            k += 1;
        }
        // Resolve: 0 open, 1 on the current path, 2 done.
        let m = nodes.len();
        let mut state = vec![0u8; m];
        let mut result: Vec<Option<(usize, bool)>> = vec![None; m];
        for s in 0..m {
            if state[s] != 0 {
                continue;
            }
            let mut path: Vec<usize> = Vec::new();
            let mut cur = s;
            let tail: Option<usize> = loop {
                if state[cur] == 2 {
                    break Some(cur);
                }
                if state[cur] == 1 {
                    // A cycle: from `cur`'s place on the path to its end.
                    let at = path.iter().position(|&x| x == cur).unwrap_or(0);
                    let cycle = &path[at..];
                    let named = cycle.iter().any(|&x| next[x].is_some_and(|(_, f)| f));
                    for (p, &x) in cycle.iter().enumerate() {
                        let before = if p == 0 {
                            cycle[cycle.len() - 1]
                        } else {
                            cycle[p - 1]
                        };
                        result[x] = Some((before, named));
                        state[x] = 2;
                    }
                    path.truncate(at);
                    break None;
                }
                state[cur] = 1;
                path.push(cur);
                match next[cur] {
                    Some((nx, _)) => cur = nx,
                    None => {
                        result[cur] = Some((cur, false));
                        state[cur] = 2;
                        path.pop();
                        break None;
                    }
                }
            };
            let _ = tail;
            for &x in path.iter().rev() {
                let (nx, named) = next[x].expect("a node on a path has a next");
                let (r, rn) = result[nx].expect("resolved after its next");
                result[x] = Some((r, named || rn));
                state[x] = 2;
            }
        }
        starts
            .iter()
            .map(|row| {
                row.iter()
                    .map(|id| {
                        id.map(|id| {
                            let (r, named) = result[id].expect("every node is resolved");
                            (nodes[r].clone(), named)
                        })
                    })
                    .collect()
            })
            .collect()
    }
}

/// The column that identifies a row of table `t`, for links by name: its single-column primary
/// key; without a primary key, a single-column unique constraint or plain unique index, else a
/// usable column the statistics find unique (every value distinct: schemas loaded without their
/// keys, like TPC-H's plain DDL), the first key-like one (`…id`, `…key`) by position.
fn key_column(t: &Table) -> Option<&Column> {
    if let Some(pk) = &t.primary_key {
        return (pk.columns.len() == 1)
            .then(|| t.column(&pk.columns[0]))
            .flatten();
    }
    let declared = t
        .unique_constraints
        .iter()
        .map(|k| &k.columns)
        .chain(
            t.indexes
                .iter()
                .filter(|i| i.unique && !i.partial && !i.expressions)
                .map(|i| &i.columns),
        )
        .find(|cols| cols.len() == 1)
        .and_then(|cols| t.column(&cols[0]));
    if declared.is_some() {
        return declared;
    }
    let unique = |c: &&Column| {
        type_unfit(c).is_none()
            && c.stats.as_ref().is_some_and(|s| s.n_distinct == -1.0)
            && t.rows() > 0
    };
    let key_like = |c: &&Column| {
        let n = c.name.to_ascii_lowercase();
        n.ends_with("id") || n.ends_with("key")
    };
    t.columns.iter().filter(unique).find(key_like)
}

/// Column-prefix conventions (`l_orderkey` → `orders.o_orderkey`): another table whose key column
/// ([`key_column`]) has the same name after its short prefix, and a compatible type.
fn prefixed_link(index: &LinkIndex<'_>, i: usize, c: &Column) -> Option<Key> {
    let stem = strip_prefix(&c.name)?;
    index.by_prefix.get(stem)?.iter().find_map(|&j| {
        let pc = index.keys[j]?;
        (j != i && pc.name != c.name && column::link_compatible(c, pc))
            .then(|| (j, pc.name.clone()))
    })
}

/// Name families of prefixed columns (TPC-C's `d_w_id`, `c_w_id`, `ol_supply_w_id` → `warehouse.w_id`):
/// a column that carries its own table's prefix and ends with another table's key column, when that key
/// is that table's prefix and `id`/`key`. The longest such ending wins; ties go to the lowest table.
fn family_link(index: &LinkIndex<'_>, t: &Table, i: usize, c: &Column) -> Option<Key> {
    let lower = c.name.to_ascii_lowercase();
    let fam = column::family(&lower, &t.name)?;
    let endings = std::iter::once(fam).chain(fam.match_indices('_').map(|(k, _)| &fam[k + 1..]));
    endings
        .filter(|e| e.contains('_'))
        .find_map(|e| {
            index
                .by_family_key
                .get(e)?
                .iter()
                .copied()
                .find(|&j| j != i && index.keys[j].is_some_and(|pc| column::link_compatible(c, pc)))
        })
        .and_then(|j| Some((j, index.keys[j]?.name.clone())))
}

/// `l_orderkey` → `orderkey`: the part after a prefix of at most three letters, when what is left is a
/// meaningful key name.
fn strip_prefix(col: &str) -> Option<&str> {
    let (p, rest) = col.split_once('_')?;
    (p.len() <= 3
        && p.chars().all(|c| c.is_ascii_alphabetic())
        && rest.len() >= 4
        && !matches!(rest, "id" | "key" | "code" | "name" | "date" | "type"))
    .then_some(rest)
}

/// One group under consideration: its root key and the tables that carry it.
struct Proposal {
    root: Key,
    leader_is_root: bool,
    members: Vec<(Key, bool)>,
    score: f64,
}

pub(super) fn decide(cat: &Catalog, opts: &AdviceOptions, shards: u32) -> Decided {
    let n = cat.tables.len();
    let by_name: BTreeMap<QualifiedName, usize> = cat
        .tables
        .iter()
        .enumerate()
        .map(|(i, t)| (t.qualified(), i))
        .collect();
    let inh_parents: BTreeSet<QualifiedName> = cat
        .tables
        .iter()
        .filter(|t| t.table_kind == TableKind::InheritanceChild)
        .filter_map(|t| t.parent.clone())
        .collect();
    let eligible: Vec<bool> = cat
        .tables
        .iter()
        .map(|t| {
            matches!(
                t.table_kind,
                TableKind::Plain | TableKind::PartitionedParent
            ) && !inh_parents.contains(&t.qualified())
        })
        .collect();
    let g = Graph::new(cat, by_name, eligible, opts, shards);

    // Which root key each usable column of each table leads to.
    let mut carriers: BTreeMap<Key, Vec<(Key, bool)>> = BTreeMap::new();
    for i in (0..n).filter(|&i| g.eligible[i]) {
        let t = g.t(i);
        for c in t.columns.iter().filter(|c| type_unfit(c).is_none()) {
            let (root, by_name) = g.root(i, &c.name);
            if root.0 != i {
                carriers
                    .entry(root)
                    .or_default()
                    .push(((i, c.name.clone()), by_name));
            }
        }
    }

    // Tables that share a column no key links (the same name, or the same name after each table's own
    // prefix — `d_w_id`, `c_w_id` —, and the same type, at the end of no chain): when the name is
    // tenant-like or leads composite primary keys, that column is a root of its own. Such roots get
    // indexes past the tables' (`n + k`).
    let mut shared: BTreeMap<(String, String), Vec<(usize, String)>> = BTreeMap::new();
    for i in (0..n).filter(|&i| g.eligible[i]) {
        let t = g.t(i);
        for c in t
            .columns
            .iter()
            .filter(|c| type_unfit(c).is_none() && c.name != "id")
        {
            if g.root(i, &c.name).0 == (i, c.name.clone())
                && !carriers.contains_key(&(i, c.name.clone()))
            {
                let lower = c.name.to_ascii_lowercase();
                let fam = column::family(&lower, &t.name)
                    .unwrap_or(&lower)
                    .to_string();
                shared
                    .entry((fam, column::type_without_typmod(&c.type_name).to_string()))
                    .or_default()
                    .push((i, c.name.clone()));
            }
        }
    }
    let mut virtual_roots: Vec<String> = Vec::new();
    for ((name, _), ts) in shared {
        let leads = ts
            .iter()
            .filter(|(i, c)| {
                g.t(*i)
                    .primary_key
                    .as_ref()
                    .is_some_and(|k| k.columns.len() > 1 && &k.columns[0] == c)
            })
            .count();
        let tables: BTreeSet<usize> = ts.iter().map(|(i, _)| *i).collect();
        if tables.len() >= 2 && (tenant_like(&name) || leads >= 2) {
            let key = (n + virtual_roots.len(), name.clone());
            carriers.insert(key, ts.into_iter().map(|k| (k, true)).collect());
            virtual_roots.push(name);
        }
    }

    let mut decisions: Vec<Option<Decision>> = (0..n).map(|_| None).collect();
    let mut groups: Vec<ColocationGroup> = Vec::new();
    let mut group_names: BTreeSet<String> = BTreeSet::new();

    // Each root with the tables that may join its group, and the roots each table could join.
    let roots: Vec<(Key, Vec<(Key, bool)>)> = carriers
        .into_iter()
        .map(|(root, cs)| {
            let cands = candidates(&g, &root, &cs);
            (root, cands)
        })
        .collect();
    let mut touches: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (r, (root, cands)) in roots.iter().enumerate() {
        if root.0 < n {
            touches[root.0].push(r);
        }
        for (k, _) in cands {
            touches[k.0].push(r);
        }
    }

    // Greedy: take the best group of the tables still open, until none is worth forming. A proposal
    // changes only when one of its tables is decided, so only those are made again after each pick.
    let mut proposals: Vec<Option<Proposal>> = roots
        .iter()
        .map(|(root, cands)| propose(&g, root, cands, &decisions))
        .collect();
    let mut dirty = vec![false; roots.len()];
    loop {
        let mut best: Option<(usize, f64)> = None;
        for (r, p) in proposals.iter().enumerate() {
            let Some(p) = p else { continue };
            if best.is_none_or(|(_, b)| p.score > b) {
                best = Some((r, p.score));
            }
        }
        let Some(p) = best.and_then(|(r, _)| proposals[r].take()) else {
            break;
        };
        let (ri, rcol) = &p.root;
        let is_virtual = *ri >= n;
        let mut tables: Vec<Key> = Vec::new();
        if p.leader_is_root {
            tables.push(p.root.clone());
        }
        let mut members: Vec<(Key, bool)> = p.members.clone();
        members.sort_by(|a, b| {
            g.weight(b.0 .0)
                .total_cmp(&g.weight(a.0 .0))
                .then_with(|| g.t(a.0 .0).qualified().cmp(&g.t(b.0 .0).qualified()))
        });
        tables.extend(members.iter().map(|m| m.0.clone()));
        let name = unique_name(
            &mut group_names,
            if is_virtual { rcol } else { &g.t(*ri).name },
            rcol,
            p.leader_is_root,
        );
        let root_ref = if is_virtual {
            format!("the shared column {}", quote_ident(rcol))
        } else {
            format!("{}.{}", g.t(*ri).qualified(), quote_ident(rcol))
        };
        let list = |v: &[Key]| {
            let mut names: Vec<String> = v
                .iter()
                .take(4)
                .map(|k| g.t(k.0).qualified().to_string())
                .collect();
            if v.len() > 4 {
                names.push(format!("{} more", v.len() - 4));
            }
            names.join(", ")
        };
        let member_keys: Vec<Key> = members.iter().map(|m| m.0.clone()).collect();
        let mut via: Vec<String> = member_keys.iter().map(|k| quote_ident(&k.1)).collect();
        via.sort();
        via.dedup();
        let via = via.join(" / ");
        let reason = if p.leader_is_root {
            format!("{} {} to {root_ref} through {via} ({}): co-located so their joins and foreign keys stay on one node", tables_word(member_keys.len()), if member_keys.len() == 1 { "leads" } else { "lead" }, list(&member_keys))
        } else {
            format!(
                "{} {} {root_ref} as {via} ({}): co-located on it",
                tables_word(member_keys.len()),
                if member_keys.len() == 1 {
                    "carries"
                } else {
                    "carry"
                },
                list(&member_keys)
            )
        };
        let leader = tables[0].clone();
        if p.leader_is_root {
            decisions[*ri] = Some(Decision {
                kind: Kind::Distributed,
                column: Some(rcol.clone()),
                group: Some(name.clone()),
                reasons: vec![format!(
                    "root entity: {} {} to it through {via} ({}); distributed on {} and leads co-location group {name:?}",
                    tables_word(member_keys.len()),
                    if member_keys.len() == 1 { "leads" } else { "lead" },
                    list(&member_keys),
                    quote_ident(rcol)
                )],
            });
        }
        for ((mi, mc), via_name) in &members {
            let fk_first = g
                .t(*mi)
                .foreign_keys
                .iter()
                .any(|f| f.columns.iter().any(|c| c == mc));
            let how = if is_virtual {
                "no foreign key links it, but it shares"
            } else if *via_name && fk_first {
                "its foreign keys and then a column's name lead to"
            } else if *via_name {
                "its name suggests it refers to"
            } else {
                "its foreign keys lead to"
            };
            let mut reasons = vec![format!(
                "{}: {how} {root_ref}; co-located with {} in group {name:?}",
                quote_ident(mc),
                g.t(leader.0).qualified()
            )];
            if *mi == leader.0 {
                reasons[0] = format!(
                    "{}: {how} {root_ref}; the largest table of group {name:?}, its leader",
                    quote_ident(mc)
                );
            }
            decisions[*mi] = Some(Decision {
                kind: Kind::Distributed,
                column: Some(mc.clone()),
                group: Some(name.clone()),
                reasons,
            });
        }
        let column_type = g
            .t(leader.0)
            .column(&leader.1)
            .map(|c| c.type_name.clone())
            .unwrap_or_default();
        groups.push(ColocationGroup {
            name,
            column_type,
            leader: g.t(leader.0).qualified(),
            tables: tables.iter().map(|k| g.t(k.0).qualified()).collect(),
            reason,
        });
        let decided = members
            .iter()
            .map(|m| m.0 .0)
            .chain(p.leader_is_root.then_some(*ri));
        let mut again: Vec<usize> = Vec::new();
        for t in decided {
            for &r in &touches[t] {
                if !dirty[r] {
                    dirty[r] = true;
                    again.push(r);
                }
            }
        }
        for r in again {
            dirty[r] = false;
            proposals[r] = propose(&g, &roots[r].0, &roots[r].1, &decisions);
        }
    }

    // Who joins each table, by foreign key, by a link by name or in the workload's queries: (table, column).
    let mut joined_by: Vec<Vec<(Key, &str)>> = vec![Vec::new(); n];
    for a in (0..n).filter(|&a| g.eligible[a]) {
        for (f, b) in g.t(a).foreign_keys.iter().zip(&g.fk_targets[a]) {
            if let (Some(b), Some(c)) = (*b, f.columns.first()) {
                joined_by[b].push(((a, c.clone()), "referenced by"));
            }
        }
        for (c, link) in g.t(a).columns.iter().zip(&g.implied[a]) {
            if let Some((b, _)) = link {
                joined_by[*b].push(((a, c.name.clone()), "named by"));
            }
        }
    }
    for ((a, ca), (b, cb), _) in &g.workload_joins {
        joined_by[*b].push(((*a, ca.clone()), "joined in the workload's queries by"));
        joined_by[*a].push(((*b, cb.clone()), "joined in the workload's queries by"));
    }

    // What no group took: small → reference, otherwise distributed on its own best column.
    for i in 0..n {
        if !g.eligible[i] || decisions[i].is_some() {
            continue;
        }
        // A dimension of a group: tables of a co-location group join it on its key, but the group is
        // distributed on another column (the item catalog every warehouse's stock and order lines
        // name). Only a copy on every node keeps those joins on one node, so it becomes a reference
        // table whenever it fits one, whatever its share of the rows: that share changes as the
        // group's data grows, the answer must not.
        let joiners: Vec<&(Key, &str)> = joined_by[i]
            .iter()
            .filter(|((a, c), _)| {
                *a != i
                    && decisions[*a].as_ref().is_some_and(|d| {
                        d.kind == Kind::Distributed
                            && d.column.as_deref() != Some(c.as_str())
                            && d.group.as_ref().is_some_and(|name| {
                                groups
                                    .iter()
                                    .any(|x| &x.name == name && x.tables.len() >= 2)
                            })
                    })
            })
            .collect();
        if let Some(((a, c), how)) = joiners.first() {
            let t = g.t(i);
            if t.total_bytes <= g.opts.reference_max_bytes && !bookkeeping(t) {
                let group = decisions[*a]
                    .as_ref()
                    .and_then(|d| d.group.clone())
                    .unwrap_or_default();
                decisions[i] = Some(Decision {
                    kind: Kind::Reference,
                    column: None,
                    group: None,
                    reasons: vec![format!(
                        "{} rows, {}, {} {} ({}{}) of group {group:?}, which is distributed on another column → reference table, so that those joins stay on one node (at most {}: a copy fits on every node)",
                        thousands(t.rows()),
                        human_bytes(t.total_bytes),
                        how,
                        g.t(*a).qualified(),
                        quote_ident(c),
                        if joiners.len() > 1 { format!(" and {} more", joiners.len() - 1) } else { String::new() },
                        human_bytes(g.opts.reference_max_bytes)
                    )],
                });
                continue;
            }
        }
        let t = g.t(i);
        let size = format!(
            "{} rows, {}",
            thousands(t.rows()),
            human_bytes(t.total_bytes)
        );
        if g.small(i) && bookkeeping(t) {
            decisions[i] = Some(Decision {
                kind: Kind::Local,
                column: None,
                group: None,
                reasons: vec![format!("{size}: a framework's migration bookkeeping table, linked to no other table: stays local on the coordinator (the framework reads and writes it during deploys; nothing joins it, so copies on every node would only slow those writes)")],
            });
            continue;
        }
        // Small and linked to nothing: a copy on every node, unless the application rewrites its rows
        // over and over (then every write would be a two-phase commit on every node).
        let refs = referencing(&g, i);
        if g.small(i) && !(refs.is_empty() && write_hot(t)) {
            let why = if refs.is_empty() {
                format!("{size}: small and carries no distribution key of another table → reference table (joins with every table on any node)")
            } else {
                format!("{size}, referenced by {refs}: small and carries no tenant/entity key → reference table")
            };
            decisions[i] = Some(Decision {
                kind: Kind::Reference,
                column: None,
                group: None,
                reasons: vec![why],
            });
            continue;
        }
        decisions[i] = Some(alone(&g, i, &size, &mut group_names, &mut groups));
    }

    let added = through_parents(&g, &mut decisions, &mut groups);
    repair(&g, &mut decisions, &mut groups);

    // Tables that cannot move, and partitions (which follow their parent).
    let mut out: Vec<Decision> = Vec::with_capacity(n);
    for (i, d) in decisions.into_iter().enumerate() {
        if let Some(d) = d {
            out.push(d);
            continue;
        }
        let t = g.t(i);
        let why = match t.table_kind {
            TableKind::Partition => String::new(),
            TableKind::InheritanceChild => format!("inherits from {}: Citus does not support table inheritance, so it stays local", t.parent.as_ref().map(|p| p.to_string()).unwrap_or_default()),
            TableKind::Foreign => "a foreign table: stays local on the coordinator".into(),
            TableKind::MaterializedView => "a materialized view: stays local on the coordinator (refresh it there)".into(),
            _ if inh_parents.contains(&t.qualified()) => "has inheritance children: Citus does not support table inheritance, so it stays local".into(),
            _ => "no column can be a distribution column: stays local".into(),
        };
        out.push(Decision {
            kind: Kind::Local,
            column: None,
            group: None,
            reasons: vec![why],
        });
    }
    for i in 0..n {
        let t = g.t(i);
        if t.table_kind != TableKind::Partition {
            continue;
        }
        let parent = t.parent.as_ref().and_then(|p| g.by_name.get(p)).copied();
        let (kind, column, group) = match parent {
            Some(p) => (out[p].kind, out[p].column.clone(), out[p].group.clone()),
            None => (Kind::Local, None, None),
        };
        let pname = t.parent.as_ref().map(|p| p.to_string()).unwrap_or_default();
        out[i] = Decision {
            kind,
            column,
            group,
            reasons: vec![format!("partition of {pname}: follows its parent")],
        };
    }
    Decided {
        tables: out,
        groups,
        added,
    }
}

/// A group (often of one table) whose tables' every foreign key to a distributed table outside it leads
/// into one other group, on rows that are not that group's key: its tables reach that group's tenant
/// only through parents. They join that group on a column the target gets and the copy fills from
/// each one's parent row (Citus docs, "migrating an existing app": add the tenant column and backfill
/// it), when each has such a key, none has that column already and nothing but the group's own
/// tables references them.
fn through_parents(
    g: &Graph<'_>,
    d: &mut [Option<Decision>],
    groups: &mut Vec<ColocationGroup>,
) -> HashMap<usize, super::AddedColumn> {
    let mut added = HashMap::new();
    // Each group's size and its distributed tables, read once (a schema of thousands of tables has
    // thousands of groups), kept up to date as groups move.
    let mut sizes: HashMap<String, usize> = groups
        .iter()
        .map(|x| (x.name.clone(), x.tables.len()))
        .collect();
    let mut members_of: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, x) in d.iter().enumerate() {
        if let Some(Decision {
            kind: Kind::Distributed,
            group: Some(name),
            ..
        }) = x
        {
            members_of.entry(name.clone()).or_default().push(i);
        }
    }
    // Every key of table `i` into a distributed table outside its own group `own`: (foreign key,
    // parent, the parent's group and column).
    let into = |i: usize, own: &str, d: &[Option<Decision>]| {
        let mut v: Vec<(String, usize, String, String)> = Vec::new();
        for (f, b) in g.t(i).foreign_keys.iter().zip(&g.fk_targets[i]) {
            let Some(b) = *b else { continue };
            let Some(db) = &d[b] else { continue };
            if b == i || db.kind != Kind::Distributed {
                continue;
            }
            let (Some(gb), Some(cb)) = (db.group.clone(), db.column.clone()) else {
                continue;
            };
            if gb != own {
                v.push((f.name.clone(), b, gb, cb));
            }
        }
        v
    };
    // Singles first, then whole groups whose every table hangs under one other group (a project's
    // tasks and its managers' assignments, grouped on the project, under the account's group).
    let names: Vec<String> = groups.iter().map(|x| x.name.clone()).collect();
    for own in names {
        let Some(members) = members_of.get(&own).cloned() else {
            continue;
        };
        if sizes.get(&own) != Some(&members.len()) {
            continue;
        }
        // Nothing references its tables but the group's other tables.
        let names: Vec<QualifiedName> = members.iter().map(|&i| g.t(i).qualified()).collect();
        let referenced_otherwise = members.iter().any(|&i| {
            g.t(i)
                .referenced_by
                .iter()
                .any(|r| r.table == g.t(i).qualified() || !names.contains(&r.table))
        });
        if referenced_otherwise {
            continue;
        }
        let keys: Vec<Vec<(String, usize, String, String)>> =
            members.iter().map(|&i| into(i, &own, d)).collect();
        let Some((_, _, group, column)) = keys.first().and_then(|k| k.first()).cloned() else {
            continue;
        };
        let one_group = keys
            .iter()
            .all(|k| !k.is_empty() && k.iter().all(|x| x.2 == group && x.3 == column));
        if !one_group
            || sizes.get(&group).is_none_or(|&n| n < 2)
            || members.iter().any(|&i| g.t(i).column(&column).is_some())
        {
            continue;
        }
        groups.retain(|x| x.name != own);
        if let Some(x) = groups.iter_mut().find(|x| x.name == group) {
            x.tables.extend(members.iter().map(|&i| g.t(i).qualified()));
        }
        sizes.remove(&own);
        *sizes.entry(group.clone()).or_default() += members.len();
        members_of.remove(&own);
        members_of
            .entry(group.clone())
            .or_default()
            .extend(&members);
        for (&i, k) in members.iter().zip(&keys) {
            let (fk, parent, _, _) = &k[0];
            let parent_name = g.t(*parent).qualified();
            let mut reasons = vec![format!(
                "reaches group {group} only through its foreign key {} to {parent_name}, distributed on {}: \
                 the target gets {} filled by the copy from {parent_name}'s row → distributed on it, \
                 co-located with {group} (its joins and foreign keys to the group stay on one node)",
                quote_ident(fk),
                quote_ident(&column),
                quote_ident(&column),
            )];
            if let Some(di) = &d[i] {
                reasons.extend(di.reasons.iter().map(|r| format!("otherwise: {r}")));
            }
            d[i] = Some(Decision {
                kind: Kind::Distributed,
                column: Some(column.clone()),
                group: Some(group.clone()),
                reasons,
            });
            added.insert(
                i,
                super::AddedColumn {
                    column: column.clone(),
                    through: vec![fk.clone()],
                    from_column: Some(column.clone()),
                },
            );
        }
    }
    added
}

/// The tables that may join the group of `root`, each once (in the order `cs` first names them) with
/// the column it carries the root through.
fn candidates(g: &Graph<'_>, root: &Key, cs: &[(Key, bool)]) -> Vec<(Key, bool)> {
    let mut order: Vec<usize> = Vec::new();
    let mut by_table: HashMap<usize, Vec<&(Key, bool)>> = HashMap::new();
    for c in cs.iter().filter(|c| c.0 .0 != root.0) {
        let v = by_table.entry(c.0 .0).or_default();
        if v.is_empty() {
            order.push(c.0 .0);
        }
        v.push(c);
    }
    order
        .iter()
        .map(|i| {
            // A table that carries the root through several columns: prefer the one in its primary key.
            let t = g.t(*i);
            let in_pk = |c: &str| {
                t.primary_key
                    .as_ref()
                    .is_some_and(|p| p.columns.iter().any(|x| x == c))
            };
            // Then the most direct one: `h_w_id` (the row's own warehouse) before `h_c_w_id` (its
            // customer's), by the fewest name parts.
            by_table[i]
                .iter()
                .max_by_key(|(o, _)| {
                    (
                        leads_primary_key(t, &o.1),
                        in_pk(&o.1),
                        std::cmp::Reverse(o.1.matches('_').count()),
                        std::cmp::Reverse(o.1.clone()),
                    )
                })
                .map(|c| (*c).clone())
                .expect("a table in the order has a column")
        })
        .collect()
}

/// The group the tables of `cands` ([`candidates`] of `root`) still open would form, and its score.
fn propose(
    g: &Graph<'_>,
    root: &Key,
    cands: &[(Key, bool)],
    decided: &[Option<Decision>],
) -> Option<Proposal> {
    let (ri, rcol) = root;
    let members: Vec<(Key, bool)> = cands
        .iter()
        .filter(|(k, _)| decided[k.0].is_none())
        .cloned()
        .collect();
    // A root past the tables is a shared column name, not a table.
    let is_table = *ri < g.cat.tables.len();
    let root_open = is_table && g.eligible[*ri] && decided[*ri].is_none() && g.usable(*ri, rcol);
    let tenant_table = is_table && tenant_like(&format!("{}_id", singular(&g.t(*ri).name)));
    let tenant =
        tenant_table || tenant_like(rcol) || members.iter().any(|(k, _)| tenant_like(&k.1));
    // One table that carries the root forms a group with it when the root is too big for a reference
    // table, or when the root's name says it is the tenant (tenants and their questions: the tenant
    // pattern with one tenant table so far; the key check below still wants no key to change).
    let valid =
        members.len() >= 2 || (members.len() == 1 && root_open && (!g.small(*ri) || tenant_table));
    if !valid {
        return None;
    }
    // Too few distinct keys for the shards (a country, a status…) is no entity to shard by, unless the
    // names say it is the tenant.
    let card = members
        .iter()
        .map(|(k, _)| k)
        .chain(root_open.then_some(root))
        .filter_map(|k| column::distinct(g.t(k.0), g.t(k.0).column(&k.1)?))
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    // Members the root owns: their composite primary key leads with the group's column (a district
    // keyed (d_w_id, d_id) under its warehouse). A root that owns two or more tables heads a hierarchy:
    // every row below it is found through it, so it is the key to shard by however few its values are
    // today (the shard count's warning says so) — a small root is no reason to make it a reference table.
    let owned: Vec<usize> = members
        .iter()
        .filter(|(k, _)| leads_primary_key(g.t(k.0), &k.1))
        .map(|(k, _)| k.0)
        .collect();
    let hierarchy = owned.len() >= 2;
    if card.is_some_and(|c| c < g.shards as f64) && !tenant && !hierarchy {
        return None;
    }
    let mut in_group: BTreeMap<usize, &str> =
        members.iter().map(|(k, _)| (k.0, k.1.as_str())).collect();
    if root_open {
        in_group.insert(*ri, rcol);
    }
    let mut score = 0.0;
    for (&a, &ca) in &in_group {
        for (f, b) in g.t(a).foreign_keys.iter().zip(&g.fk_targets[a]) {
            let Some(b) = *b else {
                continue;
            };
            let Some(&cb) = in_group.get(&b) else {
                continue;
            };
            if f.columns
                .iter()
                .zip(&f.referenced_columns)
                .any(|(x, y)| x == ca && y == cb)
            {
                score += g.weight(a).min(g.weight(b));
            }
        }
        // A link by name counts like a foreign key.
        if let Some((b, cb)) = g.implied_link(a, ca) {
            if in_group.get(b) == Some(&cb.as_str()) {
                score += g.weight(a).min(g.weight(*b));
            }
        }
        score += 0.5 * g.weight(a);
    }
    // The workload's joins inside the group and filters on the group's columns weigh like foreign
    // keys, in proportion to their share of the workload (a workload that always joins on the group's
    // key doubles the tables' weight).
    for ((a, ca), (b, cb), share) in &g.workload_joins {
        if in_group.get(a) == Some(&ca.as_str()) && in_group.get(b) == Some(&cb.as_str()) {
            score += 4.0 * share * (g.weight(*a) + g.weight(*b));
        }
    }
    // (Lookups in a table small enough to be a reference table are one node's work either way.)
    for ((a, ca), share) in &g.workload_filters {
        if in_group.get(a) == Some(&ca.as_str()) && !g.small(*a) {
            score += 4.0 * share * g.weight(*a);
        }
    }
    // Data the root owns counts again: its rows are reached through the group's key by construction.
    score += owned.iter().map(|&a| g.weight(a)).sum::<f64>();
    // The tenant itself at the top of a hierarchy (accounts, companies, organizations): every row
    // below its members belongs to it too, and joins the group through its parents with the tenant
    // column added (Citus docs, migrating an existing app; `through_parents`). Those rows count for
    // this group, so a group under the tenant (its projects and their tasks) does not win them away.
    if root_open && column::top_tenant_table(&g.t(*ri).name) {
        score += below(g, &in_group, decided);
    }
    // The columns' quality, without their distinct counts: those grow with the data, and the answer
    // must not change when the data grows tenfold (a too-small count is a warning of its own).
    let quality: f64 = in_group
        .iter()
        .filter_map(|(&i, c)| {
            g.t(i)
                .column(c)
                .and_then(|col| column::structural_score(g.t(i), col))
                .map(|s| s as f64 / 100.0)
        })
        .sum::<f64>()
        / in_group.len() as f64;
    score *= quality.max(0.05);
    // A pair (one table and the root it references) is worth it only when no key has to change; a
    // tenant shared by many tables is worth changing keys for.
    let needs_key_change = |i: usize, c: &str| {
        let t = g.t(i);
        t.primary_key
            .iter()
            .chain(&t.unique_constraints)
            .any(|k| !k.columns.iter().any(|x| x == c))
    };
    if members.len() == 1 && in_group.iter().any(|(&i, c)| needs_key_change(i, c)) {
        return None;
    }
    // Every table whose primary key or unique constraints would have to change counts against the group.
    for (&i, c) in &in_group {
        if needs_key_change(i, c) {
            score *= 0.85;
        }
    }
    // The tenant pattern: a tenant-like key that many tables carry.
    if tenant {
        score *= (1.5 + 0.25 * (members.len() as f64 - 1.0)).min(3.0);
    }
    if time_like(rcol) || members.iter().any(|(k, _)| time_like(&k.1)) {
        score *= 0.2;
    }
    Some(Proposal {
        root: root.clone(),
        leader_is_root: root_open,
        members,
        score,
    })
}

/// The weight of the undecided tables that reach `group` only through foreign keys into it or into
/// each other (its members' children, their children…), outside the group itself.
fn below(g: &Graph<'_>, group: &BTreeMap<usize, &str>, decided: &[Option<Decision>]) -> f64 {
    let n = g.cat.tables.len();
    let mut inside: Vec<bool> = (0..n).map(|i| group.contains_key(&i)).collect();
    let mut total = 0.0;
    loop {
        let mut grew = false;
        for a in 0..n {
            if !g.eligible[a] || inside[a] || decided[a].is_some() {
                continue;
            }
            let targets: Vec<usize> = g.fk_targets[a].iter().flatten().copied().collect();
            if !targets.is_empty() && targets.iter().all(|&b| inside[b]) {
                inside[a] = true;
                total += g.weight(a);
                grew = true;
            }
        }
        if !grew {
            return total;
        }
    }
}

/// Whether `col` leads `t`'s composite primary key.
fn leads_primary_key(t: &Table, col: &str) -> bool {
    t.primary_key
        .as_ref()
        .is_some_and(|k| k.columns.len() > 1 && k.columns[0] == col)
}

fn unique_name(names: &mut BTreeSet<String>, root: &str, col: &str, root_in: bool) -> String {
    let base = if root_in {
        root.to_string()
    } else {
        col.to_string()
    };
    let mut name = base.clone();
    let mut i = 2;
    while names.contains(&name) {
        name = format!("{base}_{i}");
        i += 1;
    }
    names.insert(name.clone());
    name
}

/// `1 table`, `3 tables`.
fn tables_word(n: usize) -> String {
    if n == 1 {
        "1 table".to_string()
    } else {
        format!("{n} tables")
    }
}

/// Tables that migration tools of common frameworks keep for themselves (Rails, Django, Flyway,
/// Liquibase, Alembic, Knex, Sequelize, Entity Framework, Laravel, Doctrine, Prisma, goose, diesel,
/// sqlx, node-pg-migrate, golang-migrate), when no foreign key links them to another table.
pub(super) fn bookkeeping(t: &Table) -> bool {
    const NAMES: &[&str] = &[
        "schema_migrations",
        "ar_internal_metadata",
        "django_migrations",
        "flyway_schema_history",
        "databasechangelog",
        "databasechangeloglock",
        "alembic_version",
        "knex_migrations",
        "knex_migrations_lock",
        "sequelizemeta",
        "__efmigrationshistory",
        "migrations",
        "doctrine_migration_versions",
        "_prisma_migrations",
        "goose_db_version",
        "__diesel_schema_migrations",
        "_sqlx_migrations",
        "pgmigrations",
    ];
    NAMES.contains(&t.name.to_ascii_lowercase().as_str())
        && t.foreign_keys.is_empty()
        && t.referenced_by.is_empty()
}

fn referencing(g: &Graph<'_>, i: usize) -> String {
    let mut v: Vec<String> = g
        .t(i)
        .referenced_by
        .iter()
        .map(|r| r.table.to_string())
        .collect();
    v.sort();
    v.dedup();
    let more = v.len().saturating_sub(4);
    v.truncate(4);
    if more > 0 {
        v.push(format!("{more} more"));
    }
    v.join(", ")
}

/// True when the application rewrites the table's rows over and over: more than 1,000 updates and
/// deletes since the statistics were reset, at least 10 per row. (Counts, not sizes: the same
/// workload gives the same answer whatever the data's scale.)
fn write_hot(t: &Table) -> bool {
    t.rewrites >= 1_000 && t.rewrites >= 10 * t.rows().max(1)
}

/// A table distributed on its own best column, in a group of its own.
fn alone(
    g: &Graph<'_>,
    i: usize,
    size: &str,
    names: &mut BTreeSet<String>,
    groups: &mut Vec<ColocationGroup>,
) -> Decision {
    let t = g.t(i);
    let best = t
        .columns
        .iter()
        .filter_map(|c| column::score(t, c, g.shards).map(|(s, r)| (c, s, r)))
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.attnum.cmp(&a.0.attnum)));
    let best = best.map(|b| entity_key(g, i).unwrap_or(b));
    let Some((c, _, why)) = best else {
        // It cannot be sharded. A lookup (rows found by a declared key, like a network → location
        // table keyed by `cidr`) that fits a copy on every node is still joined by every distributed
        // table there, and whether it fits does not change with the other tables' size; a log without
        // a key stays local.
        let keyed = t.primary_key.is_some() || !t.unique_constraints.is_empty();
        if keyed && t.total_bytes <= g.opts.reference_max_bytes {
            return Decision {
                kind: Kind::Reference,
                column: None,
                group: None,
                reasons: vec![format!("{size}: a lookup by its key, but no column has a type that can be a distribution column; it fits a copy on every node (at most {}) → reference table, so that every table can join it", human_bytes(g.opts.reference_max_bytes))],
            };
        }
        return Decision {
            kind: Kind::Local,
            column: None,
            group: None,
            reasons: vec![format!("{size}, too big for a reference table, but no column has a type that can be a distribution column: stays local")],
        };
    };
    // Too few distinct values to spread over the shards: a copy on every node serves better, if it fits
    // and is not on the application's write path (every write to a reference table is a two-phase
    // commit on every node; a table whose rows are rewritten over and over stays distributed).
    let few = column::distinct(t, c).is_some_and(|n| n < g.shards as f64);
    if few && !write_hot(t) && t.total_bytes <= g.opts.reference_max_bytes {
        return Decision {
            kind: Kind::Reference,
            column: None,
            group: None,
            reasons: vec![format!(
                "{size}: its best column {} has too few distinct values for {} shards ({}) → reference table",
                quote_ident(&c.name),
                g.shards,
                why.join(", ")
            )],
        };
    }
    let name = unique_name(names, &t.name, &c.name, true);
    groups.push(ColocationGroup {
        name: name.clone(),
        column_type: c.type_name.clone(),
        leader: t.qualified(),
        tables: vec![t.qualified()],
        reason: format!("{} is distributed on its own", t.qualified()),
    });
    Decision {
        kind: Kind::Distributed,
        column: Some(c.name.clone()),
        group: Some(name),
        reasons: vec![if few && write_hot(t) {
            format!(
                "{size}, its rows rewritten {} times since the statistics were reset (about {} times \
                 each): on the write path, where a reference table would make every write a two-phase \
                 commit on every node → distributed on its best column {} ({}), although it has too \
                 few distinct values to fill {} shards",
                thousands(t.rewrites),
                thousands(t.rewrites / t.rows().max(1)),
                quote_ident(&c.name),
                why.join(", "),
                g.shards
            )
        } else {
            format!(
                "{size}: too big for a reference table and no shared key links it to a group → distributed on its best column {} ({})",
                quote_ident(&c.name),
                why.join(", ")
            )
        }],
    }
}

/// The entity an event-like table belongs to, to distribute it on instead of its own row identifier:
/// the table declares no primary key and nothing references it (no row is looked up by its id), and
/// one `<entity>_id` column names another entity (not the table's own), with values enough for the
/// shards, no NULLs and no strong skew. Queries read and aggregate such rows per entity (a repository's
/// events), and the entity's other tables can join them on one node; a unique event id only spreads
/// them. Two or more such columns leave the choice to the scores.
fn entity_key<'a>(g: &Graph<'a>, i: usize) -> Option<(&'a Column, u32, Vec<String>)> {
    let t = g.t(i);
    if t.primary_key.is_some() || !t.referenced_by.is_empty() {
        return None;
    }
    let own = singular(&t.name);
    let mut found = t.columns.iter().filter(|c| {
        let lower = c.name.to_ascii_lowercase();
        let Some(stem) = lower.strip_suffix("_id") else {
            return false;
        };
        let rows = t.rows() as f64;
        type_unfit(c).is_none()
            && !type_weak(c)
            && !time_like(&c.name)
            && !own.ends_with(&singular(stem))
            && column::null_frac(c) == 0.0
            && column::top_share(c).is_none_or(|f| f <= column::SKEW_SHARE)
            && column::distinct(t, c).is_some_and(|d| d >= g.shards as f64 && d < 0.5 * rows)
    });
    let c = found.next()?;
    if found.next().is_some() {
        return None;
    }
    let (s, mut why) = column::score(t, c, g.shards)?;
    why.insert(
        0,
        "no primary key and no reference to its rows: it groups them by the entity it names".into(),
    );
    Some((c, s, why))
}

/// Keeps foreign keys valid where a size change can: a small table distributed on its own that a
/// distributed or reference table references through a key Citus cannot keep becomes a reference table.
fn repair(g: &Graph<'_>, d: &mut [Option<Decision>], groups: &mut Vec<ColocationGroup>) {
    // The number of tables of each group, by name (the first group of a name, as a search would find).
    let mut sizes: HashMap<String, usize> = HashMap::new();
    for x in groups.iter() {
        sizes.entry(x.name.clone()).or_insert(x.tables.len());
    }
    for _ in 0..g.cat.tables.len().max(1) {
        let mut changed = false;
        for a in 0..d.len() {
            let Some(da) = &d[a] else { continue };
            if da.kind == Kind::Local {
                continue;
            }
            for (f, b) in g.t(a).foreign_keys.iter().zip(&g.fk_targets[a]) {
                let Some(b) = *b else {
                    continue;
                };
                let Some(db) = &d[b] else { continue };
                if db.kind != Kind::Distributed || a == b {
                    continue;
                }
                let fine = da.kind == Kind::Distributed
                    && da.group == db.group
                    && f.columns.iter().zip(&f.referenced_columns).any(|(x, y)| {
                        Some(x) == da.column.as_ref() && Some(y) == db.column.as_ref()
                    });
                let alone = db
                    .group
                    .as_ref()
                    .and_then(|name| sizes.get(name))
                    .is_some_and(|&n| n == 1);
                if fine || !alone || g.t(b).total_bytes > g.opts.reference_max_bytes {
                    continue;
                }
                let gname = db.group.clone();
                groups.retain(|x| Some(&x.name) != gname.as_ref());
                if let Some(name) = &gname {
                    sizes.remove(name);
                }
                let t = g.t(b);
                d[b] = Some(Decision {
                    kind: Kind::Reference,
                    column: None,
                    group: None,
                    reasons: vec![format!(
                        "{} rows, {}, referenced by {} through a key that cannot be co-located: a reference table keeps that foreign key valid",
                        thousands(t.rows()),
                        human_bytes(t.total_bytes),
                        g.t(a).qualified()
                    )],
                });
                changed = true;
                break;
            }
        }
        if !changed {
            break;
        }
    }
}
