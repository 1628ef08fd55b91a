//! Trials of the advisor on schemas of shapes the other fixtures do not have — TPC-H, a Rails-style
//! multi-tenant app, and a second schema full of Citus blockers — judged as a Citus expert would: the
//! decisions that matter, every planted blocker reported with its code, and the generated SQL applied
//! 01 → 02 → 03 → rollback on a real Citus cluster without losing a row.

use std::path::Path;

use crate::advice::table;
use crate::common::*;
use crate::generate::apply_and_roll_back;

pub(crate) fn analyze(source: &LocalServer, db: &str) -> serde_json::Value {
    let out = bin()
        .args(["analyze", "--format", "json", "--source", &source.url(db)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn kind(v: &serde_json::Value, name: &str) -> String {
    table(v, name)["kind"].as_str().unwrap().to_string()
}

/// `(distribution column, group)` of a distributed table.
fn placed(v: &serde_json::Value, name: &str) -> (String, String) {
    let t = table(v, name);
    assert_eq!(t["kind"], "distributed", "{name}: {}", t["reasons"]);
    (
        t["distribution_column"].as_str().unwrap().to_string(),
        t["colocation_group"].as_str().unwrap().to_string(),
    )
}

fn codes(v: &serde_json::Value, name: &str) -> Vec<String> {
    table(v, name)["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["code"].as_str().unwrap().to_string())
        .collect()
}

fn errors(v: &serde_json::Value) -> Vec<String> {
    v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["blockers"].as_array().unwrap())
        .filter(|b| b["severity"] == "error")
        .map(|b| format!("{} {}", b["table"], b["code"]))
        .collect()
}

/// Runs generate (with `--plan` when given) and returns its output directory's plan.
fn generate(source: &LocalServer, db: &str, dir: &Path, plan: Option<&Path>) -> serde_json::Value {
    let mut cmd = bin();
    cmd.args(["generate", "--source", &source.url(db), "--out-dir"])
        .arg(dir);
    if let Some(p) = plan {
        cmd.arg("--plan").arg(p);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    serde_json::from_str(&std::fs::read_to_string(dir.join("plan.json")).unwrap()).unwrap()
}

fn tpch(cluster: &LocalCitus, source: &LocalServer) {
    source.create_database("tpch").unwrap();
    source.psql("tpch", &fixture("tpch.sql")).unwrap();
    let v = analyze(source, "tpch");
    // The two large tables co-located on the order key; everything else is small next to lineitem.
    let (ocol, ogroup) = placed(&v, "orders");
    let (lcol, lgroup) = placed(&v, "lineitem");
    assert_eq!((ocol.as_str(), lcol.as_str()), ("o_orderkey", "l_orderkey"));
    assert_eq!(ogroup, lgroup);
    for t in [
        "region", "nation", "supplier", "customer", "part", "partsupp",
    ] {
        assert_eq!(kind(&v, t), "reference", "{t}: {}", table(&v, t)["reasons"]);
    }
    // partsupp is referenced by lineitem on (l_partkey, l_suppkey): only a reference table keeps that key.
    assert!(table(&v, "partsupp")["reasons"][0]
        .as_str()
        .unwrap()
        .contains("referenced by public.lineitem"));
    assert!(errors(&v).is_empty(), "{:?}", errors(&v));
    let reason = v["shard_count"]["reason"].as_str().unwrap();
    assert!(reason.contains("Real-time analytics"), "{reason}");

    let dir = tempfile::tempdir().unwrap();
    let plan = generate(source, "tpch", dir.path(), None);
    apply_and_roll_back(cluster, source, "tpch", dir.path(), &plan);

    // dbgen's plain DDL declares no keys at all: names and unique statistics still pair the order
    // lines with their orders.
    source.create_database("tpch_nokeys").unwrap();
    source.psql("tpch_nokeys", &fixture("tpch.sql")).unwrap();
    source
        .psql(
            "tpch_nokeys",
            "DO $$ DECLARE c record; BEGIN
               FOR c IN SELECT conrelid::regclass AS t, conname FROM pg_constraint
                        WHERE connamespace = 'public'::regnamespace AND contype IN ('f', 'p')
                        ORDER BY contype LOOP
                 EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.t, c.conname);
               END LOOP; END $$;
             ANALYZE;",
        )
        .unwrap();
    let v = analyze(source, "tpch_nokeys");
    assert_eq!(table(&v, "orders")["primary_key"], serde_json::Value::Null);
    let (ocol, ogroup) = placed(&v, "orders");
    let (lcol, lgroup) = placed(&v, "lineitem");
    assert_eq!((ocol.as_str(), lcol.as_str()), ("o_orderkey", "l_orderkey"));
    assert_eq!(ogroup, lgroup);
    for t in ["region", "nation", "supplier", "customer", "part"] {
        assert_eq!(kind(&v, t), "reference", "{t}: {}", table(&v, t)["reasons"]);
    }
}

fn rails(cluster: &LocalCitus, source: &LocalServer) {
    source.create_database("rails").unwrap();
    source.psql("rails", &fixture("rails.sql")).unwrap();
    let v = analyze(source, "rails");
    assert_eq!(placed(&v, "accounts").0, "id");
    let group = placed(&v, "accounts").1;
    for t in [
        "users",
        "projects",
        "tasks",
        "comments",
        "tags",
        "taggings",
        "audit_logs",
    ] {
        assert_eq!(
            placed(&v, t),
            ("account_id".to_string(), group.clone()),
            "{t}"
        );
    }
    assert_eq!(kind(&v, "plans"), "reference");
    for t in ["schema_migrations", "ar_internal_metadata"] {
        assert_eq!(kind(&v, t), "local", "{t}: {}", table(&v, t)["reasons"]);
    }
    let reason = v["shard_count"]["reason"].as_str().unwrap();
    assert!(reason.contains("Multi-tenant layout"), "{reason}");
    // audit_logs: system events have no account, and its primary key is (id).
    let audit = &table(&v, "audit_logs")["blockers"];
    let nulls = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["code"] == "nulls_in_distribution_column")
        .unwrap_or_else(|| panic!("{audit}"));
    assert!(
        nulls["message"].as_str().unwrap().contains("200 row(s)"),
        "{nulls}"
    );
    assert!(codes(&v, "audit_logs").contains(&"pk_missing_distribution_column".into()));
    assert_eq!(errors(&v).len(), 2, "{:?}", errors(&v));

    // The NULLs fixed on the source: the advised plan changes the key on the target only
    // (extend_keys), and says so.
    source.psql("rails", &fixture("rails-fixes.sql")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["generate", "--source", &source.url("rails"), "--out-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("public.audit_logs [key_extended]"),
        "{}",
        stderr_of(&out)
    );
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("plan.json")).unwrap())
            .unwrap();
    let audit = plan["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "audit_logs")
        .unwrap();
    assert_eq!(audit["extend_keys"], true, "{audit}");
    let post = std::fs::read_to_string(dir.path().join("03-post-data.sql")).unwrap();
    assert!(
        post.contains("PRIMARY KEY (\"account_id\", \"id\")")
            || post.contains("PRIMARY KEY (account_id, id)"),
        "{post}"
    );
    apply_and_roll_back(cluster, source, "rails", dir.path(), &plan);
}

fn blockers2(cluster: &LocalCitus, source: &LocalServer) {
    source.create_database("blockers2").unwrap();
    source.psql("blockers2", &fixture("blockers2.sql")).unwrap();
    let v = analyze(source, "blockers2");
    // The tenant group holds every table that carries the tenant, bigint or not.
    assert_eq!(placed(&v, "tenants").0, "id");
    let group = placed(&v, "tenants").1;
    for t in ["contacts", "deals", "activities", "deal_events"] {
        assert_eq!(
            placed(&v, t),
            ("tenant_id".to_string(), group.clone()),
            "{t}"
        );
    }
    for (t, why) in [
        ("sensor_samples", "no column has a type"),
        ("notes", "inheritance"),
        ("notes_archive", "inherits"),
        ("tenant_revenue", "materialized view"),
    ] {
        assert_eq!(kind(&v, t), "local", "{t}");
        assert!(
            table(&v, t)["reasons"][0].as_str().unwrap().contains(why),
            "{t}: {}",
            table(&v, t)["reasons"]
        );
    }
    for (t, code) in [
        ("tenants", "colocation_type_mismatch"),
        ("contacts", "unique_missing_distribution_column"),
        ("contacts", "pk_missing_distribution_column"),
        ("contacts", "trigger_on_distributed_table"),
        ("deals", "fk_not_on_distribution_column"),
        ("activities", "nulls_in_distribution_column"),
        ("activities", "no_primary_key"),
        ("notes", "local_to_distributed_fk"),
        ("notes", "inheritance"),
        ("pipelines_default", "pk_missing_distribution_column"),
    ] {
        assert!(
            codes(&v, t).contains(&code.to_string()),
            "{t}: {code} not in {:?}",
            codes(&v, t)
        );
    }
    let mismatch = table(&v, "tenants")["blockers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["code"] == "colocation_type_mismatch")
        .unwrap()
        .clone();
    assert_eq!(
        mismatch["fix"],
        "ALTER TABLE crm.tenants ALTER COLUMN id TYPE bigint;"
    );
    // Partitions follow their parent.
    assert_eq!(
        placed(&v, "deal_events_2024_01"),
        ("tenant_id".to_string(), group)
    );

    source
        .psql("blockers2", &fixture("blockers2-fixes.sql"))
        .unwrap();
    let v = analyze(source, "blockers2");
    assert!(errors(&v).is_empty(), "{:?}", errors(&v));
    let dir = tempfile::tempdir().unwrap();
    let plan = generate(source, "blockers2", dir.path(), None);
    apply_and_roll_back(cluster, source, "blockers2", dir.path(), &plan);
}

/// Every table keyed by id alone: the fixes analyze prints, run as one script in the order printed,
/// make the plan apply (no two fixes overlap).
fn rails_ids(cluster: &LocalCitus, source: &LocalServer) {
    source.create_database("rails_ids").unwrap();
    source.psql("rails_ids", &fixture("rails-ids.sql")).unwrap();
    let v = analyze(source, "rails_ids");
    for t in ["users", "projects", "tasks"] {
        assert_eq!(placed(&v, t).0, "account_id", "{t}");
        assert!(codes(&v, t).contains(&"pk_missing_distribution_column".into()));
    }
    assert!(codes(&v, "users").contains(&"unique_missing_distribution_column".into()));
    assert!(codes(&v, "tasks").contains(&"fk_not_on_distribution_column".into()));
    let mut script = String::from("BEGIN;\n");
    for t in v["tables"].as_array().unwrap() {
        for b in t["blockers"].as_array().unwrap() {
            if let Some(fix) = b["fix"].as_str() {
                script.push_str(fix);
                script.push('\n');
            }
        }
    }
    script.push_str("COMMIT;\nANALYZE;\n");
    source.psql("rails_ids", &script).unwrap();
    let v = analyze(source, "rails_ids");
    assert!(errors(&v).is_empty(), "{:?}", errors(&v));
    let dir = tempfile::tempdir().unwrap();
    let plan = generate(source, "rails_ids", dir.path(), None);
    apply_and_roll_back(cluster, source, "rails_ids", dir.path(), &plan);
}

#[test]
fn unseen_schemas_get_expert_advice_and_sql_that_applies_on_citus() {
    let Some(cluster) =
        citus_or_skip("unseen_schemas_get_expert_advice_and_sql_that_applies_on_citus")
    else {
        return;
    };
    let source = LocalServer::start(&ServerOptions::default()).unwrap();
    tpch(&cluster, &source);
    rails(&cluster, &source);
    blockers2(&cluster, &source);
    rails_ids(&cluster, &source);
}
