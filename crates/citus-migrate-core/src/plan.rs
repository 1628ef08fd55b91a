//! The distribution plan: what `generate` turns into SQL. Written as `plan.json`, meant to be read and
//! edited by a person (format in `docs/plan-format.md`); checked against the source's catalog before use.
//!
//! A [`Plan`] comes from the advice ([`Plan::from_advice`]) or a file ([`Plan::load`]); [`PlanChoice`]
//! says which, for [`crate::sqlgen::prepare`]; [`checks`] finds what stands in its way.

pub mod changes;
pub mod checks;
pub(crate) mod extend;
/// Citus's rules, for [`checks`] (nothing in this file uses them: a plan knows nothing of its checks).
mod rules;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::advice::{advise, Advice, AdviceOptions, Kind, Verdict};
use crate::catalog::{Catalog, TableKind};
use crate::error::{Error, Result};
use crate::ident::QualifiedName;

/// Version of the `plan.json` layout; bumped on incompatible changes.
pub const PLAN_FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub format_version: u32,
    /// The database the plan was made for (informational; not checked).
    pub source: PlanSource,
    /// `distributed` (row-based sharding; the default when absent), `single_node` (every table stays
    /// local: nothing is distributed) or `schema_based` (tables of kind `schema`: their schemas are
    /// distributed with `citus_schema_distribute`). Written only when not `distributed`.
    #[serde(default, skip_serializing_if = "Verdict::is_distributed")]
    pub verdict: Verdict,
    /// Why the advisor gave this verdict (informational, ignored when reading).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verdict_reasons: Vec<String>,
    /// Shards per co-location group, unless a group leader says otherwise.
    pub shard_count: u32,
    /// The tables in the order `02-distribute.sql` handles them: reference tables, then each
    /// co-location group's leader (its first table) before its members. Tables of the source that are
    /// not listed stay local (plain PostgreSQL tables on the coordinator).
    pub tables: Vec<PlanTable>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSource {
    pub database: String,
    #[serde(default)]
    pub server_version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanTable {
    pub schema: String,
    pub name: String,
    pub kind: Kind,
    /// Required for `distributed`, absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distribution_column: Option<String>,
    /// Distributed tables with the same group are co-located; the group's first table is its leader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colocation_group: Option<String>,
    /// Overrides the plan's shard count; only on a group's leader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_count: Option<u32>,
    /// For a distributed table whose primary key, unique constraints or unique indexes lack the
    /// distribution column: `03-post-data.sql` creates them with the column in front (and the foreign
    /// keys of co-located tables that reference them with their distribution column in front), on the
    /// target only. Uniqueness then holds per distribution value.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub extend_keys: bool,
    /// Other changes to the table on the target ([`changes::TableChange`]): foreign keys dropped,
    /// integer types unified, a tenant column added and filled from a parent's row.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<changes::TableChange>,
    /// Why the advisor chose this (informational, ignored when reading).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
}

impl PlanTable {
    pub fn qualified(&self) -> QualifiedName {
        QualifiedName::new(&self.schema, &self.name)
    }
}

/// One co-location group of a plan, leader first.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanGroup<'a> {
    pub name: &'a str,
    pub leader: &'a PlanTable,
    pub members: Vec<&'a PlanTable>,
    pub shard_count: u32,
}

/// Which plan to use: a plan file, or the advisor's plan for the source.
#[derive(Debug, Clone, Default)]
pub struct PlanChoice {
    /// A plan file (a `plan.json`, perhaps edited); the advisor's plan when `None`.
    pub file: Option<PathBuf>,
    /// Overrides the shard count of the advice, or of the file's plan.
    pub shard_count: Option<u32>,
    /// The application's joins and filters, for the advice (not used with a plan file).
    pub workload: crate::advice::WorkloadWeights,
}

impl PlanChoice {
    /// The plan, with where it came from (`advised by citus-migrate`, or the file) for file headers
    /// and messages.
    pub(crate) fn plan(&self, catalog: &Catalog) -> Result<(Plan, String)> {
        let Some(path) = &self.file else {
            let opts = AdviceOptions {
                shard_count: self.shard_count,
                workload: self.workload.clone(),
                ..Default::default()
            };
            let plan = Plan::from_advice(&advise(catalog, &opts)).with_required_changes(catalog);
            return Ok((plan, "advised by citus-migrate".into()));
        };
        let mut plan = Plan::load(path)?;
        if let Some(n) = self.shard_count {
            plan.shard_count = n;
        }
        Ok((plan, path.display().to_string()))
    }
}

impl Plan {
    /// The advisor's decisions as a plan.
    pub fn from_advice(advice: &Advice) -> Plan {
        let mut tables: Vec<PlanTable> = advice
            .tables
            .iter()
            .filter(|t| !t.is_partition)
            .map(|t| PlanTable {
                schema: t.schema.clone(),
                name: t.name.clone(),
                kind: t.kind,
                distribution_column: t.distribution_column.clone(),
                // A distributed schema is its own co-location group: nothing to write down.
                colocation_group: t
                    .colocation_group
                    .clone()
                    .filter(|_| t.kind != Kind::Schema),
                shard_count: None,
                extend_keys: false,
                changes: t
                    .added_column
                    .iter()
                    .map(|a| changes::TableChange::AddColumn {
                        column: a.column.clone(),
                        through: a.through.clone(),
                        from_column: a.from_column.clone(),
                    })
                    .collect(),
                reasons: t.reasons.clone(),
            })
            .collect();
        // Leaders first inside each group (the advice lists a group's tables leader first).
        let leader_of: BTreeMap<&str, QualifiedName> = advice
            .colocation_groups
            .iter()
            .map(|g| (g.name.as_str(), g.leader.clone()))
            .collect();
        let group_rank: BTreeMap<&str, usize> = advice
            .colocation_groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.name.as_str(), i))
            .collect();
        let key = |t: &PlanTable| {
            let g = t.colocation_group.as_deref().unwrap_or("");
            let is_leader = leader_of.get(g).is_some_and(|l| *l == t.qualified());
            (
                match t.kind {
                    Kind::Reference => 0,
                    Kind::Schema => 1,
                    Kind::Distributed => 2,
                    Kind::Local => 3,
                },
                group_rank.get(g).copied().unwrap_or(usize::MAX),
                !is_leader,
                t.qualified(),
            )
        };
        tables.sort_by_key(key);
        Plan {
            format_version: PLAN_FORMAT_VERSION,
            source: PlanSource {
                database: advice.database.clone(),
                server_version: advice.server_version.clone(),
            },
            verdict: advice.verdict,
            verdict_reasons: advice.verdict_reasons.clone(),
            shard_count: advice.shard_count.count,
            tables,
        }
    }

    /// The plan with the changes it needs to apply on Citus set ([`changes::add_required`]):
    /// `extend_keys`, one integer type per co-location group, foreign keys Citus cannot keep dropped
    /// on the target. What is still in the way needs a person's decision (the checks say which).
    pub fn with_required_changes(mut self, catalog: &Catalog) -> Plan {
        changes::add_required(&mut self, catalog);
        self
    }

    /// Reads a plan file; unparsable JSON gets an error with the line and column.
    pub fn load(path: &Path) -> Result<Plan> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::usage(format!("cannot read the plan {}: {e}", path.display())))?;
        Plan::parse(&text).map_err(|e| match e {
            Error::Usage(m) => Error::usage(format!("plan {}: {m}", path.display())),
            other => other,
        })
    }

    /// Reads a plan from its JSON text (`docs/plan-format.md`):
    ///
    /// ```
    /// use citus_migrate_core::advice::Kind;
    /// use citus_migrate_core::plan::Plan;
    /// use citus_migrate_core::QualifiedName;
    ///
    /// let plan = Plan::parse(r#"{
    ///   "format_version": 1,
    ///   "source": {"database": "shop"},
    ///   "shard_count": 32,
    ///   "tables": [
    ///     {"schema": "public", "name": "countries", "kind": "reference"},
    ///     {"schema": "public", "name": "customers", "kind": "distributed",
    ///      "distribution_column": "id", "colocation_group": "customer"},
    ///     {"schema": "public", "name": "orders", "kind": "distributed",
    ///      "distribution_column": "customer_id", "colocation_group": "customer"}
    ///   ]
    /// }"#)?;
    /// let orders = QualifiedName::new("public", "orders");
    /// assert_eq!(plan.kind_of(&orders), Kind::Distributed);
    /// // Tables the plan does not list stay local.
    /// assert_eq!(plan.kind_of(&QualifiedName::new("public", "audit")), Kind::Local);
    /// assert_eq!(plan.groups()[0].leader.name, "customers");
    /// # Ok::<(), citus_migrate_core::Error>(())
    /// ```
    pub fn parse(text: &str) -> Result<Plan> {
        let invalid = |e: serde_json::Error| {
            Error::usage(format!(
                "not a valid plan at line {}, column {}: {e}",
                e.line(),
                e.column()
            ))
        };
        // The shard counts are checked on the JSON as written, so that a negative or huge one gets the
        // allowed range rather than a complaint about its type.
        check_shard_counts(&serde_json::from_str(text).map_err(invalid)?)?;
        let plan: Plan = serde_json::from_str(text).map_err(invalid)?;
        if plan.format_version != PLAN_FORMAT_VERSION {
            return Err(Error::usage(format!(
                "format_version {} is not supported (this citus-migrate reads version {PLAN_FORMAT_VERSION})",
                plan.format_version
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        for t in &plan.tables {
            if !seen.insert(t.qualified()) {
                return Err(Error::usage(format!(
                    "table {} is listed twice",
                    t.qualified()
                )));
            }
        }
        Ok(plan)
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a plan always serializes");
        s.push('\n');
        s
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_json())
            .map_err(|e| Error::io(format!("cannot write plan {}", path.display()), e))
    }

    pub fn table(&self, name: &QualifiedName) -> Option<&PlanTable> {
        self.tables
            .iter()
            .find(|t| t.schema == name.schema && t.name == name.name)
    }

    /// The kind a table of the source gets: as planned, or local when the plan does not list it.
    pub fn kind_of(&self, name: &QualifiedName) -> Kind {
        self.table(name).map(|t| t.kind).unwrap_or(Kind::Local)
    }

    /// How many of the catalog's tables the plan makes `kind` (a table it does not list stays local).
    /// A partition follows its parent and is not counted on its own.
    pub fn count(&self, catalog: &Catalog, kind: Kind) -> usize {
        let planned: HashMap<QualifiedName, Kind> = self
            .tables
            .iter()
            .map(|t| (t.qualified(), t.kind))
            .collect();
        catalog
            .tables
            .iter()
            .filter(|t| t.table_kind != TableKind::Partition)
            .filter(|t| planned.get(&t.qualified()).copied().unwrap_or(Kind::Local) == kind)
            .count()
    }

    /// Co-location groups in plan order; a distributed table without a group is a group of its own,
    /// named after the table.
    pub fn groups(&self) -> Vec<PlanGroup<'_>> {
        let mut out: Vec<PlanGroup<'_>> = Vec::new();
        let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for t in self.tables.iter().filter(|t| t.kind == Kind::Distributed) {
            match t.colocation_group.as_deref() {
                Some(g) if index.contains_key(g) => out[index[g]].members.push(t),
                g => {
                    index.insert(g.unwrap_or(&t.name), out.len());
                    out.push(PlanGroup {
                        name: g.unwrap_or(&t.name),
                        leader: t,
                        members: Vec::new(),
                        shard_count: t.shard_count.unwrap_or(self.shard_count),
                    });
                }
            }
        }
        out
    }

    /// The schemas the plan distributes (`citus_schema_distribute`): those of its tables of kind
    /// `schema`, in plan order.
    pub fn distributed_schemas(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for t in self.tables.iter().filter(|t| t.kind == Kind::Schema) {
            if !out.contains(&t.schema.as_str()) {
                out.push(&t.schema);
            }
        }
        out
    }

    /// The group name of a distributed table (its own name when it has none).
    pub fn group_of(&self, name: &QualifiedName) -> Option<String> {
        let t = self.table(name).filter(|t| t.kind == Kind::Distributed)?;
        Some(
            t.colocation_group
                .clone()
                .unwrap_or_else(|| format!("{}", t.qualified())),
        )
    }

    /// A short stable fingerprint of the plan's decisions (not of its reasons or the source's server
    /// version), for file headers.
    pub fn fingerprint(&self) -> String {
        let mut v = self.clone();
        v.source.server_version.clear();
        v.verdict_reasons.clear();
        for t in &mut v.tables {
            t.reasons.clear();
        }
        let json = serde_json::to_string(&v).expect("a plan always serializes");
        let mut h: u64 = 0xcbf29ce484222325;
        for b in json.bytes() {
            h ^= b as u64;
            h = h.wrapping_mul(0x100000001b3);
        }
        format!("{h:016x}")
    }
}

/// The most shards Citus gives a table (`MAX_SHARD_COUNT` in Citus's
/// `src/include/distributed/shared_library_init.h`; `create_distributed_table` refuses more).
pub const MAX_SHARD_COUNT: u32 = 64_000;

/// The plan's `shard_count` and every table's must be whole numbers from 1 to [`MAX_SHARD_COUNT`].
fn check_shard_counts(plan: &serde_json::Value) -> Result<()> {
    let out_of_range = |v: &serde_json::Value| {
        v.is_number()
            && !v
                .as_u64()
                .is_some_and(|n| (1..=MAX_SHARD_COUNT as u64).contains(&n))
    };
    let range = format!("Citus allows 1 to {MAX_SHARD_COUNT} shards");
    if let Some(v) = plan.get("shard_count").filter(|v| out_of_range(v)) {
        return Err(Error::usage(format!(
            "shard_count {v} is out of range: {range}"
        )));
    }
    let tables = plan.get("tables").and_then(|t| t.as_array());
    for t in tables.into_iter().flatten() {
        if let Some(v) = t.get("shard_count").filter(|v| out_of_range(v)) {
            let part = |k: &str| t.get(k).and_then(|v| v.as_str()).unwrap_or("?").to_string();
            return Err(Error::usage(format!(
                "table {}: shard_count {v} is out of range: {range}",
                QualifiedName::new(part("schema"), part("name"))
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_name_line_and_column() {
        let err = Plan::parse("{\n  \"format_version\": 1,\n  \"shard_count\": ,\n}").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("line 3"), "{msg}");
        assert!(err.is_usage());
        let err = Plan::parse(r#"{"format_version":1,"source":{"database":"d"},"shard_count":4,"tables":[{"schema":"public","name":"t","kind":"distributed","distribution_colum":"x"}]}"#).unwrap_err();
        assert!(err.to_string().contains("distribution_colum"), "{err}");
        let err = Plan::parse(r#"{"format_version":1,"source":{"database":"d"},"shard_count":4,"tables":[{"schema":"public","name":"t","kind":"sharded"}]}"#).unwrap_err();
        assert!(err.to_string().contains("sharded"), "{err}");
        let err = Plan::parse(
            r#"{"format_version":9,"source":{"database":"d"},"shard_count":4,"tables":[]}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("format_version 9"), "{err}");
    }

    #[test]
    fn shard_counts_outside_what_citus_allows_are_refused() {
        let plan = |top: &str, table: &str| {
            Plan::parse(&format!(
                r#"{{"format_version":1,"source":{{"database":"d"}},"shard_count":{top},"tables":[
                {{"schema":"public","name":"a","kind":"distributed","distribution_column":"id","shard_count":{table}}}]}}"#
            ))
        };
        assert_eq!(
            plan("1", "64000").unwrap().tables[0].shard_count,
            Some(64000)
        );
        for bad in ["0", "-4", "64001", "4294967296", "2.5"] {
            let e = plan(bad, "8").unwrap_err();
            assert!(e.is_usage(), "{e}");
            assert_eq!(
                e.to_string(),
                format!("shard_count {bad} is out of range: Citus allows 1 to 64000 shards")
            );
            let e = plan("8", bad).unwrap_err().to_string();
            assert_eq!(
                e,
                format!("table public.a: shard_count {bad} is out of range: Citus allows 1 to 64000 shards")
            );
        }
        // Not a number at all: the JSON type error, with its place.
        let e = plan("\"32\"", "8").unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("invalid type"), "{e}");
    }

    #[test]
    fn round_trips_and_groups() {
        let text = r#"{"format_version":1,"source":{"database":"d"},"shard_count":8,"tables":[
            {"schema":"public","name":"r","kind":"reference"},
            {"schema":"public","name":"a","kind":"distributed","distribution_column":"id","colocation_group":"g","shard_count":4},
            {"schema":"public","name":"b","kind":"distributed","distribution_column":"a_id","colocation_group":"g"},
            {"schema":"public","name":"c","kind":"distributed","distribution_column":"id"}]}"#;
        let plan = Plan::parse(text).unwrap();
        assert_eq!(Plan::parse(&plan.to_json()).unwrap(), plan);
        let groups = plan.groups();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].leader.name, "a");
        assert_eq!(groups[0].members[0].name, "b");
        assert_eq!(groups[0].shard_count, 4);
        assert_eq!(groups[1].name, "c");
        assert_eq!(groups[1].shard_count, 8);
        assert_eq!(
            plan.kind_of(&QualifiedName::new("public", "zzz")),
            Kind::Local
        );
        assert_eq!(plan.fingerprint(), Plan::parse(text).unwrap().fingerprint());
    }
}
