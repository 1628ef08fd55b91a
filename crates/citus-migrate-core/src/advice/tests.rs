//! The advisor's rules on small synthetic catalogs.

use super::*;
use crate::catalog::{Column, ColumnStats, DbObject, ForeignKey, KeyConstraint, Reference, Table};
use crate::plan::checks::{self, Blocker, Code, Severity};
use crate::plan::Plan;

fn col(name: &str, ty: &str) -> Column {
    let (type_name, cat) = match ty {
        "int8" => ("bigint", "N"),
        "int4" => ("integer", "N"),
        "text" => ("text", "S"),
        "uuid" => ("uuid", "U"),
        "timestamptz" => ("timestamp with time zone", "D"),
        "float8" => ("double precision", "N"),
        "bool" => ("boolean", "B"),
        other => panic!("no test type {other}"),
    };
    Column {
        name: name.into(),
        attnum: 0,
        type_name: type_name.into(),
        base_type: ty.into(),
        type_category: cat.into(),
        type_kind: "b".into(),
        not_null: true,
        default: None,
        identity: None,
        generated: None,
        sequence: None,
        stats: None,
    }
}

fn table(name: &str, rows: i64, cols: &[(&str, &str)]) -> Table {
    Table {
        schema: "public".into(),
        name: name.into(),
        oid: 0,
        table_kind: TableKind::Plain,
        unlogged: false,
        parent: None,
        partition_key: None,
        partition_bound: None,
        heap_bytes: rows * 100,
        index_bytes: 0,
        toast_bytes: 0,
        total_bytes: rows * 100 + 8192,
        rows_estimate: rows,
        rows_exact: None,
        rewrites: 0,
        owner: "o".into(),
        access_method: None,
        comment: None,
        columns: cols
            .iter()
            .enumerate()
            .map(|(i, (n, t))| Column {
                attnum: i as i32 + 1,
                ..col(n, t)
            })
            .collect(),
        primary_key: None,
        unique_constraints: vec![],
        exclusion_constraints: vec![],
        check_constraints: vec![],
        foreign_keys: vec![],
        referenced_by: vec![],
        indexes: vec![],
        triggers: vec![],
        rules: vec![],
        policies: vec![],
        rls_enabled: false,
    }
}

fn pk(mut t: Table, cols: &[&str]) -> Table {
    t.primary_key = Some(KeyConstraint {
        name: format!("{}_pkey", t.name),
        columns: cols.iter().map(|c| c.to_string()).collect(),
        definition: String::new(),
    });
    t
}

fn fk(mut t: Table, cols: &[&str], target: &str, target_cols: &[&str]) -> Table {
    t.foreign_keys.push(ForeignKey {
        name: format!("{}_{}_fkey", t.name, cols.join("_")),
        columns: cols.iter().map(|c| c.to_string()).collect(),
        referenced_table: QualifiedName::new("public", target),
        referenced_columns: target_cols.iter().map(|c| c.to_string()).collect(),
        on_update: "no action".into(),
        on_delete: "no action".into(),
        match_type: "simple".into(),
        deferrable: false,
        validated: true,
        definition: String::new(),
    });
    t
}

fn stats(mut t: Table, col: &str, n_distinct: f64, null_frac: f64, mcf: &[f64]) -> Table {
    let c = t.columns.iter_mut().find(|c| c.name == col).unwrap();
    c.not_null = null_frac == 0.0;
    c.stats = Some(ColumnStats {
        null_frac,
        n_distinct,
        most_common_freqs: mcf.to_vec(),
        correlation: None,
    });
    t
}

fn catalog(mut tables: Vec<Table>) -> Catalog {
    let refs: Vec<(QualifiedName, Reference)> = tables
        .iter()
        .flat_map(|t| {
            t.foreign_keys.iter().map(move |f| {
                (
                    f.referenced_table.clone(),
                    Reference {
                        table: t.qualified(),
                        constraint: f.name.clone(),
                        columns: f.columns.clone(),
                        referenced_columns: f.referenced_columns.clone(),
                    },
                )
            })
        })
        .collect();
    for (target, r) in refs {
        if let Some(t) = tables.iter_mut().find(|t| t.qualified() == target) {
            t.referenced_by.push(r);
        }
    }
    Catalog {
        database: "test".into(),
        server_version: "15.4".into(),
        server_version_num: 150004,
        citus_version: None,
        extensions: vec![],
        current_user: "u".into(),
        database_bytes: 0,
        standby: None,
        tables,
    }
}

fn get<'a>(a: &'a Advice, name: &str) -> &'a TableAdvice {
    a.table(&QualifiedName::new("public", name))
        .unwrap_or_else(|| panic!("no table {name}"))
}

/// The tables are distributed on these columns, all in one group.
fn assert_colocated(a: &Advice, tables: &[(&str, &str)]) {
    for (t, c) in tables {
        assert_eq!(
            get(a, t).distribution_column.as_deref(),
            Some(*c),
            "{t}: {:?}",
            get(a, t).reasons
        );
        assert_eq!(
            get(a, t).colocation_group,
            get(a, tables[0].0).colocation_group,
            "{t}"
        );
    }
}

/// The blockers of the advised plan (the catalog rules; `analyze` adds the NULLs counted).
fn blockers(a: &Advice, cat: &Catalog) -> Vec<Blocker> {
    checks::check(cat, &Plan::from_advice(a))
}

fn has_errors(a: &Advice, cat: &Catalog) -> bool {
    blockers(a, cat)
        .iter()
        .any(|b| b.severity == Severity::Error)
}

fn table_blockers(a: &Advice, cat: &Catalog, name: &str) -> Vec<Blocker> {
    let t = get(a, name).qualified();
    blockers(a, cat)
        .into_iter()
        .filter(|b| b.table == t)
        .collect()
}

fn codes(a: &Advice, cat: &Catalog, name: &str) -> Vec<String> {
    table_blockers(a, cat, name)
        .iter()
        .map(|b| b.code.to_string())
        .collect()
}

fn validate(plan: &Plan, cat: &Catalog) -> crate::Result<Vec<Blocker>> {
    checks::applicable(plan, checks::check(cat, plan))
}

fn saas() -> Catalog {
    catalog(vec![
        pk(
            table("tenants", 100, &[("id", "int8"), ("name", "text")]),
            &["id"],
        ),
        fk(
            pk(
                table(
                    "users",
                    5_000,
                    &[("tenant_id", "int8"), ("id", "int8"), ("email", "text")],
                ),
                &["tenant_id", "id"],
            ),
            &["tenant_id"],
            "tenants",
            &["id"],
        ),
        fk(
            pk(
                table("projects", 20_000, &[("tenant_id", "int8"), ("id", "int8")]),
                &["tenant_id", "id"],
            ),
            &["tenant_id"],
            "tenants",
            &["id"],
        ),
        fk(
            pk(
                table(
                    "tasks",
                    500_000,
                    &[
                        ("tenant_id", "int8"),
                        ("id", "int8"),
                        ("project_id", "int8"),
                        ("due", "timestamptz"),
                    ],
                ),
                &["tenant_id", "id"],
            ),
            &["tenant_id", "project_id"],
            "projects",
            &["tenant_id", "id"],
        ),
        pk(
            table("plans", 5, &[("code", "text"), ("price", "int4")]),
            &["code"],
        ),
    ])
}

#[test]
fn multi_tenant_tables_share_the_tenant_group() {
    let mut cat = saas();
    cat.tables[0] = fk(
        std::mem::replace(&mut cat.tables[0], table("x", 0, &[])),
        &[],
        "plans",
        &[],
    );
    cat.tables[0].foreign_keys.clear();
    let a = advise(&cat, &AdviceOptions::default());
    let t = get(&a, "tenants");
    assert_eq!(
        (t.kind, t.distribution_column.as_deref()),
        (Kind::Distributed, Some("id"))
    );
    for name in ["users", "projects", "tasks"] {
        let t = get(&a, name);
        assert_eq!(t.kind, Kind::Distributed, "{name}");
        assert_eq!(
            t.distribution_column.as_deref(),
            Some("tenant_id"),
            "{name}"
        );
        assert_eq!(t.colocation_group.as_deref(), Some("tenants"), "{name}");
        assert!(!t.reasons.is_empty());
        assert_eq!(t.candidates[0].column, "tenant_id");
    }
    assert_eq!(get(&a, "plans").kind, Kind::Reference);
    assert_eq!(a.colocation_groups.len(), 1);
    assert_eq!(
        a.colocation_groups[0].leader,
        QualifiedName::new("public", "tenants")
    );
    assert_eq!(a.colocation_groups[0].column_type, "bigint");
    assert!(!has_errors(&a, &cat), "{:?}", blockers(&a, &cat));
    assert_eq!(a.shard_count.count, 32);
    let plan = Plan::from_advice(&a);
    assert!(validate(&plan, &cat).is_ok());
    // Reference tables come first, then the group's leader.
    assert_eq!(plan.tables[0].name, "plans");
    assert_eq!(plan.tables[1].name, "tenants");
}

#[test]
fn star_schema_dimensions_become_reference_tables() {
    let cat = catalog(vec![
        pk(
            table(
                "dim_date",
                3_650,
                &[("date_key", "int4"), ("day", "timestamptz")],
            ),
            &["date_key"],
        ),
        pk(
            table(
                "dim_product",
                2_000,
                &[("product_key", "int4"), ("name", "text")],
            ),
            &["product_key"],
        ),
        pk(
            table("dim_store", 50, &[("store_key", "int4"), ("city", "text")]),
            &["store_key"],
        ),
        fk(
            fk(
                fk(
                    stats(
                        pk(
                            table(
                                "fact_sales",
                                2_000_000,
                                &[
                                    ("sale_id", "int8"),
                                    ("date_key", "int4"),
                                    ("product_key", "int4"),
                                    ("store_key", "int4"),
                                    ("amount", "float8"),
                                ],
                            ),
                            &["sale_id"],
                        ),
                        "store_key",
                        50.0,
                        0.0,
                        &[0.05],
                    ),
                    &["date_key"],
                    "dim_date",
                    &["date_key"],
                ),
                &["product_key"],
                "dim_product",
                &["product_key"],
            ),
            &["store_key"],
            "dim_store",
            &["store_key"],
        ),
    ]);
    let a = advise(&cat, &AdviceOptions::default());
    for d in ["dim_date", "dim_product", "dim_store"] {
        assert_eq!(get(&a, d).kind, Kind::Reference, "{d}");
        assert!(
            get(&a, d).reasons[0].contains("referenced by"),
            "{:?}",
            get(&a, d).reasons
        );
    }
    let f = get(&a, "fact_sales");
    assert_eq!(
        (f.kind, f.distribution_column.as_deref()),
        (Kind::Distributed, Some("sale_id"))
    );
    // Never a float or a timestamp among the candidates.
    assert!(f.candidates.iter().all(|c| c.column != "amount"));
    assert!(get(&a, "dim_date")
        .candidates
        .iter()
        .all(|c| c.column != "day"));
    assert!(!has_errors(&a, &cat));
}

#[test]
fn two_large_tables_linked_by_a_key_are_co_located() {
    let cat = catalog(vec![
        pk(
            table(
                "orders",
                1_500_000,
                &[("o_orderkey", "int8"), ("o_custkey", "int8")],
            ),
            &["o_orderkey"],
        ),
        fk(
            pk(
                table(
                    "lineitem",
                    6_000_000,
                    &[("l_orderkey", "int8"), ("l_linenumber", "int4")],
                ),
                &["l_orderkey", "l_linenumber"],
            ),
            &["l_orderkey"],
            "orders",
            &["o_orderkey"],
        ),
        pk(
            table("nation", 25, &[("n_nationkey", "int4"), ("n_name", "text")]),
            &["n_nationkey"],
        ),
        fk(
            stats(
                pk(
                    table(
                        "customer",
                        150_000,
                        &[("c_custkey", "int8"), ("c_nationkey", "int4")],
                    ),
                    &["c_custkey"],
                ),
                "c_nationkey",
                25.0,
                0.0,
                &[0.04],
            ),
            &["c_nationkey"],
            "nation",
            &["n_nationkey"],
        ),
        fk(
            stats(
                pk(
                    table(
                        "supplier",
                        10_000,
                        &[("s_suppkey", "int8"), ("s_nationkey", "int4")],
                    ),
                    &["s_suppkey"],
                ),
                "s_nationkey",
                25.0,
                0.0,
                &[0.04],
            ),
            &["s_nationkey"],
            "nation",
            &["n_nationkey"],
        ),
    ]);
    let a = advise(&cat, &AdviceOptions::default());
    assert_colocated(&a, &[("orders", "o_orderkey"), ("lineitem", "l_orderkey")]);
    // 25 nations are no entity to shard customers and suppliers by.
    assert_eq!(get(&a, "nation").kind, Kind::Reference);
    assert_eq!(get(&a, "customer").kind, Kind::Reference);
    assert_eq!(get(&a, "supplier").kind, Kind::Reference);
    assert!(!has_errors(&a, &cat), "{:?}", blockers(&a, &cat));
}

#[test]
fn names_link_tables_without_foreign_keys() {
    let cat = catalog(vec![
        pk(
            table("accounts", 1_000, &[("id", "uuid"), ("name", "text")]),
            &["id"],
        ),
        pk(
            table(
                "events",
                900_000,
                &[
                    ("account_id", "uuid"),
                    ("id", "int8"),
                    ("at", "timestamptz"),
                ],
            ),
            &["account_id", "id"],
        ),
        pk(
            table(
                "sessions",
                300_000,
                &[("account_id", "uuid"), ("id", "int8")],
            ),
            &["account_id", "id"],
        ),
    ]);
    let a = advise(&cat, &AdviceOptions::default());
    assert_eq!(
        get(&a, "accounts").distribution_column.as_deref(),
        Some("id")
    );
    assert_eq!(
        get(&a, "events").distribution_column.as_deref(),
        Some("account_id")
    );
    assert_eq!(
        get(&a, "events").colocation_group.as_deref(),
        Some("accounts")
    );
    assert!(
        get(&a, "events").reasons[0].contains("name suggests"),
        "{:?}",
        get(&a, "events").reasons
    );
}

#[test]
fn blockers_name_the_key_and_carry_a_fix() {
    let mut orders = fk(
        pk(
            table("orders", 900_000, &[("id", "int8"), ("tenant_id", "int8")]),
            &["id"],
        ),
        &["tenant_id"],
        "tenants",
        &["id"],
    );
    orders.triggers.push(DbObject {
        name: "touch".into(),
        definition: String::new(),
        enabled: true,
    });
    orders.rules.push(DbObject {
        name: "keep".into(),
        definition: String::new(),
        enabled: true,
    });
    orders = stats(orders, "tenant_id", 1000.0, 0.02, &[0.3]);
    let mut items = fk(
        table(
            "items",
            2_000_000,
            &[("tenant_id", "int4"), ("order_id", "int8")],
        ),
        &["tenant_id"],
        "tenants",
        &["id"],
    );
    items = fk(items, &["order_id"], "orders", &["id"]);
    let cat = catalog(vec![
        pk(table("tenants", 1_000, &[("id", "int8")]), &["id"]),
        orders,
        items,
        fk(
            pk(
                table("labels", 10, &[("id", "int4"), ("order_id", "int8")]),
                &["id"],
            ),
            &["order_id"],
            "orders",
            &["id"],
        ),
        fk(
            pk(
                table(
                    "invoices",
                    3_000_000,
                    &[("tenant_id", "int8"), ("id", "int8")],
                ),
                &["tenant_id", "id"],
            ),
            &["tenant_id"],
            "tenants",
            &["id"],
        ),
    ]);
    let a = advise(&cat, &AdviceOptions::default());
    assert_eq!(
        get(&a, "orders").distribution_column.as_deref(),
        Some("tenant_id")
    );
    let oc = codes(&a, &cat, "orders");
    for code in [
        "pk_missing_distribution_column",
        "trigger_on_distributed_table",
        "rule_on_distributed_table",
        "skew",
        "nulls_in_distribution_column",
    ] {
        assert!(oc.contains(&code.to_string()), "{code} missing from {oc:?}");
    }
    let pk_fix = table_blockers(&a, &cat, "orders")
        .into_iter()
        .find(|b| b.code.as_str() == "pk_missing_distribution_column")
        .unwrap();
    assert_eq!(pk_fix.severity, Severity::Error);
    let fix = pk_fix.fix.as_deref().unwrap();
    assert!(
        fix.contains("ADD CONSTRAINT orders_pkey PRIMARY KEY (tenant_id, id)"),
        "{fix}"
    );
    // The keys that reference the old primary key are dropped first, and recreated where they can be.
    assert!(
        fix.contains("ALTER TABLE public.labels DROP CONSTRAINT labels_order_id_fkey;"),
        "{fix}"
    );
    assert!(
        fix.contains("FOREIGN KEY (tenant_id, order_id) REFERENCES public.orders (tenant_id, id)"),
        "{fix}"
    );
    let ic = codes(&a, &cat, "items");
    assert!(
        ic.contains(&"colocation_type_mismatch".to_string()),
        "{ic:?}"
    );
    assert!(
        ic.contains(&"fk_not_on_distribution_column".to_string()),
        "{ic:?}"
    );
    assert!(
        codes(&a, &cat, "labels").contains(&"reference_to_distributed_fk".to_string()),
        "{:?}",
        codes(&a, &cat, "labels")
    );
    assert!(codes(&a, &cat, "items").contains(&"no_primary_key".to_string()));
    assert!(has_errors(&a, &cat));
    let err = validate(&Plan::from_advice(&a), &cat)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("public.orders [pk_missing_distribution_column]"),
        "{err}"
    );
}

#[test]
fn inheritance_foreign_tables_and_partitions() {
    let parent = pk(table("logs", 1_000, &[("id", "int8")]), &["id"]);
    let mut child = table("logs_2024", 500, &[("id", "int8")]);
    child.table_kind = TableKind::InheritanceChild;
    child.parent = Some(QualifiedName::new("public", "logs"));
    let mut events = pk(
        table("events", 1_000_000, &[("id", "int8"), ("kind", "bool")]),
        &["id"],
    );
    events.table_kind = TableKind::PartitionedParent;
    let mut part = pk(
        table("events_p1", 500_000, &[("id", "int8"), ("kind", "bool")]),
        &["id"],
    );
    part.table_kind = TableKind::Partition;
    part.parent = Some(QualifiedName::new("public", "events"));
    let cat = catalog(vec![parent, child, events, part]);
    let a = advise(&cat, &AdviceOptions::default());
    assert_eq!(get(&a, "logs").kind, Kind::Local);
    assert_eq!(get(&a, "logs_2024").kind, Kind::Local);
    assert!(codes(&a, &cat, "logs").contains(&"inheritance".to_string()));
    assert_eq!(get(&a, "events").distribution_column.as_deref(), Some("id"));
    assert_eq!(get(&a, "events_p1").kind, Kind::Distributed);
    assert!(get(&a, "events_p1").reasons[0].contains("partition of"));
    let plan = Plan::from_advice(&a);
    assert!(
        plan.table(&QualifiedName::new("public", "events_p1"))
            .is_none(),
        "partitions follow their parent"
    );
    assert!(validate(&plan, &cat).is_ok(), "{:?}", validate(&plan, &cat));
}

#[test]
fn a_low_cardinality_column_is_no_distribution_column() {
    let cat = catalog(vec![
        pk(table("big", 1_000_000, &[("id", "int8")]), &["id"]),
        stats(
            table(
                "metrics",
                400_000,
                &[("region", "text"), ("at", "timestamptz"), ("v", "float8")],
            ),
            "region",
            4.0,
            0.0,
            &[0.7, 0.1, 0.1, 0.1],
        ),
    ]);
    let a = advise(&cat, &AdviceOptions::default());
    assert_eq!(get(&a, "metrics").kind, Kind::Reference);
    assert!(
        get(&a, "metrics").reasons[0].contains("too few distinct values"),
        "{:?}",
        get(&a, "metrics").reasons
    );
    // Forced by an edited plan, it gets the warnings.
    let mut plan = Plan::from_advice(&a);
    let m = plan
        .tables
        .iter_mut()
        .find(|t| t.name == "metrics")
        .unwrap();
    m.kind = Kind::Distributed;
    m.distribution_column = Some("region".into());
    let codes: Vec<String> = checks::check(&cat, &plan)
        .into_iter()
        .map(|b| b.code.to_string())
        .collect();
    assert!(
        codes.contains(&"low_cardinality".to_string()) && codes.contains(&"skew".to_string()),
        "{codes:?}"
    );
    assert!(validate(&plan, &cat).is_ok());
}

#[test]
fn edited_plans_that_contradict_the_database_name_the_table() {
    let cat = saas();
    let a = advise(&cat, &AdviceOptions::default());
    let base = Plan::from_advice(&a);
    let edit = |f: &dyn Fn(&mut Plan)| {
        let mut p = base.clone();
        f(&mut p);
        validate(&p, &cat).unwrap_err().to_string()
    };
    let e = edit(&|p| p.tables[0].name = "nope".into());
    assert!(e.contains("public.nope [unknown_table]"), "{e}");
    let e = edit(&|p| {
        p.tables
            .iter_mut()
            .find(|t| t.name == "tasks")
            .unwrap()
            .distribution_column = Some("tenant".into())
    });
    assert!(
        e.contains("public.tasks [unknown_column]") && e.contains("tenant_id"),
        "{e}"
    );
    let e = edit(&|p| {
        p.tables
            .iter_mut()
            .find(|t| t.name == "tasks")
            .unwrap()
            .distribution_column = Some("due".into())
    });
    assert!(
        e.contains("[unsuitable_type]") && e.contains("date/time"),
        "{e}"
    );
    let e = edit(&|p| {
        let t = p.tables.iter_mut().find(|t| t.name == "projects").unwrap();
        t.colocation_group = Some("other".into());
    });
    assert!(
        e.contains("public.tasks [fk_between_non_colocated_tables]"),
        "{e}"
    );
    let e = edit(&|p| {
        let t = p.tables.iter_mut().find(|t| t.name == "tenants").unwrap();
        t.kind = Kind::Reference;
        t.distribution_column = None;
        t.colocation_group = None;
        let u = p.tables.iter_mut().find(|t| t.name == "users").unwrap();
        u.kind = Kind::Reference;
        u.distribution_column = None;
        u.colocation_group = None;
        let pr = p.tables.iter_mut().find(|t| t.name == "projects").unwrap();
        pr.kind = Kind::Local;
        pr.distribution_column = None;
        pr.colocation_group = None;
    });
    assert!(
        e.contains("public.tasks [fk_to_local_table]") || e.contains("public.tasks [fk_between"),
        "{e}"
    );
    let e = edit(&|p| {
        p.tables
            .iter_mut()
            .find(|t| t.name == "plans")
            .unwrap()
            .kind = Kind::Distributed
    });
    assert!(
        e.contains(&format!(
            "{} [missing_distribution_column]",
            QualifiedName::new("public", "plans")
        )),
        "{e}"
    );
    let e = edit(&|p| {
        p.tables
            .iter_mut()
            .find(|t| t.name == "users")
            .unwrap()
            .shard_count = Some(8)
    });
    assert!(e.contains("[shard_count_on_member]"), "{e}");
}

#[test]
fn shard_count_follows_the_data_or_the_option() {
    let mut cat = saas();
    assert_eq!(
        advise(&cat, &AdviceOptions::default()).shard_count.count,
        32
    );
    cat.tables[3].total_bytes = 200 << 30;
    let a = advise(&cat, &AdviceOptions::default());
    assert_eq!(a.shard_count.count, 64);
    assert!(
        a.shard_count.reason.contains("100 GB"),
        "{}",
        a.shard_count.reason
    );
    let a = advise(
        &cat,
        &AdviceOptions {
            shard_count: Some(8),
            ..Default::default()
        },
    );
    assert_eq!(a.shard_count.count, 8);
    assert_eq!(Plan::from_advice(&a).shard_count, 8);
    // The reasons are data (the JSON's `shard_count.reason`): they name no option of the CLI.
    assert_eq!(a.shard_count.reason, "the shard count given by the user");
    let analytics = super::workload(&cat, &[]);
    assert!(
        analytics.contains("Real-time analytics layout"),
        "{analytics}"
    );
    assert!(!analytics.contains("--"), "{analytics}");
}

#[test]
fn a_shared_tenant_column_groups_tables_without_foreign_keys() {
    let cat = catalog(vec![
        pk(
            table(
                "projects",
                50_000,
                &[("org_id", "uuid"), ("id", "int8"), ("name", "text")],
            ),
            &["org_id", "id"],
        ),
        pk(
            table(
                "issues",
                900_000,
                &[("org_id", "uuid"), ("id", "int8"), ("project_id", "int8")],
            ),
            &["org_id", "id"],
        ),
        pk(
            table(
                "comments",
                2_000_000,
                &[("org_id", "uuid"), ("id", "int8"), ("issue_id", "int8")],
            ),
            &["org_id", "id"],
        ),
    ]);
    let a = advise(&cat, &AdviceOptions::default());
    for t in ["projects", "issues", "comments"] {
        assert_eq!(
            get(&a, t).distribution_column.as_deref(),
            Some("org_id"),
            "{t}"
        );
        assert_eq!(
            get(&a, t).colocation_group.as_deref(),
            Some("org_id"),
            "{t}"
        );
    }
    assert!(
        get(&a, "issues").reasons[0].contains("shared column org_id"),
        "{:?}",
        get(&a, "issues").reasons
    );
    assert!(!has_errors(&a, &cat));
}

#[test]
fn tpc_style_column_prefixes_link_orders_and_lines_without_foreign_keys() {
    let cat = catalog(vec![
        pk(
            table(
                "orders",
                1_500_000,
                &[("o_orderkey", "int8"), ("o_custkey", "int8")],
            ),
            &["o_orderkey"],
        ),
        pk(
            table(
                "lineitem",
                6_000_000,
                &[
                    ("l_orderkey", "int8"),
                    ("l_linenumber", "int4"),
                    ("l_partkey", "int8"),
                ],
            ),
            &["l_orderkey", "l_linenumber"],
        ),
        pk(
            table(
                "part",
                200_000,
                &[("p_partkey", "int8"), ("p_name", "text")],
            ),
            &["p_partkey"],
        ),
        pk(
            table(
                "customer",
                150_000,
                &[("c_custkey", "int8"), ("c_name", "text")],
            ),
            &["c_custkey"],
        ),
    ]);
    let a = advise(&cat, &AdviceOptions::default());
    assert_colocated(&a, &[("orders", "o_orderkey"), ("lineitem", "l_orderkey")]);
    assert_eq!(get(&a, "part").kind, Kind::Reference);
    assert_eq!(get(&a, "customer").kind, Kind::Reference);
    assert!(!has_errors(&a, &cat), "{:?}", blockers(&a, &cat));
}

#[test]
fn rails_style_tenant_schema_still_groups_by_the_tenant() {
    // Every table has its own `id` primary key and a company_id foreign key; ads and clicks also link
    // to their parent by id. A Citus expert distributes everything by company_id and extends the keys.
    let t = |name: &str, rows: i64, extra: &[(&str, &str)]| {
        let mut cols = vec![("id", "int8"), ("company_id", "int8")];
        cols.extend_from_slice(extra);
        fk(
            pk(table(name, rows, &cols), &["id"]),
            &["company_id"],
            "companies",
            &["id"],
        )
    };
    let cat = catalog(vec![
        pk(
            table("companies", 1_000, &[("id", "int8"), ("name", "text")]),
            &["id"],
        ),
        t("users", 50_000, &[]),
        t("campaigns", 20_000, &[]),
        fk(
            t("ads", 200_000, &[("campaign_id", "int8")]),
            &["campaign_id"],
            "campaigns",
            &["id"],
        ),
        fk(
            t("clicks", 5_000_000, &[("ad_id", "int8")]),
            &["ad_id"],
            "ads",
            &["id"],
        ),
    ]);
    let a = advise(&cat, &AdviceOptions::default());
    for name in ["users", "campaigns", "ads", "clicks"] {
        assert_eq!(
            get(&a, name).distribution_column.as_deref(),
            Some("company_id"),
            "{name}: {:?}",
            get(&a, name).reasons
        );
    }
    assert_eq!(
        get(&a, "companies").distribution_column.as_deref(),
        Some("id")
    );
    let fix = table_blockers(&a, &cat, "ads")
        .into_iter()
        .find(|b| b.code.as_str() == "fk_not_on_distribution_column")
        .unwrap()
        .fix
        .clone()
        .unwrap();
    assert!(
        fix.contains(
            "FOREIGN KEY (company_id, campaign_id) REFERENCES public.campaigns (company_id, id)"
        ),
        "{fix}"
    );
}

#[test]
fn generated_columns_never_and_typmods_do_not_matter() {
    assert_eq!(
        column::type_without_typmod("character varying(20)"),
        "character varying"
    );
    assert_eq!(column::type_without_typmod("numeric(12,2)"), "numeric");
    assert_eq!(
        column::type_without_typmod("timestamp(3) with time zone"),
        "timestamp(3) with time zone"
    );
    let mut c = col("x", "int8");
    c.generated = Some("stored".into());
    assert!(column::type_unfit(&c).unwrap().contains("generated"));
    assert!(column::type_unfit(&col("x", "bool"))
        .unwrap()
        .contains("boolean"));
    assert!(column::type_unfit(&col("x", "float8"))
        .unwrap()
        .contains("floating-point"));
    assert!(column::type_unfit(&col("x", "uuid")).is_none());
}

#[test]
fn a_large_dimension_is_not_paired_with_a_fact_whose_key_would_change() {
    // dim_customer holds 20% of the fact's rows: too many for the share rule, but co-locating it with
    // the fact would force the fact's primary key to change, so it becomes a reference table instead.
    let cat = catalog(vec![
        pk(
            table(
                "dim_customer",
                20_000,
                &[("customer_key", "int8"), ("name", "text")],
            ),
            &["customer_key"],
        ),
        fk(
            pk(
                table(
                    "fact_sales",
                    100_000,
                    &[("sale_id", "int8"), ("customer_key", "int8")],
                ),
                &["sale_id"],
            ),
            &["customer_key"],
            "dim_customer",
            &["customer_key"],
        ),
    ]);
    let a = advise(&cat, &AdviceOptions::default());
    assert_eq!(
        get(&a, "fact_sales").distribution_column.as_deref(),
        Some("sale_id")
    );
    assert_eq!(
        get(&a, "dim_customer").kind,
        Kind::Reference,
        "{:?}",
        get(&a, "dim_customer").reasons
    );
    assert!(!has_errors(&a, &cat), "{:?}", blockers(&a, &cat));
}

#[test]
fn a_tenant_column_of_another_integer_width_still_joins_the_tenant_group() {
    // tenants.id is integer; the tables carry tenant_id as bigint, most without a foreign key.
    let cat = catalog(vec![
        pk(
            table("tenants", 100, &[("id", "int4"), ("name", "text")]),
            &["id"],
        ),
        fk(
            pk(
                table("contacts", 40_000, &[("tenant_id", "int8"), ("id", "int8")]),
                &["tenant_id", "id"],
            ),
            &["tenant_id"],
            "tenants",
            &["id"],
        ),
        pk(
            table("deals", 80_000, &[("tenant_id", "int8"), ("id", "int8")]),
            &["tenant_id", "id"],
        ),
        pk(
            table(
                "activities",
                60_000,
                &[("tenant_id", "int8"), ("id", "int8")],
            ),
            &["tenant_id", "id"],
        ),
    ]);
    let a = advise(&cat, &AdviceOptions::default());
    assert_colocated(
        &a,
        &[
            ("tenants", "id"),
            ("contacts", "tenant_id"),
            ("deals", "tenant_id"),
            ("activities", "tenant_id"),
        ],
    );
    // The fix widens the one narrower column instead of narrowing three.
    let mismatch: Vec<Blocker> = blockers(&a, &cat)
        .into_iter()
        .filter(|b| b.code.as_str() == "colocation_type_mismatch")
        .collect();
    assert_eq!(mismatch.len(), 1, "{mismatch:?}");
    assert_eq!(mismatch[0].table, QualifiedName::new("public", "tenants"));
    assert_eq!(
        mismatch[0].fix.as_deref(),
        Some("ALTER TABLE public.tenants ALTER COLUMN id TYPE bigint;")
    );
    assert!(
        mismatch[0].message.contains("public.tenants.id is integer"),
        "{}",
        mismatch[0].message
    );
    // Names never link a text column to an integer key.
    let cat = catalog(vec![
        pk(table("tenants", 100, &[("id", "int4")]), &["id"]),
        pk(
            table("notes", 40_000, &[("tenant_id", "text"), ("id", "int8")]),
            &["id"],
        ),
    ]);
    let a = advise(&cat, &AdviceOptions::default());
    assert_ne!(
        get(&a, "notes").distribution_column.as_deref(),
        Some("tenant_id")
    );
}

#[test]
fn framework_bookkeeping_tables_stay_local_and_lookups_stay_reference() {
    let mut cat = saas();
    cat.tables.push(pk(
        table("schema_migrations", 40, &[("version", "text")]),
        &["version"],
    ));
    cat.tables.push(pk(
        table("alembic_version", 1, &[("version_num", "text")]),
        &["version_num"],
    ));
    let a = advise(&cat, &AdviceOptions::default());
    for t in ["schema_migrations", "alembic_version"] {
        assert_eq!(
            get(&a, t).kind,
            Kind::Local,
            "{t}: {:?}",
            get(&a, t).reasons
        );
        assert!(
            get(&a, t).reasons[0].contains("migration bookkeeping"),
            "{:?}",
            get(&a, t).reasons
        );
        assert!(
            table_blockers(&a, &cat, t).is_empty(),
            "{:?}",
            table_blockers(&a, &cat, t)
        );
    }
    // A user table that happens to be called "migrations" but is referenced is an ordinary lookup.
    let cat = catalog(vec![
        pk(table("migrations", 10, &[("id", "int8")]), &["id"]),
        fk(
            pk(
                table(
                    "moves",
                    100_000,
                    &[("id", "int8"), ("migration_id", "int8")],
                ),
                &["id"],
            ),
            &["migration_id"],
            "migrations",
            &["id"],
        ),
    ]);
    let a = advise(&cat, &AdviceOptions::default());
    assert_eq!(get(&a, "migrations").kind, Kind::Reference);
}

#[test]
fn a_group_of_one_member_says_table_not_tables() {
    let cat = catalog(vec![
        pk(table("orders", 100_000, &[("id", "int8")]), &["id"]),
        fk(
            pk(
                table("lines", 400_000, &[("order_id", "int8"), ("no", "int4")]),
                &["order_id", "no"],
            ),
            &["order_id"],
            "orders",
            &["id"],
        ),
    ]);
    let a = advise(&cat, &AdviceOptions::default());
    assert_colocated(&a, &[("orders", "id"), ("lines", "order_id")]);
    assert!(
        a.colocation_groups[0]
            .reason
            .starts_with("1 table leads to"),
        "{}",
        a.colocation_groups[0].reason
    );
    assert!(
        get(&a, "orders").reasons[0].starts_with("root entity: 1 table leads to it"),
        "{:?}",
        get(&a, "orders").reasons
    );
}

#[test]
fn a_key_to_a_primary_key_that_lacks_the_column_is_fixed_once_by_that_key() {
    // Rails-style: every table keyed by id alone, tenant in account_id.
    let cat = catalog(vec![
        pk(table("accounts", 100, &[("id", "int8")]), &["id"]),
        fk(
            pk(
                table(
                    "projects",
                    20_000,
                    &[("id", "int8"), ("account_id", "int8")],
                ),
                &["id"],
            ),
            &["account_id"],
            "accounts",
            &["id"],
        ),
        fk(
            fk(
                pk(
                    table(
                        "tasks",
                        100_000,
                        &[
                            ("id", "int8"),
                            ("account_id", "int8"),
                            ("project_id", "int8"),
                        ],
                    ),
                    &["id"],
                ),
                &["account_id"],
                "accounts",
                &["id"],
            ),
            &["project_id"],
            "projects",
            &["id"],
        ),
    ]);
    let a = advise(&cat, &AdviceOptions::default());
    assert_colocated(
        &a,
        &[
            ("accounts", "id"),
            ("projects", "account_id"),
            ("tasks", "account_id"),
        ],
    );
    let fk_fix = table_blockers(&a, &cat, "tasks")
        .into_iter()
        .find(|b| b.code.as_str() == "fk_not_on_distribution_column")
        .unwrap()
        .fix
        .clone()
        .unwrap();
    // No overlapping SQL: the primary key's fix re-creates the foreign key.
    assert!(fk_fix.starts_with("-- fixed by the fix for the primary key projects_pkey of public.projects (pk_missing_distribution_column)"), "{fk_fix}");
    assert!(!fk_fix.contains("ADD UNIQUE"), "{fk_fix}");
    let pk_fix = table_blockers(&a, &cat, "projects")
        .into_iter()
        .find(|b| b.code.as_str() == "pk_missing_distribution_column")
        .unwrap()
        .fix
        .clone()
        .unwrap();
    assert!(
        pk_fix.contains("ALTER TABLE public.tasks ADD CONSTRAINT tasks_project_id_fkey FOREIGN KEY (account_id, project_id) REFERENCES public.projects (account_id, id);"),
        "{pk_fix}"
    );
}

#[test]
fn a_chain_of_a_foreign_key_then_a_name_says_both() {
    let cat = catalog(vec![
        pk(table("tenants", 100, &[("id", "int8")]), &["id"]),
        pk(
            table("deals", 80_000, &[("tenant_id", "int8"), ("id", "int8")]),
            &["tenant_id", "id"],
        ),
        fk(
            pk(
                table(
                    "deal_events",
                    90_000,
                    &[("tenant_id", "int8"), ("id", "int8"), ("deal_id", "int8")],
                ),
                &["tenant_id", "id"],
            ),
            &["tenant_id", "deal_id"],
            "deals",
            &["tenant_id", "id"],
        ),
    ]);
    let a = advise(&cat, &AdviceOptions::default());
    assert_colocated(
        &a,
        &[
            ("tenants", "id"),
            ("deals", "tenant_id"),
            ("deal_events", "tenant_id"),
        ],
    );
    let r = &get(&a, "deal_events").reasons[0];
    assert!(
        r.contains("its foreign keys and then a column's name lead to public.tenants.id"),
        "{r}"
    );
    let r = &get(&a, "deals").reasons[0];
    assert!(
        r.contains("its name suggests it refers to public.tenants.id"),
        "{r}"
    );
}

#[test]
fn schemas_loaded_without_keys_link_by_names_and_unique_statistics() {
    // TPC-H's plain DDL: no primary or foreign keys; the statistics say o_orderkey is unique.
    let orders = stats(
        stats(
            table(
                "orders",
                150_000,
                &[
                    ("o_orderkey", "int4"),
                    ("o_custkey", "int4"),
                    ("o_comment", "text"),
                ],
            ),
            "o_orderkey",
            -1.0,
            0.0,
            &[],
        ),
        "o_comment",
        -1.0,
        0.0,
        &[],
    );
    let lineitem = stats(
        table(
            "lineitem",
            600_000,
            &[("l_orderkey", "int4"), ("l_linenumber", "int4")],
        ),
        "l_orderkey",
        140_000.0,
        0.0,
        &[],
    );
    let a = advise(&catalog(vec![orders, lineitem]), &AdviceOptions::default());
    assert_colocated(&a, &[("orders", "o_orderkey"), ("lineitem", "l_orderkey")]);
    assert!(
        get(&a, "lineitem").reasons[0]
            .contains("its name suggests it refers to public.orders.o_orderkey"),
        "{:?}",
        get(&a, "lineitem").reasons
    );
    // Without unique statistics (nor a key) nothing says o_orderkey identifies an order.
    let orders = stats(
        table("orders", 150_000, &[("o_orderkey", "int4")]),
        "o_orderkey",
        40_000.0,
        0.0,
        &[],
    );
    let lineitem = table(
        "lineitem",
        600_000,
        &[("l_orderkey", "int4"), ("l_linenumber", "int4")],
    );
    let a = advise(&catalog(vec![orders, lineitem]), &AdviceOptions::default());
    assert_ne!(
        get(&a, "orders").colocation_group,
        get(&a, "lineitem").colocation_group
    );
}

/// A name with a quote of each kind and a line break followed by a psql command.
fn hostile(base: &str) -> String {
    format!("{base}'\n\\! touch x\n\"")
}

/// The fix SQL as psql reads it: every line that starts outside quoted names, strings and comments
/// is a statement or a comment citus-migrate wrote (never a psql command or a piece of a name), and
/// the text ends outside any quote, so what follows it is read as written.
fn assert_fix_is_only_ours(code: &str, fix: &str) {
    use crate::ident::lines_with_level;
    const STARTS: [&str; 7] = [
        "ALTER TABLE ",
        "DROP ",
        "CREATE ",
        "SELECT ",
        "UPDATE ",
        "DELETE FROM ",
        "-- ",
    ];
    for (line, top) in lines_with_level(fix) {
        assert!(
            !top || STARTS.iter().any(|s| line.starts_with(s)),
            "{code}: line {line:?} is read as SQL or a psql command in\n{fix}"
        );
    }
    let after = format!("{fix}\nSELECT 1;");
    assert_eq!(
        lines_with_level(&after).last(),
        Some(&("SELECT 1;", true)),
        "{code}: a quote is left open in\n{fix}"
    );
}

#[test]
fn fix_sql_keeps_hostile_names_in_quotes_and_its_comments_on_one_line() {
    let (tenant, id, code) = (hostile("tenant"), hostile("id"), hostile("code"));
    let mut parent = pk(
        table(
            &hostile("parent"),
            1_000,
            &[
                (&id, "int8"),
                (&tenant, "int8"),
                (&code, "text"),
                ("serial", "int8"),
            ],
        ),
        &[&id],
    );
    parent.primary_key.as_mut().unwrap().name = hostile("pkey");
    parent.unique_constraints.push(KeyConstraint {
        name: hostile("uq"),
        columns: vec![code.clone()],
        definition: String::new(),
    });
    parent.exclusion_constraints.push(KeyConstraint {
        name: hostile("excl"),
        columns: vec![code.clone()],
        definition: String::new(),
    });
    for (name, expressions) in [(hostile("idx"), false), (hostile("expr idx"), true)] {
        parent.indexes.push(crate::catalog::Index {
            name,
            columns: vec![code.clone()],
            unique: true,
            primary: false,
            partial: false,
            expressions,
            method: hostile("method"),
            backs_constraint: false,
            bytes: 0,
            definition: String::new(),
        });
    }
    for (list, name) in [
        (&mut parent.triggers, hostile("trigger")),
        (&mut parent.rules, hostile("rule")),
    ] {
        list.push(DbObject {
            name,
            definition: String::new(),
            enabled: true,
        });
    }
    parent.columns[3].identity = Some("a".into());
    parent = stats(parent, &tenant, 100.0, 0.1, &[0.01]);
    parent = fk(parent, &[&code], &hostile("unselected"), &["c"]);
    // Co-located with the parent, on a column of another type, its key to the parent's primary key.
    let child = fk(
        table(
            &hostile("child"),
            1_000,
            &[(&tenant, "int4"), (&id, "int8")],
        ),
        &[&id],
        &hostile("parent"),
        &[&id],
    );
    // A reference table that references the parent (it has no distribution column to put in front).
    let reference = fk(
        table(&hostile("reference"), 10, &[(&id, "int8")]),
        &[&id],
        &hostile("parent"),
        &[&id],
    );
    let local = fk(
        table(&hostile("local"), 10, &[(&id, "int8")]),
        &[&id],
        &hostile("parent"),
        &[&id],
    );
    // Distributed on its own: its keys to the parent (not co-located) and to a local table.
    let other = fk(
        fk(
            table(
                &hostile("other"),
                1_000,
                &[(&tenant, "int8"), (&id, "int8")],
            ),
            &[&id],
            &hostile("parent"),
            &[&id],
        ),
        &[&id],
        &hostile("local"),
        &[&id],
    );
    let mut inherits = table(&hostile("inherits"), 10, &[(&id, "int8")]);
    inherits.table_kind = TableKind::InheritanceChild;
    inherits.parent = Some(QualifiedName::new("public", hostile("local")));
    let mut kept = table(&hostile("kept"), 10, &[(&id, "int8")]);
    kept.table_kind = TableKind::InheritanceChild;
    kept.parent = Some(QualifiedName::new("public", hostile("local")));
    let cat = catalog(vec![parent, child, reference, local, other, inherits, kept]);
    let planned = |name: &str, kind: &str, col: Option<&str>, group: Option<&str>| {
        serde_json::json!({ "schema": "public", "name": hostile(name), "kind": kind,
            "distribution_column": col, "colocation_group": group })
    };
    let plan: Plan = serde_json::from_value(serde_json::json!({
        "format_version": 1,
        "source": { "database": "test" },
        "shard_count": 4,
        "tables": [
            planned("parent", "distributed", Some(&tenant), Some("g")),
            planned("child", "distributed", Some(&tenant), Some("g")),
            planned("reference", "reference", None, None),
            planned("local", "local", None, None),
            planned("other", "distributed", Some(&tenant), Some("h")),
            planned("inherits", "reference", None, None),
            planned("kept", "local", None, None),
        ]
    }))
    .unwrap();
    let blockers = checks::check(&cat, &plan);
    let mut with_fix: Vec<String> = Vec::new();
    for b in &blockers {
        if let Some(fix) = &b.fix {
            assert_fix_is_only_ours(&b.code.to_string(), fix);
            with_fix.push(b.code.to_string());
        }
    }
    with_fix.sort();
    with_fix.dedup();
    assert_eq!(
        with_fix,
        [
            "colocation_type_mismatch",
            "exclusion_missing_distribution_column",
            "fk_between_non_colocated_tables",
            "fk_not_on_distribution_column",
            "fk_to_local_table",
            "fk_to_unselected_table",
            "identity_column",
            "inheritance",
            "local_to_distributed_fk",
            "nulls_in_distribution_column",
            "pk_missing_distribution_column",
            "reference_to_distributed_fk",
            "rule_on_distributed_table",
            "trigger_on_distributed_table",
            "unique_index_missing_distribution_column",
            "unique_missing_distribution_column",
        ]
    );
    // The index method is a name too, and the names in comments are escaped onto their line.
    let idx = blockers
        .iter()
        .filter(|b| b.code == Code::UniqueIndexMissingDistributionColumn)
        .filter_map(|b| b.fix.as_deref())
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        idx.contains(" USING \"method'\n\\! touch x\n\"\"\" ("),
        "{idx}"
    );
    assert!(
        idx.contains(
            "-- then recreate it with \"tenant'\\n\\\\! touch x\\n\"\"\" as its first column"
        ),
        "{idx}"
    );
}

/// TPC-C as benchmark kits declare it: no foreign keys, every column prefixed by its table
/// (`d_w_id`, `c_w_id`, `ol_supply_w_id`), composite primary keys that all begin with the warehouse.
/// `w` warehouses; the item catalog does not grow with them.
fn tpcc(w: i64, with_warehouse: bool) -> Catalog {
    let n = |rows: i64, mut t: Table, c: &str, distinct: f64| {
        t.rows_estimate = rows;
        t.total_bytes = rows * 100 + 8192;
        stats(t, c, distinct, 0.0, &[])
    };
    let wd = w as f64;
    let mut v = vec![
        pk(
            table(
                "district",
                10 * w,
                &[("d_w_id", "int4"), ("d_id", "int4"), ("d_name", "text")],
            ),
            &["d_w_id", "d_id"],
        ),
        n(
            30_000 * w,
            pk(
                table(
                    "customer",
                    0,
                    &[
                        ("c_w_id", "int4"),
                        ("c_d_id", "int4"),
                        ("c_id", "int4"),
                        ("c_phone", "text"),
                    ],
                ),
                &["c_w_id", "c_d_id", "c_id"],
            ),
            "c_w_id",
            wd,
        ),
        n(
            30_000 * w,
            table(
                "history",
                0,
                &[
                    ("h_c_id", "int4"),
                    ("h_c_d_id", "int4"),
                    ("h_c_w_id", "int4"),
                    ("h_d_id", "int4"),
                    ("h_w_id", "int4"),
                    ("h_data", "text"),
                ],
            ),
            "h_w_id",
            wd,
        ),
        n(
            30_000 * w,
            pk(
                table(
                    "orders",
                    0,
                    &[
                        ("o_w_id", "int4"),
                        ("o_d_id", "int4"),
                        ("o_id", "int4"),
                        ("o_c_id", "int4"),
                    ],
                ),
                &["o_w_id", "o_d_id", "o_id"],
            ),
            "o_w_id",
            wd,
        ),
        n(
            9_000 * w,
            pk(
                table(
                    "new_order",
                    0,
                    &[
                        ("no_w_id", "int4"),
                        ("no_d_id", "int4"),
                        ("no_o_id", "int4"),
                    ],
                ),
                &["no_w_id", "no_d_id", "no_o_id"],
            ),
            "no_w_id",
            wd,
        ),
        n(
            300_000 * w,
            pk(
                table(
                    "order_line",
                    0,
                    &[
                        ("ol_w_id", "int4"),
                        ("ol_d_id", "int4"),
                        ("ol_o_id", "int4"),
                        ("ol_number", "int4"),
                        ("ol_i_id", "int4"),
                        ("ol_supply_w_id", "int4"),
                    ],
                ),
                &["ol_w_id", "ol_d_id", "ol_o_id", "ol_number"],
            ),
            "ol_w_id",
            wd,
        ),
        n(
            100_000 * w,
            pk(
                table(
                    "stock",
                    0,
                    &[("s_i_id", "int4"), ("s_w_id", "int4"), ("s_data", "text")],
                ),
                &["s_i_id", "s_w_id"],
            ),
            "s_w_id",
            wd,
        ),
        pk(
            table("item", 100_000, &[("i_id", "int4"), ("i_name", "text")]),
            &["i_id"],
        ),
    ];
    if with_warehouse {
        v.push(pk(
            table("warehouse", w, &[("w_id", "int4"), ("w_name", "text")]),
            &["w_id"],
        ));
    }
    catalog(v)
}

#[test]
fn a_hierarchy_without_foreign_keys_is_found_by_its_leading_keys_and_name_families() {
    let mut answers = Vec::new();
    for w in [2, 20, 200] {
        let cat = tpcc(w, true);
        let a = advise(&cat, &AdviceOptions::default());
        let w_cols = [
            ("warehouse", "w_id"),
            ("district", "d_w_id"),
            ("customer", "c_w_id"),
            ("history", "h_w_id"),
            ("orders", "o_w_id"),
            ("new_order", "no_w_id"),
            ("order_line", "ol_w_id"),
            ("stock", "s_w_id"),
        ];
        assert_colocated(&a, &w_cols);
        let wh = get(&a, "warehouse");
        assert!(wh.reasons[0].contains("root entity"), "{:?}", wh.reasons);
        assert_eq!(get(&a, "item").kind, Kind::Reference, "{w} warehouses");
        let shape: Vec<(Kind, Option<String>, Option<String>)> = a
            .tables
            .iter()
            .map(|t| {
                (
                    t.kind,
                    t.distribution_column.clone(),
                    t.colocation_group.clone(),
                )
            })
            .collect();
        answers.push(shape);
    }
    assert!(
        answers.windows(2).all(|p| p[0] == p[1]),
        "the answer changes with the number of warehouses: {answers:?}"
    );

    // Without the warehouse table the shared family `w_id` that leads the composite keys is the root.
    let a = advise(&tpcc(20, false), &AdviceOptions::default());
    assert_colocated(
        &a,
        &[
            ("district", "d_w_id"),
            ("customer", "c_w_id"),
            ("orders", "o_w_id"),
            ("order_line", "ol_w_id"),
            ("stock", "s_w_id"),
        ],
    );
    assert_eq!(get(&a, "item").kind, Kind::Reference);
}

#[test]
fn an_event_table_without_keys_is_distributed_on_the_entity_it_names() {
    let events = stats(
        stats(
            table(
                "github_events",
                50_000,
                &[
                    ("event_id", "int8"),
                    ("repo_id", "int8"),
                    ("created_at", "timestamptz"),
                ],
            ),
            "event_id",
            -1.0,
            0.0,
            &[],
        ),
        "repo_id",
        2_000.0,
        0.0,
        &[0.01],
    );
    let a = advise(&catalog(vec![events.clone()]), &AdviceOptions::default());
    let e = get(&a, "github_events");
    assert_eq!(
        e.distribution_column.as_deref(),
        Some("repo_id"),
        "{:?}",
        e.reasons
    );
    // With a primary key on its own id the table is looked up by it: it stays the choice.
    let a = advise(
        &catalog(vec![pk(events, &["event_id"])]),
        &AdviceOptions::default(),
    );
    assert_eq!(
        get(&a, "github_events").distribution_column.as_deref(),
        Some("event_id")
    );
}

#[test]
fn a_keyed_lookup_that_cannot_be_sharded_is_a_reference_table_at_every_size() {
    // geo_ips keyed by a cidr: no column can be a distribution column. Whether it is a tenth of the
    // largest table or more, it is a lookup every table joins; a keyless log of floats stays local.
    for clicks in [5_000, 500_000] {
        let mut geo = table("geo_ips", 2_000, &[("addrs", "text"), ("lat", "float8")]);
        geo.columns[0].base_type = "cidr".into();
        geo.columns[0].type_name = "cidr".into();
        geo.columns[0].type_category = "I".into();
        let cat = catalog(vec![
            pk(geo, &["addrs"]),
            pk(
                table("clicks", clicks, &[("id", "int8"), ("site", "text")]),
                &["id"],
            ),
            table(
                "samples",
                3_000,
                &[("taken_at", "timestamptz"), ("v", "float8")],
            ),
        ]);
        let a = advise(&cat, &AdviceOptions::default());
        assert_eq!(
            get(&a, "geo_ips").kind,
            Kind::Reference,
            "{clicks}: {:?}",
            get(&a, "geo_ips").reasons
        );
        if clicks == 5_000 {
            assert_eq!(
                get(&a, "samples").kind,
                Kind::Local,
                "{:?}",
                get(&a, "samples").reasons
            );
        }
    }
}

/// `table` moved into `schema`, its foreign keys to tables of `public` pointed into the same schema
/// unless named in `shared`.
fn in_schema(mut t: Table, schema: &str, shared: &[&str]) -> Table {
    t.schema = schema.into();
    for f in &mut t.foreign_keys {
        if !shared.contains(&f.referenced_table.name.as_str()) {
            f.referenced_table.schema = schema.into();
        }
    }
    t
}

/// A registry of tenants in `public` and, per tenant schema, the same two tables.
fn schema_per_tenant(schemas: &[&str]) -> Catalog {
    let mut tables = vec![
        pk(
            table("tenants", 10, &[("id", "int4"), ("schema_name", "text")]),
            &["id"],
        ),
        pk(
            table("settings", 5, &[("id", "int4"), ("v", "text")]),
            &["id"],
        ),
    ];
    for s in schemas {
        tables.push(in_schema(
            fk(
                pk(
                    table("projects", 100, &[("id", "int4"), ("setting_id", "int4")]),
                    &["id"],
                ),
                &["setting_id"],
                "settings",
                &["id"],
            ),
            s,
            &["settings"],
        ));
        tables.push(in_schema(
            fk(
                pk(
                    table("tasks", 1000, &[("id", "int4"), ("project_id", "int4")]),
                    &["id"],
                ),
                &["project_id"],
                "projects",
                &["id"],
            ),
            s,
            &[],
        ));
        let mut report = table("report", 10, &[("project_id", "int4"), ("tasks", "int8")]);
        report.table_kind = TableKind::MaterializedView;
        tables.push(in_schema(report, s, &[]));
    }
    catalog(tables)
}

#[test]
fn schemas_with_the_same_tables_are_sharded_by_schema() {
    let cat = schema_per_tenant(&["t1", "t2", "t3", "public"]);
    let a = advise(&cat, &AdviceOptions::default());
    assert_eq!(a.verdict, Verdict::SchemaBased, "{:?}", a.verdict_reasons);
    for s in ["t1", "t2", "t3"] {
        for n in ["projects", "tasks"] {
            let t = a.table(&QualifiedName::new(s, n)).unwrap();
            assert_eq!(t.kind, Kind::Schema, "{s}.{n}");
            assert_eq!(t.colocation_group.as_deref(), Some(s));
            assert_eq!(t.distribution_column, None);
        }
    }
    // A tenant schema's materialized view stays on the coordinator (citus_schema_distribute takes
    // tables only).
    let report = a.table(&QualifiedName::new("t2", "report")).unwrap();
    assert_eq!(report.kind, Kind::Local, "{:?}", report.reasons);
    // public holds the same tables but Citus cannot distribute it: shared, like the registry.
    assert_eq!(get(&a, "projects").kind, Kind::Reference);
    assert_eq!(get(&a, "tenants").kind, Kind::Reference);
    assert_eq!(get(&a, "settings").kind, Kind::Reference);
    assert!(get(&a, "settings").reasons[0].contains("referenced by the tenant schemas"));
    assert!(a.colocation_groups.is_empty());
    let plan = Plan::from_advice(&a);
    assert_eq!(plan.verdict, Verdict::SchemaBased);
    assert_eq!(plan.distributed_schemas(), ["t1", "t2", "t3"]);
    assert!(validate(&plan, &cat).unwrap().is_empty());
    // The plan file round-trips its verdict.
    assert_eq!(Plan::parse(&plan.to_json()).unwrap(), plan);

    // Two schemas with the same tables are not yet a schema-per-tenant layout.
    let a = advise(&schema_per_tenant(&["t1", "t2"]), &AdviceOptions::default());
    assert_eq!(a.verdict, Verdict::Distributed);
    assert!(a.tables.iter().all(|t| t.kind != Kind::Schema));
    assert!(Plan::from_advice(&a).distributed_schemas().is_empty());
}

#[test]
fn edited_plans_that_break_schema_distribution_name_the_rule() {
    let cat = schema_per_tenant(&["t1", "t2", "t3"]);
    let a = advise(&cat, &AdviceOptions::default());
    let codes_of = |plan: &Plan| -> Vec<(String, Code)> {
        checks::check(&cat, plan)
            .into_iter()
            .filter(|b| b.severity == Severity::Error)
            .map(|b| (b.table.to_string(), b.code))
            .collect()
    };
    // One table of a distributed schema planned otherwise: citus_schema_distribute takes them all.
    let mut plan = Plan::from_advice(&a);
    let t = plan
        .tables
        .iter_mut()
        .find(|t| t.schema == "t2" && t.name == "tasks")
        .unwrap();
    t.kind = Kind::Local;
    let found = codes_of(&plan);
    assert!(
        found.contains(&("t2.tasks".into(), Code::SchemaPartlyPlanned)),
        "{found:?}"
    );
    // The local table's key into the distributed schema, too.
    assert!(
        found.contains(&("t2.tasks".into(), Code::FkAcrossDistributedSchema)),
        "{found:?}"
    );
    // A shared table the tenants reference left local: their keys can point only to reference tables.
    let mut plan = Plan::from_advice(&a);
    plan.tables.retain(|t| t.name != "settings");
    let found = codes_of(&plan);
    assert!(
        found.contains(&("t1.projects".into(), Code::FkAcrossDistributedSchema)),
        "{found:?}"
    );
    // public cannot be a distributed schema.
    let mut plan = Plan::from_advice(&a);
    plan.tables
        .iter_mut()
        .find(|t| t.name == "tenants")
        .unwrap()
        .kind = Kind::Schema;
    let found = codes_of(&plan);
    assert!(
        found.contains(&("public.tenants".into(), Code::SchemaNotDistributable)),
        "{found:?}"
    );
    // single_node distributes nothing.
    let mut plan = Plan::from_advice(&a);
    plan.verdict = Verdict::SingleNode;
    let found = codes_of(&plan);
    assert!(
        found.contains(&("public.tenants".into(), Code::SingleNodeNotLocal)),
        "{found:?}"
    );
    assert!(
        found.contains(&("t1.tasks".into(), Code::SingleNodeNotLocal)),
        "{found:?}"
    );
}

/// A small shop: rentals of items by customers, both kept per store, the stores (`owner` rows of
/// table `owner_table`) referenced by customers and items.
fn shop_of_stores(owner_table: &str, owners: i64) -> Catalog {
    catalog(vec![
        pk(
            table(owner_table, owners, &[("id", "int4"), ("name", "text")]),
            &["id"],
        ),
        fk(
            pk(
                table("customers", 600, &[("id", "int4"), ("store_id", "int4")]),
                &["id"],
            ),
            &["store_id"],
            owner_table,
            &["id"],
        ),
        pk(
            table("films", 1000, &[("id", "int4"), ("title", "text")]),
            &["id"],
        ),
        fk(
            pk(
                table(
                    "film_actors",
                    5500,
                    &[("film_id", "int4"), ("actor_id", "int4")],
                ),
                &["film_id", "actor_id"],
            ),
            &["film_id"],
            "films",
            &["id"],
        ),
        fk(
            pk(
                table(
                    "film_categories",
                    1000,
                    &[("film_id", "int4"), ("category_id", "int4")],
                ),
                &["film_id", "category_id"],
            ),
            &["film_id"],
            "films",
            &["id"],
        ),
        fk(
            fk(
                pk(
                    table(
                        "items",
                        4500,
                        &[("id", "int4"), ("film_id", "int4"), ("store_id", "int4")],
                    ),
                    &["id"],
                ),
                &["film_id"],
                "films",
                &["id"],
            ),
            &["store_id"],
            owner_table,
            &["id"],
        ),
        fk(
            fk(
                pk(
                    table(
                        "rentals",
                        16000,
                        &[("id", "int4"), ("customer_id", "int4"), ("item_id", "int4")],
                    ),
                    &["id"],
                ),
                &["customer_id"],
                "customers",
                &["id"],
            ),
            &["item_id"],
            "items",
            &["id"],
        ),
        fk(
            fk(
                pk(
                    table(
                        "payments",
                        16000,
                        &[
                            ("id", "int4"),
                            ("customer_id", "int4"),
                            ("rental_id", "int4"),
                        ],
                    ),
                    &["id"],
                ),
                &["customer_id"],
                "customers",
                &["id"],
            ),
            &["rental_id"],
            "rentals",
            &["id"],
        ),
    ])
}

#[test]
fn a_hierarchy_cut_around_a_store_with_few_rows_stays_on_one_node() {
    let a = advise(&shop_of_stores("stores", 2), &AdviceOptions::default());
    assert_eq!(a.verdict, Verdict::SingleNode, "{:?}", a.tables);
    assert!(a.tables.iter().all(|t| t.kind == Kind::Local));
    assert!(
        a.verdict_reasons[1].contains("public.stores"),
        "{:?}",
        a.verdict_reasons
    );
    assert!(get(&a, "rentals").reasons[0].contains("row-based sharding would make it distributed"));
    assert!(Plan::from_advice(&a)
        .tables
        .iter()
        .all(|t| t.kind == Kind::Local));
    // As many stores as shards: a tenant key that can spread the data.
    let a = advise(&shop_of_stores("stores", 40), &AdviceOptions::default());
    assert_eq!(a.verdict, Verdict::Distributed, "{:?}", a.verdict_reasons);
    // A small lookup the groups share (a price plan) is no tenant.
    let a = advise(&shop_of_stores("price_plans", 2), &AdviceOptions::default());
    assert_eq!(a.verdict, Verdict::Distributed, "{:?}", a.verdict_reasons);
    // More data than one node should hold: distributed whatever the shape.
    let opts = AdviceOptions {
        single_node_max_bytes: 1 << 20,
        ..Default::default()
    };
    assert_eq!(
        advise(&shop_of_stores("stores", 2), &opts).verdict,
        Verdict::Distributed
    );
}

/// A small table whose key has too few values for the shards is a reference table while it is read,
/// and stays distributed when the application rewrites its rows over and over (the workload's
/// counters decide, not the size: the same at every scale).
#[test]
fn a_small_table_on_the_write_path_stays_distributed() {
    let branches = |rewrites: i64| {
        let mut t = stats(
            pk(table("branches", 10, &[("bid", "int4")]), &["bid"]),
            "bid",
            -1.0,
            0.0,
            &[],
        );
        t.rewrites = rewrites;
        t
    };
    let accounts = || {
        pk(
            table("accounts", 1_000_000, &[("aid", "int4"), ("bid", "int4")]),
            &["aid"],
        )
    };
    let read = advise(
        &catalog(vec![accounts(), branches(0)]),
        &AdviceOptions::default(),
    );
    assert_eq!(get(&read, "branches").kind, Kind::Reference);
    let hot = advise(
        &catalog(vec![accounts(), branches(20_000)]),
        &AdviceOptions::default(),
    );
    let b = get(&hot, "branches");
    assert_eq!(b.kind, Kind::Distributed, "{:?}", b.reasons);
    assert_eq!(b.distribution_column.as_deref(), Some("bid"));
    assert!(
        b.reasons[0].contains("on the write path"),
        "{:?}",
        b.reasons
    );
    // A few updates are no write path.
    let few = advise(
        &catalog(vec![accounts(), branches(50)]),
        &AdviceOptions::default(),
    );
    assert_eq!(get(&few, "branches").kind, Kind::Reference);
}

/// What an advised plan needs to apply becomes changes of the plan, not blockers: the group's integer
/// type, keys extended (and the foreign keys to them made composite), and a key that crosses tenants
/// dropped with its reason; a tenant column added through a parent reads the parent's row.
#[test]
fn required_changes_replace_blockers() {
    use crate::plan::changes::{self, TableChange};
    let cat = catalog(vec![
        pk(
            table("tenants", 10, &[("id", "int4"), ("name", "text")]),
            &["id"],
        ),
        fk(
            pk(
                table("projects", 100, &[("id", "int8"), ("tenant_id", "int8")]),
                &["id"],
            ),
            &["tenant_id"],
            "tenants",
            &["id"],
        ),
        fk(
            pk(
                table("tasks", 1000, &[("id", "int8"), ("project_id", "int8")]),
                &["id"],
            ),
            &["project_id"],
            "projects",
            &["id"],
        ),
        pk(
            table("stock", 100, &[("w_id", "int8"), ("i_id", "int8")]),
            &["w_id", "i_id"],
        ),
        fk(
            pk(
                table(
                    "lines",
                    1000,
                    &[
                        ("w_id", "int8"),
                        ("id", "int8"),
                        ("supply_w_id", "int8"),
                        ("i_id", "int8"),
                    ],
                ),
                &["w_id", "id"],
            ),
            &["supply_w_id", "i_id"],
            "stock",
            &["w_id", "i_id"],
        ),
    ]);
    let plan = Plan::parse(
        r#"{"format_version": 1, "source": {"database": "test"}, "shard_count": 4, "tables": [
        {"schema": "public", "name": "tenants", "kind": "distributed", "distribution_column": "id", "colocation_group": "t"},
        {"schema": "public", "name": "projects", "kind": "distributed", "distribution_column": "tenant_id", "colocation_group": "t"},
        {"schema": "public", "name": "tasks", "kind": "distributed", "distribution_column": "tenant_id", "colocation_group": "t",
         "changes": [{"change": "add_column", "column": "tenant_id", "through": ["tasks_project_id_fkey"]}]},
        {"schema": "public", "name": "stock", "kind": "distributed", "distribution_column": "w_id", "colocation_group": "w"},
        {"schema": "public", "name": "lines", "kind": "distributed", "distribution_column": "w_id", "colocation_group": "w"}
    ]}"#,
    )
    .unwrap();
    let errors = |p: &Plan| -> Vec<String> {
        checks::check(&cat, p)
            .iter()
            .filter(|b| b.severity == Severity::Error)
            .map(|b| b.to_string())
            .collect()
    };
    assert!(!errors(&plan).is_empty());
    let plan = plan.with_required_changes(&cat);
    assert_eq!(errors(&plan), Vec::<String>::new());
    let of = |n: &str| plan.table(&QualifiedName::new("public", n)).unwrap();
    assert_eq!(
        of("tenants").changes,
        vec![TableChange::ColumnType {
            column: "id".into(),
            type_name: "bigint".into()
        }]
    );
    assert!(of("projects").extend_keys && of("tasks").extend_keys && !of("tenants").extend_keys);
    match &of("lines").changes[..] {
        [TableChange::DropForeignKey {
            foreign_key,
            reason,
        }] => {
            assert_eq!(foreign_key, "lines_supply_w_id_i_id_fkey");
            assert!(reason.contains("another tenant's row"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // The tasks' key to projects becomes composite instead of dropped.
    assert!(of("tasks").changes.len() == 1);
    let computed = changes::computed_columns(&cat, &plan);
    let (column, expr) = &computed[&QualifiedName::new("public", "tasks")][0];
    assert_eq!(column, "tenant_id");
    assert_eq!(
        expr,
        "(SELECT citus_migrate_p0.tenant_id FROM ONLY public.projects AS citus_migrate_p0 WHERE citus_migrate_p0.id OPERATOR(pg_catalog.=) public.tasks.project_id)"
    );
    // Distributed on a column it lacks, a table whose parent has it is told how to add it.
    let mut lacking = plan.clone();
    lacking.tables[2].changes.clear();
    let unknown = checks::check(&cat, &lacking)
        .into_iter()
        .find(|b| b.code == Code::UnknownColumn)
        .unwrap();
    assert!(unknown.message.contains("add_column"), "{unknown}");
    assert!(
        unknown.fix.as_deref().unwrap().starts_with(
            r#""changes": [{"change": "add_column", "column": "tenant_id", "through": ["tasks_project_id_fkey"]}]"#
        ),
        "{:?}",
        unknown.fix
    );
    // A change that does not fit the source is an error naming it.
    let mut bad = plan.clone();
    bad.tables[2].changes = vec![TableChange::ColumnType {
        column: "id".into(),
        type_name: "smallint".into(),
    }];
    assert!(
        errors(&bad)
            .iter()
            .any(|e| e.contains("[invalid_change]") && e.contains("smallint")),
        "{:?}",
        errors(&bad)
    );
}

/// A table that reaches the tenant only through its parents (line items → orders and products →
/// stores) joins the parents' group on a tenant column the target gets, filled from a parent's row;
/// the plan carries it as an `add_column` change. Parents in two different groups leave it alone.
#[test]
fn a_table_that_reaches_the_tenant_through_its_parents_gets_the_tenant_column() {
    let stores = || {
        pk(
            table("stores", 100, &[("store_id", "uuid"), ("name", "text")]),
            &["store_id"],
        )
    };
    let child = |name: &str, rows: i64| {
        fk(
            pk(
                table(
                    name,
                    rows,
                    &[
                        (&format!("{name}_id") as &str, "uuid"),
                        ("store_id", "uuid"),
                    ],
                ),
                &[&format!("{name}_id") as &str],
            ),
            &["store_id"],
            "stores",
            &["store_id"],
        )
    };
    let line_items = || {
        fk(
            fk(
                pk(
                    table(
                        "line_items",
                        500_000,
                        &[
                            ("line_item_id", "uuid"),
                            ("orders_id", "uuid"),
                            ("products_id", "uuid"),
                        ],
                    ),
                    &["line_item_id"],
                ),
                &["orders_id"],
                "orders",
                &["orders_id"],
            ),
            &["products_id"],
            "products",
            &["products_id"],
        )
    };
    let cat = catalog(vec![
        stores(),
        child("orders", 100_000),
        child("products", 20_000),
        line_items(),
    ]);
    let a = advise(&cat, &AdviceOptions::default());
    let li = get(&a, "line_items");
    assert_eq!(li.kind, Kind::Distributed, "{:?}", li.reasons);
    assert_eq!(
        li.distribution_column.as_deref(),
        Some("store_id"),
        "{:?}",
        li.reasons
    );
    assert_eq!(li.colocation_group, get(&a, "orders").colocation_group);
    assert!(
        li.reasons[0].contains("only through its foreign key"),
        "{:?}",
        li.reasons
    );
    let added = li.added_column.as_ref().expect("an added column");
    assert_eq!(added.column, "store_id");
    assert_eq!(added.from_column.as_deref(), Some("store_id"));
    let plan = Plan::from_advice(&a);
    let p = plan
        .table(&QualifiedName::new("public", "line_items"))
        .unwrap();
    assert!(
        matches!(&p.changes[..], [crate::plan::changes::TableChange::AddColumn { column, .. }] if column == "store_id"),
        "{:?}",
        p.changes
    );
    // A table with its own copy of the column is not given another one.
    let with_own = advise(
        &catalog(vec![
            stores(),
            child("orders", 100_000),
            child("products", 20_000),
        ]),
        &AdviceOptions::default(),
    );
    assert!(with_own.tables.iter().all(|t| t.added_column.is_none()));
}

/// One schema per service, each with tables of its own (Citus docs' microservices tutorial: users,
/// query_details, ping_results), and nothing in public.
fn schema_per_service() -> Vec<Table> {
    vec![
        in_schema(
            pk(
                table(
                    "users",
                    1_000,
                    &[("id", "int4"), ("name", "text"), ("email", "text")],
                ),
                &["id"],
            ),
            "user_service",
            &[],
        ),
        in_schema(
            pk(
                table(
                    "query_details",
                    5_000,
                    &[("id", "int4"), ("query_time", "timestamptz")],
                ),
                &["id"],
            ),
            "time_service",
            &[],
        ),
        in_schema(
            pk(
                table(
                    "ping_results",
                    500,
                    &[("id", "int4"), ("host", "text"), ("result", "text")],
                ),
                &["id"],
            ),
            "ping_service",
            &[],
        ),
        in_schema(
            fk(
                pk(
                    table(
                        "ping_hops",
                        2_000,
                        &[("id", "int4"), ("ping_result_id", "int4")],
                    ),
                    &["id"],
                ),
                &["ping_result_id"],
                "ping_results",
                &["id"],
            ),
            "ping_service",
            &[],
        ),
    ]
}

#[test]
fn schemas_of_their_own_with_nothing_shared_are_sharded_by_schema() {
    let cat = catalog(schema_per_service());
    let a = advise(&cat, &AdviceOptions::default());
    assert_eq!(a.verdict, Verdict::SchemaBased, "{:?}", a.verdict_reasons);
    assert!(
        a.verdict_reasons[0].contains("a schema per service"),
        "{:?}",
        a.verdict_reasons
    );
    for (s, n) in [
        ("user_service", "users"),
        ("time_service", "query_details"),
        ("ping_service", "ping_results"),
        ("ping_service", "ping_hops"),
    ] {
        let t = a.table(&QualifiedName::new(s, n)).unwrap();
        assert_eq!(t.kind, Kind::Schema, "{s}.{n}: {:?}", t.reasons);
        assert_eq!(t.colocation_group.as_deref(), Some(s));
    }
    let plan = Plan::from_advice(&a);
    assert_eq!(
        plan.distributed_schemas(),
        ["ping_service", "time_service", "user_service"]
    );
    assert!(validate(&plan, &cat).unwrap().is_empty());

    // A framework's migration bookkeeping in public changes nothing: it stays local.
    let mut tables = schema_per_service();
    tables.push(table("schema_migrations", 10, &[("version", "text")]));
    let a = advise(&catalog(tables), &AdviceOptions::default());
    assert_eq!(a.verdict, Verdict::SchemaBased, "{:?}", a.verdict_reasons);
    assert_eq!(get(&a, "schema_migrations").kind, Kind::Local);

    // A table the services share in public, a foreign key from one schema into another, or fewer
    // than three schemas: row-based sharding, as before.
    let mut tables = schema_per_service();
    tables.push(pk(
        table("hosts", 40, &[("id", "int4"), ("name", "text")]),
        &["id"],
    ));
    assert_eq!(
        advise(&catalog(tables), &AdviceOptions::default()).verdict,
        Verdict::Distributed
    );
    let mut tables = schema_per_service();
    tables.push(in_schema(
        fk(
            pk(
                table("pings_by_user", 100, &[("id", "int4"), ("user_id", "int4")]),
                &["id"],
            ),
            &["user_id"],
            "users",
            &["id"],
        ),
        "ping_service",
        &[],
    ));
    tables.last_mut().unwrap().foreign_keys[0].referenced_table =
        QualifiedName::new("user_service", "users");
    assert_eq!(
        advise(&catalog(tables), &AdviceOptions::default()).verdict,
        Verdict::Distributed
    );
    let tables: Vec<Table> = schema_per_service()
        .into_iter()
        .filter(|t| t.schema != "time_service")
        .collect();
    assert_eq!(
        advise(&catalog(tables), &AdviceOptions::default()).verdict,
        Verdict::Distributed
    );
}

#[test]
fn a_tenant_table_with_one_table_of_its_tenants_is_a_group() {
    // Citus docs, ASP.NET guide: tenants, and questions keyed (id, tenant_id), linked by name only.
    let tenants = pk(
        table("tenants", 50, &[("id", "uuid"), ("domain", "text")]),
        &["id"],
    );
    let questions = pk(
        table(
            "questions",
            1_600,
            &[("id", "uuid"), ("tenant_id", "uuid"), ("votes", "int4")],
        ),
        &["id", "tenant_id"],
    );
    let a = advise(
        &catalog(vec![tenants.clone(), questions]),
        &AdviceOptions::default(),
    );
    assert_colocated(&a, &[("tenants", "id"), ("questions", "tenant_id")]);

    // A small root whose name is no tenant's stays a reference table beside its one table; so does a
    // tenant whose one table would have to change its primary key for it.
    let root_stays_reference = |root: Table, child: Table| {
        let name = root.name.clone();
        let a = advise(&catalog(vec![root, child]), &AdviceOptions::default());
        let t = get(&a, &name);
        assert_eq!(t.kind, Kind::Reference, "{name}: {:?}", t.reasons);
    };
    root_stays_reference(
        pk(
            table("hosts", 50, &[("id", "uuid"), ("name", "text")]),
            &["id"],
        ),
        pk(
            table("checks", 1_600, &[("id", "uuid"), ("host_id", "uuid")]),
            &["id", "host_id"],
        ),
    );
    root_stays_reference(
        tenants,
        pk(
            table("questions", 1_600, &[("id", "uuid"), ("tenant_id", "uuid")]),
            &["id"],
        ),
    );
}

#[test]
fn the_tenant_at_the_top_keeps_the_groups_under_it() {
    // django-multitenant's migration guide before migration: accounts over managers and projects,
    // tasks under the projects (the bulk of the rows). The tenant at the top takes its projects,
    // however many tasks sit under them; a top root named like a business's own entities does not.
    let under = |name: &str, rows: i64, col: &str, parent: &str| {
        fk(
            pk(table(name, rows, &[("id", "int8"), (col, "int8")]), &["id"]),
            &[col],
            parent,
            &["id"],
        )
    };
    let tree = |top: &str, child: &str| {
        let fk_col = format!("{}_id", super::column::singular(top));
        vec![
            pk(table(top, 20, &[("id", "int8"), ("name", "text")]), &["id"]),
            under("managers", 60, &fk_col, top),
            under(child, 400, &fk_col, top),
            under("tasks", 40_000, "parent_id", child),
            under("notes", 4_000, "parent_id", child),
        ]
    };
    let a = advise(
        &catalog(tree("accounts", "projects")),
        &AdviceOptions::default(),
    );
    // The tasks and notes, grouped on their project, join the account's group through it, with the
    // account's column added and filled from their project's row.
    assert_colocated(
        &a,
        &[
            ("accounts", "id"),
            ("managers", "account_id"),
            ("projects", "account_id"),
            ("tasks", "account_id"),
            ("notes", "account_id"),
        ],
    );
    for t in ["tasks", "notes"] {
        let added = get(&a, t).added_column.as_ref().expect("an added column");
        assert_eq!(added.column, "account_id");
    }
    // Not a tenant by its name: the group forms under it, around the bulk of the rows.
    let a = advise(
        &catalog(tree("warehouses", "bins")),
        &AdviceOptions::default(),
    );
    assert_colocated(
        &a,
        &[
            ("bins", "id"),
            ("tasks", "parent_id"),
            ("notes", "parent_id"),
        ],
    );
}
