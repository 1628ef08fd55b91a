//! Workloads on real servers: the corpus fixtures' workloads (`fixtures/corpus/<name>/workload.sql`)
//! parsed against their schemas, routed under the expert's plan and under the plan advised with the
//! workload, then EXPLAINed on a real Citus cluster holding each plan; and one schema with two
//! workloads that get two different plans, each better on its own workload, measured.

use std::collections::BTreeMap;
use std::path::PathBuf;

use citus_migrate_core::advice::{advise, AdviceOptions, Kind};
use citus_migrate_core::catalog::{self, Catalog, ReadOptions};
use citus_migrate_core::local::{citus_or_skip, LocalCitus};
use citus_migrate_core::plan::{Plan, PlanSource, PlanTable};
use citus_migrate_core::workload::{self, explain, Routing, Workload, WorkloadSource};
use citus_migrate_core::{ConnInfo, QualifiedName, Side};

fn corpus(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/corpus")
        .join(name)
}

fn read_text(p: PathBuf) -> String {
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The expert's answer (`expert.json`) as a plan: distributed tables by column type into groups as
/// Citus's default co-location does, reference tables.
fn expert_plan(name: &str) -> Plan {
    let v: serde_json::Value =
        serde_json::from_str(&read_text(corpus(name).join("expert.json"))).unwrap();
    let mut tables = Vec::new();
    for t in v["tables"].as_array().unwrap() {
        let q = QualifiedName::parse(t["table"].as_str().unwrap()).unwrap();
        let kind = match t["kind"].as_str().unwrap() {
            "distributed" => Kind::Distributed,
            "reference" => Kind::Reference,
            _ => Kind::Local,
        };
        tables.push(PlanTable {
            schema: q.schema,
            name: q.name,
            kind,
            distribution_column: t["column"].as_str().map(str::to_string),
            colocation_group: (kind == Kind::Distributed).then(|| "expert".to_string()),
            shard_count: None,
            extend_keys: false,
            changes: vec![],
            reasons: vec![],
        });
    }
    Plan {
        format_version: 1,
        source: PlanSource {
            database: name.into(),
            server_version: String::new(),
        },
        shard_count: 32,
        verdict: Default::default(),
        verdict_reasons: vec![],
        tables,
    }
}

/// The statements that put `plan` in place on the coordinator (each group's leader first).
fn apply_sql(plan: &Plan) -> String {
    let lit = |s: &str| citus_migrate_core::ident::quote_literal(s);
    let mut sql = String::new();
    for t in plan.tables.iter().filter(|t| t.kind == Kind::Reference) {
        sql.push_str(&format!(
            "SELECT create_reference_table({});\n",
            lit(&t.qualified().quoted())
        ));
    }
    for g in plan.groups() {
        let leader = g.leader.qualified().quoted();
        sql.push_str(&format!(
            "SELECT create_distributed_table({}, {}, colocate_with => 'none', shard_count => {});\n",
            lit(&leader),
            lit(g.leader.distribution_column.as_deref().unwrap()),
            g.shard_count
        ));
        for m in &g.members {
            sql.push_str(&format!(
                "SELECT create_distributed_table({}, {}, colocate_with => {});\n",
                lit(&m.qualified().quoted()),
                lit(m.distribution_column.as_deref().unwrap()),
                lit(&leader)
            ));
        }
    }
    sql
}

/// Undoes [`apply_sql`]: every table back to a plain table on the coordinator.
fn undo_sql(plan: &Plan) -> String {
    plan.tables
        .iter()
        .filter(|t| t.kind != Kind::Local)
        .map(|t| {
            format!(
                "SELECT undistribute_table({}, cascade_via_foreign_keys => true) FROM pg_dist_partition WHERE logicalrelid = {}::regclass;\n",
                citus_migrate_core::ident::quote_literal(&t.qualified().quoted()),
                citus_migrate_core::ident::quote_literal(&t.qualified().quoted())
            )
        })
        .collect()
}

const DROP_FOREIGN_KEYS: &str = "DO $$ DECLARE r record; BEGIN FOR r IN SELECT conrelid::regclass AS t, conname FROM pg_constraint WHERE contype = 'f' LOOP EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', r.t, r.conname); END LOOP; END $$;";

async fn load(cluster: &LocalCitus, db: &str, sql: &str) -> (ConnInfo, Catalog) {
    cluster.create_database(db).unwrap();
    cluster.coordinator.psql(db, sql).unwrap();
    let conn = ConnInfo::parse(Side::Source, &cluster.url(db)).unwrap();
    let cat = catalog::analyze(&conn, &ReadOptions::default())
        .await
        .unwrap();
    // The plans are applied table by table here (generate orders foreign keys after distribution):
    // without the keys, which change no query's routing.
    cluster.coordinator.psql(db, DROP_FOREIGN_KEYS).unwrap();
    (conn, cat)
}

/// Measures `workload` on the cluster holding `plan`, and undoes the plan afterwards.
async fn measure(
    cluster: &LocalCitus,
    db: &str,
    conn: &ConnInfo,
    cat: &Catalog,
    plan: &Plan,
    w: &Workload,
) -> explain::RoutingCheck {
    cluster.coordinator.psql(db, &apply_sql(plan)).unwrap();
    let client = citus_migrate_core::connect::connect(conn).await.unwrap();
    let check = explain::check(&client, &client, cat, w).await.unwrap();
    cluster.coordinator.psql(db, &undo_sql(plan)).unwrap();
    check
}

/// Prints the comparison and returns (expected == predicted, expected == measured) counts.
fn report(name: &str, label: &str, w: &Workload, check: &explain::RoutingCheck) -> (usize, usize) {
    let (mut pred_ok, mut meas_ok) = (0, 0);
    for (q, m) in w.queries.iter().zip(&check.queries) {
        let expected = q.notes.get("expect").and_then(|e| Routing::from_name(e));
        pred_ok += usize::from(expected == Some(m.predicted));
        meas_ok += usize::from(expected == m.measured);
        if !m.agree || expected != Some(m.predicted) {
            eprintln!(
                "{name} ({label}) {}: expected {:?}, predicted {:?} ({}), measured {:?} ({})",
                q.origin, expected, m.predicted, m.reason, m.measured, m.evidence
            );
        }
    }
    eprintln!(
        "workload: {name} ({label}): {} queries, prediction = measurement on {:.1}%, predicted = expected on {pred_ok}, measured = expected on {meas_ok}; measured single-shard {:.1}%, co-located {:.1}%",
        w.queries.len(),
        100.0 * check.agreement,
        100.0 * check.single_shard_share,
        100.0 * check.colocated_share
    );
    (pred_ok, meas_ok)
}

async fn run_fixture(cluster: &LocalCitus, name: &str, scale: &str) {
    let dir = corpus(name);
    let sql = format!(
        "\\set scale {scale}\n{}\n{}",
        read_text(dir.join("schema.sql")),
        read_text(dir.join("data.sql"))
    );
    let (conn, cat) = load(cluster, name, &sql).await;
    let raw = workload::read(&WorkloadSource::File(dir.join("workload.sql")), &conn)
        .await
        .unwrap();
    let w = workload::analyze(raw, &cat);
    assert!(w.unparsed.is_empty(), "{name}: {:?}", w.unparsed);
    assert!(w
        .queries
        .iter()
        .all(|q| q.notes.contains_key("expect") && q.notes.contains_key("source")));

    let expert = expert_plan(name);
    let advised = Plan::from_advice(&advise(
        &cat,
        &AdviceOptions {
            workload: w.weights(),
            ..Default::default()
        },
    ));
    for t in &advised.tables {
        let e = expert.table(&t.qualified());
        if e.map(|e| (e.kind, &e.distribution_column)) != Some((t.kind, &t.distribution_column)) {
            eprintln!(
                "{name}: advised {} {} {:?} (expert: {:?})",
                t.qualified(),
                t.kind,
                t.distribution_column,
                e.map(|e| (e.kind, &e.distribution_column))
            );
        }
    }
    let by_expert = measure(cluster, name, &conn, &cat, &expert, &w).await;
    let (pred_ok, meas_ok) = report(name, "expert plan", &w, &by_expert);
    let by_advice = measure(cluster, name, &conn, &cat, &advised, &w).await;
    report(name, "advised plan", &w, &by_advice);

    let n = w.queries.len();
    // The fixtures' expectations hold on Citus, and the prediction agrees with the measurement.
    assert!(
        meas_ok * 100 >= 95 * n,
        "{name}: measured = expected on {meas_ok}/{n}"
    );
    assert!(
        pred_ok * 100 >= 95 * n,
        "{name}: predicted = expected on {pred_ok}/{n}"
    );
    assert!(
        by_expert.agreement >= 0.95,
        "{name}: expert plan agreement {}",
        by_expert.agreement
    );
    assert!(
        by_advice.agreement >= 0.95,
        "{name}: advised plan agreement {}",
        by_advice.agreement
    );
    // The plan advised with the workload does at least as well as the expert's, measured.
    let good = |c: &explain::RoutingCheck| c.single_shard_share + c.colocated_share;
    assert!(
        good(&by_advice) + 1e-9 >= good(&by_expert),
        "{name}: advised {:.3} < expert {:.3}",
        good(&by_advice),
        good(&by_expert)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn corpus_workloads_are_predicted_as_citus_routes_them() {
    let Some(cluster) = citus_or_skip("corpus_workloads_are_predicted_as_citus_routes_them") else {
        return;
    };
    run_fixture(&cluster, "tpcc_hammerdb", "0.05").await;
    run_fixture(&cluster, "citus_docs_multi_tenant", "0.1").await;
    run_fixture(&cluster, "tpch", "0.0005").await;
}

/// One schema where the schema alone cannot say which entity is the key: orders belong to a store and
/// to a customer alike (named by their columns, as many applications declare no foreign keys). A
/// store-facing workload and a customer-facing one.
const TWO_ROOTS: &str = "
CREATE TABLE stores (id bigint PRIMARY KEY, name text NOT NULL);
CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id bigint NOT NULL, store_id bigint NOT NULL, customer_id bigint NOT NULL, total numeric NOT NULL);
INSERT INTO stores SELECT i, 'store ' || i FROM generate_series(1, 20000) i;
INSERT INTO customers SELECT i, 'customer ' || i FROM generate_series(1, 20000) i;
INSERT INTO orders SELECT i, 1 + i % 20000, 1 + (i * 7) % 20000, i % 100 FROM generate_series(1, 100000) i;
ANALYZE;
";

const STORE_WORKLOAD: &str = "
-- calls: 1000
SELECT o.id, o.total, s.name FROM orders o JOIN stores s ON s.id = o.store_id WHERE o.store_id = $1;
-- calls: 500
SELECT count(*), sum(total) FROM orders WHERE store_id = $1;
-- calls: 10
SELECT name FROM customers WHERE id = $1;
";

const CUSTOMER_WORKLOAD: &str = "
-- calls: 1000
SELECT o.id, o.total, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.customer_id = $1;
-- calls: 500
SELECT count(*), sum(total) FROM orders WHERE customer_id = $1;
-- calls: 10
SELECT name FROM stores WHERE id = $1;
";

#[tokio::test(flavor = "multi_thread")]
async fn a_workload_decides_where_the_schema_is_ambiguous() {
    let Some(cluster) = citus_or_skip("a_workload_decides_where_the_schema_is_ambiguous") else {
        return;
    };
    let (conn, cat) = load(&cluster, "shop", TWO_ROOTS).await;
    let parse = |text: &str| workload::analyze(workload::input::from_sql(text, "w.sql"), &cat);
    let (stores, customers) = (parse(STORE_WORKLOAD), parse(CUSTOMER_WORKLOAD));
    let plan_for = |w: &Workload| {
        Plan::from_advice(&advise(
            &cat,
            &AdviceOptions {
                workload: w.weights(),
                ..Default::default()
            },
        ))
    };
    let (store_plan, customer_plan) = (plan_for(&stores), plan_for(&customers));
    let orders = QualifiedName::new("public", "orders");
    let column = |p: &Plan| p.table(&orders).and_then(|t| t.distribution_column.clone());
    assert_eq!(
        column(&store_plan).as_deref(),
        Some("store_id"),
        "{}",
        store_plan.to_json()
    );
    assert_eq!(
        column(&customer_plan).as_deref(),
        Some("customer_id"),
        "{}",
        customer_plan.to_json()
    );

    // Each plan is better on its own workload, predicted and measured on Citus.
    let mut measured: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    for (pname, plan) in [
        ("store plan", &store_plan),
        ("customer plan", &customer_plan),
    ] {
        for (wname, w) in [
            ("store workload", &stores),
            ("customer workload", &customers),
        ] {
            let predicted = w.route(plan, &cat).single_shard_share;
            let check = measure(&cluster, "shop", &conn, &cat, plan, w).await;
            report("two roots", &format!("{pname}, {wname}"), w, &check);
            assert!(
                check.agreement >= 0.95,
                "{pname}, {wname}: {:?}",
                check.queries
            );
            assert!(
                (predicted - check.single_shard_share).abs() < 1e-9,
                "{pname}, {wname}"
            );
            measured.insert((pname, wname), check.single_shard_share);
        }
    }
    let m = |p, w| measured[&(p, w)];
    assert!(
        m("store plan", "store workload") > m("customer plan", "store workload"),
        "{measured:?}"
    );
    assert!(
        m("customer plan", "customer workload") > m("store plan", "customer workload"),
        "{measured:?}"
    );
}
