//! The decisions: which tables share a co-location group (following foreign-key chains to the entity at
//! their root), which become reference tables, which are distributed alone, which stay local.

use std::collections::{BTreeMap, BTreeSet};

use super::column::{self, singular, tenant_like, time_like, type_unfit};
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
}

impl<'a> Graph<'a> {
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
    /// its key column ([`Self::key_column`]) of a compatible type.
    fn implied_link(&self, i: usize, col: &str) -> Option<Key> {
        let t = self.t(i);
        if t.foreign_keys
            .iter()
            .any(|f| f.columns.iter().any(|c| c == col))
        {
            return None;
        }
        let c = t.column(col)?;
        if let Some(k) = self.prefixed_link(i, col) {
            return Some(k);
        }
        let lower = col.to_ascii_lowercase();
        let stem = lower
            .strip_suffix("_id")
            .or_else(|| lower.strip_suffix("_key"))?;
        let mut found: Vec<usize> = (0..self.cat.tables.len())
            .filter(|&j| j != i && self.eligible[j])
            .filter(|&j| {
                let n = self.t(j).name.to_ascii_lowercase();
                n == stem || singular(&n) == stem
            })
            .filter(|&j| {
                self.key_column(j)
                    .is_some_and(|pc| column::link_compatible(c, pc))
            })
            .collect();
        // Prefer the same schema.
        found.sort_by_key(|&j| (self.t(j).schema != t.schema, j));
        let j = *found.first()?;
        Some((j, self.key_column(j)?.name.clone()))
    }

    /// The column that identifies a row of table `j`, for links by name: its single-column primary
    /// key; without a primary key, a single-column unique constraint or plain unique index, else a
    /// usable column the statistics find unique (every value distinct: schemas loaded without their
    /// keys, like TPC-H's plain DDL), the first key-like one (`…id`, `…key`) by position.
    fn key_column(&self, j: usize) -> Option<&'a Column> {
        let t = self.t(j);
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
    /// ([`Self::key_column`]) has the same name after its short prefix, and a compatible type.
    fn prefixed_link(&self, i: usize, col: &str) -> Option<Key> {
        let c = self.t(i).column(col)?;
        let stem = strip_prefix(col)?;
        (0..self.cat.tables.len())
            .filter(|&j| j != i && self.eligible[j])
            .find_map(|j| {
                let pc = self.key_column(j)?;
                (pc.name != col
                    && strip_prefix(&pc.name) == Some(stem)
                    && column::link_compatible(c, pc))
                .then(|| (j, pc.name.clone()))
            })
    }

    /// Follows foreign keys from `(i, col)` to the column at the end of the chain, and says whether a
    /// name (not a key) made a link on the way.
    fn root(&self, i: usize, col: &str) -> (Key, bool) {
        let mut cur: Key = (i, col.to_string());
        let mut seen = BTreeSet::new();
        let mut by_name = false;
        while seen.insert(cur.clone()) {
            let t = self.t(cur.0);
            let mut fks: Vec<_> = t
                .foreign_keys
                .iter()
                .filter_map(|f| f.columns.iter().position(|c| *c == cur.1).map(|p| (f, p)))
                .filter(|(f, _)| {
                    self.by_name
                        .get(&f.referenced_table)
                        .is_some_and(|&j| self.eligible[j])
                })
                .collect();
            fks.sort_by(|a, b| (a.1, &a.0.name).cmp(&(b.1, &b.0.name)));
            let next = match fks.first() {
                Some((f, p)) => Some((
                    self.by_name[&f.referenced_table],
                    f.referenced_columns[*p].clone(),
                )),
                None => self.implied_link(cur.0, &cur.1).inspect(|_| by_name = true),
            };
            match next {
                Some(n) if !seen.contains(&n) => cur = n,
                _ => break,
            }
        }
        (cur, by_name)
    }
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
    let g = Graph {
        cat,
        by_name,
        eligible,
        max_rows,
        max_bytes,
        opts,
        shards,
    };

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

    // Tables that share a column no key links (the same name and type, at the end of no chain): when
    // the name is tenant-like or leads composite primary keys, that column is a root of its own. Such
    // roots get indexes past the tables' (`n + k`).
    let mut shared: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for i in (0..n).filter(|&i| g.eligible[i]) {
        for c in g
            .t(i)
            .columns
            .iter()
            .filter(|c| type_unfit(c).is_none() && c.name != "id")
        {
            if g.root(i, &c.name).0 == (i, c.name.clone())
                && !carriers.contains_key(&(i, c.name.clone()))
            {
                shared
                    .entry((c.name.clone(), c.type_name.clone()))
                    .or_default()
                    .push(i);
            }
        }
    }
    let mut virtual_roots: Vec<String> = Vec::new();
    for ((name, _), ts) in shared {
        let leads = ts
            .iter()
            .filter(|&&i| {
                g.t(i)
                    .primary_key
                    .as_ref()
                    .is_some_and(|k| k.columns.len() > 1 && k.columns[0] == name)
            })
            .count();
        if ts.len() >= 2 && (tenant_like(&name) || leads >= 2) {
            let key = (n + virtual_roots.len(), name.clone());
            carriers.insert(key, ts.iter().map(|&i| ((i, name.clone()), true)).collect());
            virtual_roots.push(name);
        }
    }

    let mut decisions: Vec<Option<Decision>> = (0..n).map(|_| None).collect();
    let mut groups: Vec<ColocationGroup> = Vec::new();
    let mut group_names: BTreeSet<String> = BTreeSet::new();

    // Greedy: take the best group of the tables still open, until none is worth forming.
    loop {
        let mut best: Option<Proposal> = None;
        for (root, cs) in &carriers {
            let Some(p) = propose(&g, root, cs, &decisions) else {
                continue;
            };
            if best.as_ref().is_none_or(|b| p.score > b.score) {
                best = Some(p);
            }
        }
        let Some(p) = best else { break };
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
    }

    // What no group took: small → reference, otherwise distributed on its own best column.
    for i in 0..n {
        if !g.eligible[i] || decisions[i].is_some() {
            continue;
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
        if g.small(i) {
            let refs = referencing(&g, i);
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
    }
}

/// The group `cs` (tables carrying `root`) would form among the tables still open, and its score.
fn propose(
    g: &Graph<'_>,
    root: &Key,
    cs: &[(Key, bool)],
    decided: &[Option<Decision>],
) -> Option<Proposal> {
    let (ri, rcol) = root;
    let mut members: Vec<(Key, bool)> = Vec::new();
    for (k, _) in cs {
        if decided[k.0].is_some() || k.0 == *ri || members.iter().any(|(m, _)| m.0 == k.0) {
            continue;
        }
        // A table that carries the root through several columns: prefer the one in its primary key.
        let t = g.t(k.0);
        let in_pk = |c: &str| {
            t.primary_key
                .as_ref()
                .is_some_and(|p| p.columns.iter().any(|x| x == c))
        };
        let best = cs
            .iter()
            .filter(|(o, _)| o.0 == k.0)
            .max_by_key(|(o, _)| (in_pk(&o.1), std::cmp::Reverse(o.1.clone())))
            .unwrap();
        members.push(best.clone());
    }
    // A root past the tables is a shared column name, not a table.
    let is_table = *ri < g.cat.tables.len();
    let root_open = is_table && g.eligible[*ri] && decided[*ri].is_none() && g.usable(*ri, rcol);
    let tenant = (is_table && tenant_like(&format!("{}_id", singular(&g.t(*ri).name))))
        || tenant_like(rcol)
        || members.iter().any(|(k, _)| tenant_like(&k.1));
    let valid = members.len() >= 2 || (members.len() == 1 && root_open && !g.small(*ri));
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
    if card.is_some_and(|c| c < g.shards as f64) && !tenant {
        return None;
    }
    let mut in_group: BTreeMap<usize, &str> =
        members.iter().map(|(k, _)| (k.0, k.1.as_str())).collect();
    if root_open {
        in_group.insert(*ri, rcol);
    }
    let mut score = 0.0;
    for (&a, &ca) in &in_group {
        for f in &g.t(a).foreign_keys {
            let Some(&b) = g.by_name.get(&f.referenced_table) else {
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
            if in_group.get(&b) == Some(&cb.as_str()) {
                score += g.weight(a).min(g.weight(b));
            }
        }
        score += 0.5 * g.weight(a);
    }
    let quality: f64 = in_group
        .iter()
        .filter_map(|(&i, c)| {
            g.t(i)
                .column(c)
                .and_then(|col| column::score(g.t(i), col, g.shards))
                .map(|(s, _)| s as f64 / 100.0)
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
    let Some((c, _, why)) = best else {
        return Decision {
            kind: Kind::Local,
            column: None,
            group: None,
            reasons: vec![format!("{size}, too big for a reference table, but no column has a type that can be a distribution column: stays local")],
        };
    };
    // Too few distinct values to spread over the shards: a copy on every node serves better, if it fits.
    if column::distinct(t, c).is_some_and(|n| n < g.shards as f64)
        && t.total_bytes <= g.opts.reference_max_bytes
    {
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
        reasons: vec![format!(
            "{size}: too big for a reference table and no shared key links it to a group → distributed on its best column {} ({})",
            quote_ident(&c.name),
            why.join(", ")
        )],
    }
}

/// Keeps foreign keys valid where a size change can: a small table distributed on its own that a
/// distributed or reference table references through a key Citus cannot keep becomes a reference table.
fn repair(g: &Graph<'_>, d: &mut [Option<Decision>], groups: &mut Vec<ColocationGroup>) {
    for _ in 0..g.cat.tables.len().max(1) {
        let mut changed = false;
        for a in 0..d.len() {
            let Some(da) = &d[a] else { continue };
            if da.kind == Kind::Local {
                continue;
            }
            for f in &g.t(a).foreign_keys {
                let Some(&b) = g.by_name.get(&f.referenced_table) else {
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
                let alone = groups
                    .iter()
                    .find(|x| Some(&x.name) == db.group.as_ref())
                    .is_some_and(|x| x.tables.len() == 1);
                if fine || !alone || g.t(b).total_bytes > g.opts.reference_max_bytes {
                    continue;
                }
                let gname = db.group.clone();
                groups.retain(|x| Some(&x.name) != gname.as_ref());
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
