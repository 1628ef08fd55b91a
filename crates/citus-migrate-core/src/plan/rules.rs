//! Citus's rules, checked for a plan against the source's catalog: every finding is a [`Blocker`] with a
//! stable code, the table it is about, a message and, where one exists, the SQL that fixes it.

use super::extend::cols;
use crate::advice::column::{
    distinct, int_width, null_frac, top_share, type_unfit, type_without_typmod, SKEW_SHARE,
};
use std::collections::{HashMap, HashSet};

use super::changes;
use super::checks::{Blocker, Code, Severity};
use crate::advice::{Kind, Verdict};
use crate::catalog::{Catalog, ForeignKey, Table, TableKind};
use crate::ident::{comment_text, quote_ident, QualifiedName};
use crate::plan::Plan;
use crate::util::thousands;

struct Ctx<'a> {
    catalog: &'a Catalog,
    plan: &'a Plan,
    out: Vec<Blocker>,
    /// Built once: name lookups below are hash lookups, so checking stays linear in the tables.
    tables: HashMap<QualifiedName, &'a Table>,
    planned: HashMap<QualifiedName, &'a crate::plan::PlanTable>,
    group_shards: HashMap<String, u32>,
    inheritance_parents: HashSet<QualifiedName>,
    /// Foreign keys by the table they reference, in catalog order.
    fks_to: HashMap<QualifiedName, Vec<(QualifiedName, &'a ForeignKey)>>,
}

impl<'a> Ctx<'a> {
    fn push(
        &mut self,
        table: &QualifiedName,
        code: Code,
        severity: Severity,
        message: String,
        fix: Option<String>,
    ) {
        self.out.push(Blocker {
            table: table.clone(),
            code,
            severity,
            message,
            fix,
        });
    }

    fn table(&self, t: &QualifiedName) -> Option<&'a Table> {
        self.tables.get(t).copied()
    }

    fn planned(&self, t: &QualifiedName) -> Option<&'a crate::plan::PlanTable> {
        self.planned.get(t).copied()
    }

    fn kind_of(&self, t: &QualifiedName) -> Kind {
        self.planned(t).map(|p| p.kind).unwrap_or(Kind::Local)
    }

    fn kind(&self, t: &QualifiedName) -> Kind {
        // Partitions follow their parent.
        match self.table(t) {
            Some(tab) if tab.table_kind == TableKind::Partition => tab
                .parent
                .as_ref()
                .map(|p| self.kind_of(p))
                .unwrap_or(Kind::Local),
            _ => self.kind_of(t),
        }
    }

    fn dist_col(&self, t: &QualifiedName) -> Option<&str> {
        let tab = self.table(t)?;
        let owner = match (tab.table_kind, &tab.parent) {
            (TableKind::Partition, Some(p)) => p,
            _ => t,
        };
        self.planned(owner)
            .filter(|p| p.kind == Kind::Distributed)?
            .distribution_column
            .as_deref()
    }

    fn group(&self, t: &QualifiedName) -> Option<String> {
        let tab = self.table(t)?;
        let owner = match (tab.table_kind, &tab.parent) {
            (TableKind::Partition, Some(p)) => p,
            _ => t,
        };
        let p = self
            .planned(owner)
            .filter(|p| p.kind == Kind::Distributed)?;
        Some(
            p.colocation_group
                .clone()
                .unwrap_or_else(|| format!("{}", p.qualified())),
        )
    }
}

/// Checks `plan` against `catalog`. Errors make the plan unusable; warnings are worth reading. Citus's
/// rules are checked on the tables as the target will have them, after the plan's changes (which are
/// listed as warnings, or errors where they do not fit the source).
pub fn check(catalog: &Catalog, plan: &Plan) -> Vec<Blocker> {
    let target = changes::target_catalog(catalog, plan);
    let mut out = check_target(&target, plan);
    out.extend(change_findings(catalog, plan));
    out
}

/// The plan's changes: an error for each that does not fit the source, a warning for each other.
fn change_findings(catalog: &Catalog, plan: &Plan) -> Vec<Blocker> {
    let (added, mut problems) = changes::added_columns(catalog, plan);
    problems.extend(changes::type_problems(catalog, plan));
    let mut out: Vec<Blocker> = problems
        .into_iter()
        .map(|(table, message)| Blocker {
            table,
            code: Code::InvalidChange,
            severity: Severity::Error,
            message,
            fix: None,
        })
        .collect();
    for a in &added {
        let parent = &a
            .path
            .last()
            .expect("a path has a foreign key")
            .0
            .referenced_table;
        out.push(Blocker {
            table: a.table.clone(),
            code: Code::ColumnAdded,
            severity: Severity::Warning,
            message: format!(
                "{}: 01-pre-data.sql adds the column {} ({}) on the target; the copy fills it from {parent}.{} through the foreign key(s) {}",
                a.table,
                quote_ident(&a.column),
                a.from.type_name,
                quote_ident(&a.from.name),
                a.path.iter().map(|(f, _)| quote_ident(&f.name)).collect::<Vec<_>>().join(", ")
            ),
            fix: None,
        });
    }
    for p in &plan.tables {
        for ch in &p.changes {
            let (code, message) = match ch {
                changes::TableChange::DropForeignKey { foreign_key, .. }
                    if catalog
                        .table(&p.qualified())
                        .is_some_and(|t| changes::find_fk(t, foreign_key).is_none()) =>
                {
                    (
                        Code::InvalidChange,
                        format!(
                            "{}: drop_foreign_key: the source has no foreign key {} (any more): nothing to drop",
                            p.qualified(),
                            quote_ident(foreign_key)
                        ),
                    )
                }
                changes::TableChange::DropForeignKey { foreign_key, reason } => (
                    Code::ForeignKeyDropped,
                    format!(
                        "{}: 03-post-data.sql does not create the foreign key {} on the target{}",
                        p.qualified(),
                        quote_ident(foreign_key),
                        if reason.is_empty() { String::new() } else { format!(": {reason}") }
                    ),
                ),
                changes::TableChange::ColumnType { column, type_name } => (
                    Code::ColumnTypeChanged,
                    format!(
                        "{}.{} becomes {type_name} on the target, the type of its co-location group",
                        p.qualified(),
                        quote_ident(column)
                    ),
                ),
                changes::TableChange::AddColumn { .. } => continue,
            };
            out.push(Blocker {
                table: p.qualified(),
                code,
                severity: Severity::Warning,
                message,
                fix: None,
            });
        }
    }
    out
}

fn check_target(catalog: &Catalog, plan: &Plan) -> Vec<Blocker> {
    let mut cx = Ctx {
        catalog,
        plan,
        out: Vec::new(),
        tables: catalog.tables.iter().map(|t| (t.qualified(), t)).collect(),
        planned: plan.tables.iter().map(|p| (p.qualified(), p)).collect(),
        group_shards: plan
            .groups()
            .iter()
            .map(|g| (g.name.to_string(), g.shard_count))
            .collect(),
        inheritance_parents: catalog
            .tables
            .iter()
            .filter(|c| c.table_kind == TableKind::InheritanceChild)
            .filter_map(|c| c.parent.clone())
            .collect(),
        fks_to: {
            let mut m: HashMap<QualifiedName, Vec<(QualifiedName, &ForeignKey)>> = HashMap::new();
            for r in &catalog.tables {
                for f in &r.foreign_keys {
                    m.entry(f.referenced_table.clone())
                        .or_default()
                        .push((r.qualified(), f));
                }
            }
            m
        },
    };
    for p in &plan.tables {
        let name = p.qualified();
        let Some(t) = cx.table(&name) else {
            cx.push(
                &name,
                Code::UnknownTable,
                Severity::Error,
                format!("the plan names {name}, which is not a table of the source database (or not selected)"),
                None,
            );
            continue;
        };
        check_shape(&mut cx, t, p);
    }
    check_groups(&mut cx);
    check_verdict_and_schemas(&mut cx);
    for t in &catalog.tables {
        check_objects(&mut cx, t);
        for fk in &t.foreign_keys {
            check_fk(&mut cx, t, fk);
        }
    }
    cx.out
}

fn check_shape(cx: &mut Ctx<'_>, t: &Table, p: &crate::plan::PlanTable) {
    let name = t.qualified();
    if t.table_kind == TableKind::Partition {
        cx.push(
            &name,
            Code::PartitionInPlan,
            Severity::Error,
            format!(
                "{name} is a partition of {}: it is distributed with its parent; remove it from the plan",
                t.parent.as_ref().map(|p| p.to_string()).unwrap_or_default()
            ),
            None,
        );
        return;
    }
    let inherits =
        t.table_kind == TableKind::InheritanceChild || cx.inheritance_parents.contains(&name);
    if p.kind != Kind::Local {
        let unsupported = match t.table_kind {
            TableKind::Foreign => Some((Code::UnsupportedRelation, "a foreign table")),
            TableKind::MaterializedView => Some((Code::UnsupportedRelation, "a materialized view")),
            _ if inherits => Some((
                Code::Inheritance,
                "part of a table inheritance tree (Citus supports declarative partitioning only)",
            )),
            _ => None,
        };
        if let Some((code, what)) = unsupported {
            let fix = (code == Code::Inheritance).then(|| {
                comment(&format!("move the rows into a declaratively partitioned table, or keep {name} local (\"kind\": \"local\")"))
            });
            cx.push(
                &name,
                code,
                Severity::Error,
                format!(
                    "{name} is {what}: Citus cannot make it {}",
                    kind_word(p.kind)
                ),
                fix,
            );
            return;
        }
    } else if inherits {
        cx.push(
            &name,
            Code::Inheritance,
            Severity::Warning,
            format!("{name} uses table inheritance, which Citus does not support: it stays a local table on the coordinator"),
            Some(comment(&format!("to distribute it, recreate {name} as a declaratively partitioned table (PARTITION BY) and move the rows"))),
        );
    }
    match (p.kind, &p.distribution_column) {
        (Kind::Distributed, None) => cx.push(
            &name,
            Code::MissingDistributionColumn,
            Severity::Error,
            format!("{name} is planned as distributed but has no distribution_column"),
            None,
        ),
        (Kind::Reference | Kind::Local | Kind::Schema, Some(c)) => cx.push(
            &name,
            Code::UnexpectedDistributionColumn,
            Severity::Error,
            format!("{name} is planned as {} but names distribution_column {c:?}; only distributed tables have one", kind_word(p.kind)),
            None,
        ),
        _ => {}
    }
    if p.kind != Kind::Distributed && (p.colocation_group.is_some() || p.shard_count.is_some()) {
        cx.push(
            &name,
            Code::UnexpectedColocation,
            Severity::Error,
            format!("{name} is planned as {}: colocation_group and shard_count apply to distributed tables only", kind_word(p.kind)),
            None,
        );
    }
    if p.kind == Kind::Distributed {
        if let Some(c) = &p.distribution_column {
            check_dist_column(cx, t, c, p.extend_keys);
        }
    }
    if p.kind != Kind::Local && t.primary_key.is_none() {
        cx.push(
            &name,
            Code::NoPrimaryKey,
            Severity::Warning,
            format!("{name} has no primary key: rows cannot be told apart when verifying or fixing data"),
            None,
        );
    }
}

fn kind_word(k: Kind) -> &'static str {
    match k {
        Kind::Distributed => "distributed",
        Kind::Reference => "a reference table",
        Kind::Local => "local",
        Kind::Schema => "part of a distributed schema",
    }
}

fn check_dist_column(cx: &mut Ctx<'_>, t: &Table, col: &str, extend: bool) {
    let name = t.qualified();
    let Some(c) = t.column(col) else {
        let known: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
        // A parent that has the column, reached by a foreign key: the plan can add it.
        let through = t.foreign_keys.iter().find(|f| {
            cx.table(&f.referenced_table)
                .is_some_and(|p| p.column(col).is_some())
        });
        let fix = through.map(|f| {
            format!(
                "\"changes\": [{{\"change\": \"add_column\", \"column\": {}, \"through\": [{}]}}]  {}",
                serde_json::Value::from(col),
                serde_json::Value::from(f.name.as_str()),
                comment(&format!(
                    "in plan.json, for {name}: adds {} on the target, filled from {}",
                    quote_ident(col),
                    f.referenced_table
                ))
            )
        });
        cx.push(
            &name,
            Code::UnknownColumn,
            Severity::Error,
            format!(
                "{name} has no column {col:?} (its columns: {}){}",
                known.join(", "),
                match through {
                    Some(f) => format!(
                        "; its foreign key {} leads to {}, which has it: add it with an add_column change, or choose one of its columns",
                        quote_ident(&f.name),
                        f.referenced_table
                    ),
                    None => String::new(),
                }
            ),
            fix,
        );
        return;
    };
    if let Some(why) = type_unfit(c) {
        cx.push(
            &name,
            Code::UnsuitableType,
            Severity::Error,
            format!(
                "{name}.{}: {why}; choose another distribution column",
                quote_ident(col)
            ),
            None,
        );
    }
    // A co-location group shares its leader's shard count; a table on its own may set its own.
    let planned = cx.planned(&name);
    let shards = planned
        .and_then(|p| p.colocation_group.as_ref())
        .as_ref()
        .and_then(|g| cx.group_shards.get(g.as_str()).copied())
        .or(planned.and_then(|p| p.shard_count))
        .unwrap_or(cx.plan.shard_count);
    if let Some(n) = distinct(t, c) {
        if n < shards as f64 {
            cx.push(
                &name,
                Code::LowCardinality,
                Severity::Warning,
                format!("{name}.{} has about {} distinct values for {shards} shards: some shards stay empty", quote_ident(col), thousands(n as i64)),
                None,
            );
        }
    }
    if let Some(top) = top_share(c).filter(|f| *f > SKEW_SHARE) {
        cx.push(
            &name,
            Code::Skew,
            Severity::Warning,
            format!(
                "{name}.{}: one value holds about {:.0}% of the rows, so one shard gets them all",
                quote_ident(col),
                top * 100.0
            ),
            None,
        );
    }
    let nf = null_frac(c);
    if nf > 0.0 {
        cx.push(
            &name,
            Code::NullsInDistributionColumn,
            Severity::Warning,
            format!(
                "{name}.{} is NULL in about {:.1}% of the rows (statistics): Citus rejects rows with a NULL distribution column",
                quote_ident(col),
                nf * 100.0
            ),
            Some(null_fix(&name, col)),
        );
    }
    let qcol = quote_ident(col);
    if extend {
        let (keys, idx) = super::extend::keys_lacking(t, col);
        if t.table_kind == TableKind::PartitionedParent && !(keys.is_empty() && idx.is_empty()) {
            cx.push(
                &name,
                Code::ExtendKeysPartitioned,
                Severity::Error,
                format!("{name} is partitioned: extend_keys cannot change the keys of its partitions. Choose: put the distribution column {qcol} into the keys on the source, or distribute {name} on a column its keys contain, or make it a reference table (and remove extend_keys)"),
                None,
            );
        } else {
            let names: Vec<String> = keys
                .iter()
                .map(|k| quote_ident(&k.name))
                .chain(idx.iter().map(|i| quote_ident(&i.name)))
                .collect();
            if !names.is_empty() {
                cx.push(
                    &name,
                    Code::KeyExtended,
                    Severity::Warning,
                    format!(
                        "{name}: 03-post-data.sql puts the distribution column {qcol} in front of {} on the target (extend_keys); uniqueness then holds per {qcol} value",
                        names.join(", ")
                    ),
                    None,
                );
            }
        }
    } else {
        keys_without_column(cx, t, col);
    }
    for k in t
        .exclusion_constraints
        .iter()
        .filter(|k| !k.columns.iter().any(|c| c == col))
    {
        cx.push(
            &name,
            Code::ExclusionMissingDistributionColumn,
            Severity::Error,
            format!("{name}: exclusion constraint {} does not include the distribution column {qcol} with the = operator, and the plan cannot extend it: drop it, or recreate it on the source with {qcol} WITH = (btree_gist), or distribute {name} on a column it compares with =, or make {name} a reference table", quote_ident(&k.name)),
            Some(format!(
                "ALTER TABLE {name} DROP CONSTRAINT {};  {}",
                quote_ident(&k.name),
                comment(&format!("or recreate it as EXCLUDE USING gist ({qcol} WITH =, …) with the btree_gist extension"))
            )),
        );
    }
}

/// The primary key, unique constraints and unique indexes of `t` without `col` (the plan does not
/// extend them), each an error with its fix on the source.
fn keys_without_column(cx: &mut Ctx<'_>, t: &Table, col: &str) {
    let name = t.qualified();
    let qcol = quote_ident(col);
    for (code, what, keys) in [
        (
            Code::PkMissingDistributionColumn,
            "primary key",
            t.primary_key.iter().collect::<Vec<_>>(),
        ),
        (
            Code::UniqueMissingDistributionColumn,
            "unique constraint",
            t.unique_constraints.iter().collect(),
        ),
    ] {
        for k in keys
            .into_iter()
            .filter(|k| !k.columns.iter().any(|c| c == col))
        {
            let mut newcols = vec![col.to_string()];
            newcols.extend(k.columns.iter().cloned());
            let kw = if code == Code::PkMissingDistributionColumn {
                "PRIMARY KEY"
            } else {
                "UNIQUE"
            };
            let mut fix = String::new();
            let refs: Vec<(QualifiedName, &ForeignKey)> = cx
                .fks_to
                .get(&name)
                .into_iter()
                .flatten()
                .filter(|(_, f)| sorted(&f.referenced_columns) == sorted(&k.columns))
                .cloned()
                .collect();
            for (r, f) in &refs {
                fix.push_str(&format!(
                    "ALTER TABLE {r} DROP CONSTRAINT {};\n",
                    quote_ident(&f.name)
                ));
            }
            fix.push_str(&format!(
                "ALTER TABLE {name} DROP CONSTRAINT {}, ADD CONSTRAINT {} {kw} ({});",
                quote_ident(&k.name),
                quote_ident(&k.name),
                cols(&newcols)
            ));
            let extend_hint = if t.table_kind == TableKind::PartitionedParent {
                format!(
                    "\n{}",
                    comment(&format!("{name} is partitioned, so the plan cannot change its key on the target: change it on the source (above), or distribute {name} on a column of the key, or make it a reference table"))
                )
            } else {
                format!(
                    "\n{}",
                    comment(&format!("or, to change the key on the target only, set \"extend_keys\": true for {name} in plan.json"))
                )
            };
            for (r, f) in &refs {
                let rt = cx.table(r);
                match rt.and_then(|rt| cx.dist_col(r).and_then(|d| rt.column(d))) {
                    Some(rc) => {
                        let mut fc = vec![rc.name.clone()];
                        fc.extend(f.columns.iter().filter(|c| **c != rc.name).cloned());
                        let mut tc = vec![col.to_string()];
                        tc.extend(f.referenced_columns.iter().cloned());
                        fix.push_str(&format!(
                            "\nALTER TABLE {r} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {name} ({});",
                            quote_ident(&f.name),
                            cols(&fc),
                            cols(&tc)
                        ));
                    }
                    None => fix.push_str(&format!(
                        "\n{}",
                        comment(&format!("{r} has no {qcol} column: its foreign key {} cannot be recreated on the new key", quote_ident(&f.name)))
                    )),
                }
            }
            cx.push(
                &name,
                code,
                Severity::Error,
                format!("{name}: {what} {} ({}) does not include the distribution column {qcol}; Citus requires it (Citus cannot enforce uniqueness across shards: with the column in front it holds per {qcol} value)", quote_ident(&k.name), cols(&k.columns)),
                Some(fix + &extend_hint),
            );
        }
    }
    for i in t
        .indexes
        .iter()
        .filter(|i| i.unique && !i.backs_constraint && !i.columns.iter().any(|c| c == col))
    {
        cx.push(
            &name,
            Code::UniqueIndexMissingDistributionColumn,
            Severity::Error,
            format!(
                "{name}: unique index {} does not include the distribution column {qcol}",
                quote_ident(&i.name)
            ),
            Some(if i.expressions || i.partial {
                format!(
                    "DROP INDEX {}.{};  {}",
                    quote_ident(&t.schema),
                    quote_ident(&i.name),
                    comment(&format!("then recreate it with {qcol} as its first column"))
                )
            } else {
                let mut c = vec![col.to_string()];
                c.extend(i.columns.iter().cloned());
                format!(
                    "DROP INDEX {s}.{n};\nCREATE UNIQUE INDEX {n} ON {name} USING {} ({});",
                    quote_ident(&i.method),
                    cols(&c),
                    s = quote_ident(&t.schema),
                    n = quote_ident(&i.name)
                )
            }),
        );
    }
}

/// `-- text`, a comment of fix SQL: one line whatever the names in it hold ([`comment_text`]; names
/// are passed quoted).
fn comment(text: &str) -> String {
    format!("-- {}", comment_text(text))
}

fn sorted(v: &[String]) -> Vec<&String> {
    let mut s: Vec<&String> = v.iter().collect();
    s.sort();
    s
}

pub(crate) fn null_fix(name: &QualifiedName, col: &str) -> String {
    let c = quote_ident(col);
    format!(
        "SELECT count(*) FROM {name} WHERE {c} IS NULL;  {}\nUPDATE {name} SET {c} = /* the right value */ WHERE {c} IS NULL;  {}\nDELETE FROM {name} WHERE {c} IS NULL;",
        comment("then either"),
        comment("or")
    )
}

fn check_groups(cx: &mut Ctx<'_>) {
    let plan = cx.plan;
    for g in plan.groups() {
        let Some(lt) = cx.table(&g.leader.qualified()) else {
            continue;
        };
        let Some(lc) = g
            .leader
            .distribution_column
            .as_deref()
            .and_then(|c| lt.column(c))
        else {
            continue;
        };
        let mut cols: Vec<(&Table, &crate::catalog::Column)> = vec![(lt, lc)];
        for m in &g.members {
            if m.shard_count.is_some() {
                cx.push(
                    &m.qualified(),
                    Code::ShardCountOnMember,
                    Severity::Error,
                    format!(
                        "{} sets shard_count but is not the leader of group {:?} ({} is): members take the leader's shard count",
                        m.qualified(),
                        g.name,
                        lt.qualified()
                    ),
                    None,
                );
            }
            let Some(mt) = cx.table(&m.qualified()) else {
                continue;
            };
            if let Some(mc) = m.distribution_column.as_deref().and_then(|c| mt.column(c)) {
                cols.push((mt, mc));
            }
        }
        // The type every column must get: the widest when they are all integers (widening loses
        // nothing), else the leader's.
        let all_int = cols.iter().all(|(_, c)| int_width(&c.base_type).is_some());
        let (tt, tc) = if all_int {
            *cols
                .iter()
                .max_by_key(|(_, c)| int_width(&c.base_type))
                .unwrap()
        } else {
            cols[0]
        };
        let target = type_without_typmod(&tc.type_name);
        for (t, c) in &cols {
            if type_without_typmod(&c.type_name) == target {
                continue;
            }
            cx.push(
                &t.qualified(),
                Code::ColocationTypeMismatch,
                Severity::Error,
                format!(
                    "{}.{} is {} but {}.{} in the same co-location group {:?} is {}: co-located columns need the same type",
                    t.qualified(),
                    quote_ident(&c.name),
                    c.type_name,
                    tt.qualified(),
                    quote_ident(&tc.name),
                    g.name,
                    tc.type_name
                ),
                Some(format!(
                    "ALTER TABLE {} ALTER COLUMN {} TYPE {};",
                    t.qualified(),
                    quote_ident(&c.name),
                    tc.type_name
                )),
            );
        }
    }
}

fn check_objects(cx: &mut Ctx<'_>, t: &Table) {
    let name = t.qualified();
    let kind = cx.kind(&name);
    if kind == Kind::Local || t.table_kind == TableKind::Partition {
        return;
    }
    for tr in &t.triggers {
        cx.push(
            &name,
            Code::TriggerOnDistributedTable,
            Severity::Error,
            format!("{name} has trigger {}: Citus refuses triggers on distributed and reference tables by default", quote_ident(&tr.name)),
            Some(format!(
                "DROP TRIGGER {} ON {name};  {}",
                quote_ident(&tr.name),
                comment("or, if the trigger only touches this row's shard: ALTER DATABASE … SET citus.enable_unsafe_triggers = on")
            )),
        );
    }
    for r in &t.rules {
        cx.push(
            &name,
            Code::RuleOnDistributedTable,
            Severity::Error,
            format!(
                "{name} has rule {}: rules do not reach the shards of a Citus table",
                quote_ident(&r.name)
            ),
            Some(format!(
                "DROP RULE {} ON {name};  {}",
                quote_ident(&r.name),
                comment("replace it with application logic or a view")
            )),
        );
    }
    for c in t.columns.iter().filter(|c| c.identity.is_some()) {
        let seq_q = QualifiedName::new(&t.schema, format!("{}_{}_seq", t.name, c.name));
        cx.push(
            &name,
            Code::IdentityColumn,
            Severity::Warning,
            format!(
                "{name}.{} is an identity column: Citus cannot undistribute such a table, so rollback.sql would fail for it",
                quote_ident(&c.name)
            ),
            Some(format!(
                "ALTER TABLE {name} ALTER COLUMN {col} DROP IDENTITY;\nCREATE SEQUENCE {seq_q} OWNED BY {name}.{col};\nSELECT pg_catalog.setval({}::pg_catalog.regclass, COALESCE((SELECT max({col}) FROM {name}), 0) + 1, false);\nALTER TABLE {name} ALTER COLUMN {col} SET DEFAULT pg_catalog.nextval({}::pg_catalog.regclass);",
                seq_q.regclass_literal(),
                seq_q.regclass_literal(),
                col = quote_ident(&c.name)
            )),
        );
    }
}

fn check_fk(cx: &mut Ctx<'_>, t: &Table, fk: &ForeignKey) {
    let a = t.qualified();
    let b = &fk.referenced_table;
    let fkname = quote_ident(&fk.name);
    let drop = format!("ALTER TABLE {a} DROP CONSTRAINT {fkname};");
    if cx.table(b).is_none() {
        cx.push(
            &a,
            Code::FkToUnselectedTable,
            Severity::Error,
            format!("{a}: foreign key {fkname} references {b}, which is not selected: 03-post-data.sql could not create it"),
            Some(format!("{}\n{drop}", comment(&format!("add {b} to the selection, or drop the key:")))),
        );
        return;
    }
    let (ka, kb) = (cx.kind(&a), cx.kind(b));
    match (ka, kb) {
        (Kind::Distributed, Kind::Distributed) => {
            let (da, db) = (cx.dist_col(&a).map(str::to_string), cx.dist_col(b).map(str::to_string));
            let (Some(da), Some(db)) = (da, db) else { return };
            let on_dist = fk.columns.iter().zip(&fk.referenced_columns).any(|(x, y)| *x == da && *y == db);
            let same_group = cx.group(&a).is_some() && cx.group(&a) == cx.group(b);
            if same_group && on_dist || super::extend::fk_rewrite(cx.catalog, cx.plan, t, fk).is_some() {
                return;
            }
            let why = if !same_group {
                format!("{a} and {b} are distributed but not co-located")
            } else {
                format!("the key does not map {a}.{} to {b}.{}", quote_ident(&da), quote_ident(&db))
            };
            let bt = cx.table(b).unwrap();
            // A key that references a primary key / unique constraint lacking the distribution
            // column is re-created by that key's own fix (which drops and re-adds it with the
            // column in front): one fix, not two that overlap.
            let covered = bt.primary_key.iter().map(|k| (k, "primary key", Code::PkMissingDistributionColumn))
                .chain(bt.unique_constraints.iter().map(|k| (k, "unique constraint", Code::UniqueMissingDistributionColumn)))
                .find(|(k, _, _)| sorted(&k.columns) == sorted(&fk.referenced_columns) && !k.columns.contains(&db));
            let fix = if let (true, Some((k, what, code))) = (same_group, covered) {
                let mut fc = vec![da.clone()];
                fc.extend(fk.columns.iter().filter(|c| **c != da).cloned());
                let mut tc = vec![db.clone()];
                tc.extend(fk.referenced_columns.iter().cloned());
                comment(&format!(
                    "fixed by the fix for the {what} {} of {b} ({code}): it re-creates this key as FOREIGN KEY ({}) REFERENCES {b} ({})",
                    quote_ident(&k.name),
                    cols(&fc),
                    cols(&tc)
                ))
            } else if same_group && t.column(&da).is_some() && fk.columns.len() == fk.referenced_columns.len() {
                let mut fc = vec![da.clone()];
                fc.extend(fk.columns.iter().filter(|c| **c != da).cloned());
                let mut tc = vec![db.clone()];
                tc.extend(fk.referenced_columns.iter().filter(|c| **c != db).cloned());
                let has_key = bt.primary_key.iter().chain(&bt.unique_constraints).any(|k| sorted(&k.columns) == sorted(&tc));
                let mut s = String::new();
                if !has_key {
                    s.push_str(&format!("ALTER TABLE {b} ADD UNIQUE ({});\n", cols(&tc)));
                }
                s.push_str(&format!("ALTER TABLE {a} DROP CONSTRAINT {fkname}, ADD CONSTRAINT {fkname} FOREIGN KEY ({}) REFERENCES {b} ({});", cols(&fc), cols(&tc)));
                s
            } else {
                format!("{drop}  {}", comment("or co-locate both tables on the same key"))
            };
            cx.push(
                &a,
                if same_group { Code::FkNotOnDistributionColumn } else { Code::FkBetweenNonColocatedTables },
                Severity::Error,
                format!("{a}: foreign key {fkname} to {b} cannot be kept: {why} (Citus allows keys between distributed tables only when co-located and on the distribution column)"),
                Some(fix),
            );
        }
        (Kind::Reference, Kind::Distributed) => cx.push(
            &a,
            Code::ReferenceToDistributedFk,
            Severity::Error,
            format!("{a} is a reference table but its foreign key {fkname} references the distributed table {b}: Citus does not allow that"),
            Some(format!("{drop}  {}", comment(&format!("or make {b} a reference table, or distribute {a} with {b}")))),
        ),
        (Kind::Distributed | Kind::Reference, Kind::Local) => cx.push(
            &a,
            Code::FkToLocalTable,
            Severity::Error,
            format!("{a} is {} but its foreign key {fkname} references {b}, which stays local", kind_word(ka)),
            Some(format!("{drop}  {}", comment(&format!("or make {b} a reference table")))),
        ),
        (Kind::Local, Kind::Distributed) => cx.push(
            &a,
            Code::LocalToDistributedFk,
            Severity::Error,
            format!("{a} stays local but its foreign key {fkname} references the distributed table {b}: Citus does not allow that"),
            Some(format!("{drop}  {}", comment(&format!("or distribute {a} with {b}")))),
        ),
        (Kind::Schema, Kind::Schema) if a.schema == b.schema => {}
        (Kind::Schema, Kind::Reference) => {}
        (Kind::Schema, _) => cx.push(
            &a,
            Code::FkAcrossDistributedSchema,
            Severity::Error,
            format!("{a} is part of the distributed schema {} but its foreign key {fkname} references {b}, which is {}: Citus allows keys from a distributed schema only into the same schema or to reference tables", quote_ident(&a.schema), kind_word(kb)),
            Some(format!("{drop}  {}", comment(&format!("or make {b} a reference table")))),
        ),
        (_, Kind::Schema) => cx.push(
            &a,
            Code::FkAcrossDistributedSchema,
            Severity::Error,
            format!("{a} is {} but its foreign key {fkname} references {b} of the distributed schema {}: Citus refuses keys into a distributed schema from another schema", kind_word(ka), quote_ident(&b.schema)),
            Some(format!("{drop}  {}", comment(&format!("or move {a} into {}", quote_ident(&b.schema))))),
        ),
        (Kind::Local, Kind::Reference) => cx.push(
            &a,
            Code::LocalToReferenceFk,
            Severity::Warning,
            format!("{a} stays local but references the reference table {b}: Citus turns {a} into a Citus local table when 03-post-data.sql adds {fkname}"),
            None,
        ),
        _ => {}
    }
}

/// The verdict against the kinds (`single_node` distributes nothing), and every distributed schema as
/// `citus_schema_distribute` needs it: a schema Citus may distribute, with every table planned as part
/// of it (the function distributes the whole schema).
fn check_verdict_and_schemas(cx: &mut Ctx<'_>) {
    let plan = cx.plan;
    if plan.verdict == Verdict::SingleNode {
        for p in plan.tables.iter().filter(|p| p.kind != Kind::Local) {
            cx.push(
                &p.qualified(),
                Code::SingleNodeNotLocal,
                Severity::Error,
                format!(
                    "the plan's verdict is single_node (nothing is distributed) but {} is planned as {}",
                    p.qualified(),
                    kind_word(p.kind)
                ),
                Some(comment("set its \"kind\" to \"local\", or the plan's \"verdict\" to \"distributed\" (or \"schema_based\")")),
            );
        }
    }
    let schemas = plan.distributed_schemas();
    for s in &schemas {
        let first = plan
            .tables
            .iter()
            .find(|p| p.kind == Kind::Schema && p.schema == *s)
            .map(|p| p.qualified())
            .expect("a distributed schema has a table of kind schema");
        if *s == "public" || *s == "information_schema" || s.starts_with("pg_") {
            cx.push(
                &first,
                Code::SchemaNotDistributable,
                Severity::Error,
                format!("{first} is planned as part of a distributed schema, but Citus cannot distribute the schema {}", quote_ident(s)),
                Some(comment(&format!("move the tables of {} into a schema of their own, or plan them distributed or reference", quote_ident(s)))),
            );
        }
    }
    for t in &cx.catalog.tables {
        // citus_schema_distribute takes the schema's tables (and refuses its foreign tables); its
        // materialized views stay on the coordinator.
        if matches!(
            t.table_kind,
            TableKind::Partition | TableKind::MaterializedView
        ) || !schemas.contains(&t.schema.as_str())
        {
            continue;
        }
        let name = t.qualified();
        let kind = cx.kind_of(&name);
        if kind != Kind::Schema {
            cx.push(
                &name,
                Code::SchemaPartlyPlanned,
                Severity::Error,
                format!(
                    "{name} is planned as {}, but citus_schema_distribute distributes every table of the schema {}",
                    kind_word(kind),
                    quote_ident(&t.schema)
                ),
                Some(comment(&format!("plan {name} with \"kind\": \"schema\" too, or move it to another schema"))),
            );
        }
    }
}
