//! The catalog read against purpose-built schemas on real servers: every kind of relation, keys,
//! foreign keys with actions, identity/generated columns, quoted identifiers, statistics, filters and
//! exact counts. The fixture is `fixtures/catalog.sql`.

use citus_migrate_core::catalog::{self, Catalog, ReadOptions, Table, TableKind};
use citus_migrate_core::conninfo::ConnInfo;
use citus_migrate_core::error::Side;
use citus_migrate_core::filter::Selection;
use citus_migrate_core::ident::{quote_ident, QualifiedName};
use citus_migrate_core::local::{citus_or_skip, LocalServer, ServerOptions};

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn server_with_fixture() -> LocalServer {
    let server = LocalServer::start(&ServerOptions::default()).unwrap();
    server.create_database("cat").unwrap();
    server.psql("cat", &fixture("catalog.sql")).unwrap();
    server
}

fn analyze(url: &str, opts: &ReadOptions) -> citus_migrate_core::Result<Catalog> {
    let info = ConnInfo::parse(Side::Source, url).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(catalog::analyze(&info, opts))
}

fn filters(
    schemas: &[&str],
    tables: &[&str],
    ex_schemas: &[&str],
    ex_tables: &[&str],
) -> ReadOptions {
    let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    ReadOptions {
        filters: Selection::new(&v(schemas), &v(tables), &v(ex_schemas), &v(ex_tables)).unwrap(),
        ..Default::default()
    }
}

fn table<'a>(c: &'a Catalog, schema: &str, name: &str) -> &'a Table {
    c.table(&QualifiedName::new(schema, name))
        .unwrap_or_else(|| panic!("{schema}.{name} missing"))
}

fn names(c: &Catalog) -> Vec<String> {
    let mut v: Vec<String> = c.tables.iter().map(|t| t.qualified().to_string()).collect();
    v.sort();
    v
}

/// Counts straight from the server, to compare with.
fn count(server: &LocalServer, sql: &str) -> i64 {
    server.psql("cat", sql).unwrap().parse().unwrap()
}

#[test]
fn fixture_schema_is_read_completely() {
    let server = server_with_fixture();
    let c = analyze(&server.url("cat"), &ReadOptions::default()).unwrap();

    // Database facts.
    assert_eq!(c.database, "cat");
    assert!(c.server_version_num >= 120000, "{}", c.server_version_num);
    assert_eq!(c.citus_version, None);
    let ext: Vec<&str> = c.extensions.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(ext, ["btree_gist", "plpgsql", "postgres_fdw"]);
    assert!(c.database_bytes > 1_000_000);
    assert!(c
        .tables
        .iter()
        .all(|t| t.schema != "pg_catalog" && t.schema != "information_schema"));
    assert_eq!(c.tables.len(), 18, "{:?}", names(&c));

    // Kinds of relations.
    let kind = |s: &str, n: &str| table(&c, s, n).table_kind;
    assert_eq!(kind("shop", "customers"), TableKind::Plain);
    assert_eq!(kind("shop", "events"), TableKind::PartitionedParent);
    assert_eq!(kind("shop", "events_2024"), TableKind::Partition);
    assert_eq!(kind("shop", "events_2025"), TableKind::PartitionedParent);
    assert_eq!(kind("shop", "events_2025_t1"), TableKind::Partition);
    assert_eq!(kind("shop", "events_2025_rest"), TableKind::Partition);
    assert_eq!(kind("audit", "log_archive"), TableKind::InheritanceChild);
    assert_eq!(kind("audit", "remote_things"), TableKind::Foreign);
    assert_eq!(kind("shop", "customer_totals"), TableKind::MaterializedView);
    assert!(table(&c, "audit", "scratch").unlogged);
    assert!(!table(&c, "audit", "log").unlogged);

    let events = table(&c, "shop", "events");
    assert_eq!(events.parent, None);
    assert_eq!(events.partition_key.as_deref(), Some("RANGE (at)"));
    let e2024 = table(&c, "shop", "events_2024");
    assert_eq!(e2024.parent, Some(QualifiedName::new("shop", "events")));
    assert_eq!(
        e2024.partition_bound.as_deref(),
        Some("FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')")
    );
    let e2025 = table(&c, "shop", "events_2025");
    assert_eq!(e2025.parent, Some(QualifiedName::new("shop", "events")));
    assert_eq!(e2025.partition_key.as_deref(), Some("LIST (tenant_id)"));
    assert_eq!(
        table(&c, "shop", "events_2025_rest")
            .partition_bound
            .as_deref(),
        Some("DEFAULT")
    );
    assert_eq!(
        table(&c, "audit", "log_archive").parent,
        Some(QualifiedName::new("audit", "log"))
    );

    // Row estimates after ANALYZE; partitioned parents sum their leaf partitions at every level.
    let leaves =
        ["events_2024", "events_2025_t1", "events_2025_rest"].map(|n| table(&c, "shop", n));
    assert!(leaves.iter().all(|t| t.rows_estimate > 0));
    assert_eq!(
        e2025.rows_estimate,
        leaves[1].rows_estimate + leaves[2].rows_estimate
    );
    assert_eq!(
        events.rows_estimate,
        leaves.iter().map(|t| t.rows_estimate).sum::<i64>()
    );
    assert_eq!(events.rows_estimate, 3000);
    assert_eq!(
        events.total_bytes,
        leaves.iter().map(|t| t.total_bytes).sum::<i64>()
    );
    assert_eq!(
        e2025.heap_bytes,
        leaves[1].heap_bytes + leaves[2].heap_bytes
    );
    assert_eq!(table(&c, "shop", "customers").rows_estimate, 1000);
    assert_eq!(table(&c, "shop", "orders").rows_estimate, 2000);
    assert_eq!(table(&c, "audit", "log").rows_estimate, 100);
    assert_eq!(table(&c, "audit", "log_archive").rows_estimate, 40);
    assert_eq!(table(&c, "audit", "remote_things").rows_estimate, -1);

    // Sizes add up and match the server.
    let customers = table(&c, "shop", "customers");
    assert_eq!(
        customers.total_bytes,
        count(&server, "SELECT pg_total_relation_size('shop.customers')")
    );
    assert_eq!(
        customers.heap_bytes,
        count(&server, "SELECT pg_relation_size('shop.customers')")
    );
    assert_eq!(
        customers.index_bytes,
        count(&server, "SELECT pg_indexes_size('shop.customers')")
    );
    assert_eq!(customers.total_bytes, customers.heap_bytes + customers.index_bytes + customers.toast_bytes
        + count(&server, "SELECT pg_relation_size('shop.customers', 'fsm') + pg_relation_size('shop.customers', 'vm')"));
    assert!(
        customers.toast_bytes > 0,
        "customers has a toast table (text columns)"
    );
    assert_eq!(table(&c, "audit", "remote_things").total_bytes, 0);

    // Keys and constraints, in key order.
    let orders = table(&c, "shop", "orders");
    assert_eq!(
        orders.primary_key.as_ref().unwrap().columns,
        ["tenant_id", "order_id"]
    );
    assert_eq!(
        customers.primary_key.as_ref().unwrap().columns,
        ["tenant_id", "customer_id"]
    );
    assert_eq!(customers.unique_constraints.len(), 1);
    assert_eq!(customers.unique_constraints[0].columns, ["email"]);
    assert_eq!(orders.check_constraints.len(), 1);
    assert!(
        orders.check_constraints[0]
            .definition
            .contains("amount >= "),
        "{:?}",
        orders.check_constraints
    );
    let bookings = table(&c, "shop", "bookings");
    assert_eq!(bookings.exclusion_constraints.len(), 1);
    assert_eq!(
        bookings.exclusion_constraints[0].columns,
        ["room", "during"]
    );
    assert!(bookings.exclusion_constraints[0]
        .definition
        .starts_with("EXCLUDE USING gist"));
    assert_eq!(
        table(&c, "shop", "order_items")
            .primary_key
            .as_ref()
            .unwrap()
            .columns,
        ["tenant_id", "order_id", "line_no"]
    );
    assert!(
        table(&c, "audit", "log_archive").primary_key.is_none(),
        "PKs are not inherited"
    );
    assert_eq!(
        leaves[0].primary_key.as_ref().unwrap().columns,
        ["tenant_id", "event_id", "at"]
    );

    // Composite foreign keys with their actions; partitions do not repeat the parent's.
    assert_eq!(orders.foreign_keys.len(), 1);
    let fk = &orders.foreign_keys[0];
    assert_eq!(fk.name, "orders_customer_fk");
    assert_eq!(fk.columns, ["tenant_id", "customer_id"]);
    assert_eq!(fk.referenced_table, QualifiedName::new("shop", "customers"));
    assert_eq!(fk.referenced_columns, ["tenant_id", "customer_id"]);
    assert_eq!(
        (fk.on_delete.as_str(), fk.on_update.as_str()),
        ("cascade", "restrict")
    );
    assert_eq!(fk.match_type, "simple");
    assert!(fk.deferrable && fk.validated);
    let items_fk = &table(&c, "shop", "order_items").foreign_keys[0];
    assert_eq!(items_fk.columns, ["tenant_id", "order_id"]);
    assert_eq!(items_fk.referenced_columns, ["tenant_id", "order_id"]);
    assert_eq!(
        (items_fk.on_delete.as_str(), items_fk.on_update.as_str()),
        ("no action", "cascade")
    );
    assert_eq!(items_fk.match_type, "full");
    assert!(!items_fk.deferrable);
    let uni = table(&c, "public", "ünïcödé");
    assert_eq!(
        uni.foreign_keys[0].referenced_table,
        QualifiedName::new("public", "user")
    );
    assert_eq!(uni.foreign_keys[0].on_delete, "set null");
    assert_eq!(events.foreign_keys.len(), 1);
    assert_eq!(events.foreign_keys[0].name, "events_customer_fk");
    assert!(leaves.iter().all(|t| t.foreign_keys.is_empty()));
    let mut referrers: Vec<String> = customers
        .referenced_by
        .iter()
        .map(|r| r.table.to_string())
        .collect();
    referrers.sort();
    assert_eq!(referrers, ["shop.events", "shop.orders"]);
    assert_eq!(
        table(&c, "public", "user").referenced_by[0].columns,
        ["ref"]
    );

    // Columns: identity, generated, defaults, owned sequences, types.
    let col = |t: &Table, n: &str| {
        t.column(n)
            .unwrap_or_else(|| panic!("column {n} missing"))
            .clone()
    };
    let order_id = col(orders, "order_id");
    assert_eq!(order_id.identity.as_deref(), Some("always"));
    assert_eq!(
        order_id.sequence,
        Some(QualifiedName::new("shop", "orders_order_id_seq"))
    );
    assert_eq!(order_id.default, None);
    assert!(order_id.not_null);
    let cents = col(orders, "amount_cents");
    assert_eq!(cents.generated.as_deref(), Some("stored"));
    assert!(
        cents.default.as_deref().unwrap().contains("amount * "),
        "{cents:?}"
    );
    assert_eq!(col(orders, "amount").type_name, "numeric(12,2)");
    assert_eq!(col(orders, "amount").type_category, "N");
    assert_eq!(col(orders, "created_at").base_type, "timestamptz");
    assert_eq!(col(orders, "created_at").default.as_deref(), Some("now()"));
    assert_eq!(col(orders, "customer_id").identity, None);
    assert!(!col(orders, "customer_id").not_null);
    let line_no = col(table(&c, "shop", "order_items"), "line_no");
    assert_eq!(
        line_no.sequence,
        Some(QualifiedName::new("shop", "order_items_line_no_seq"))
    );
    assert!(line_no.default.as_deref().unwrap().starts_with("nextval("));
    assert_eq!(
        col(table(&c, "audit", "log"), "id").sequence,
        Some(QualifiedName::new("audit", "log_id_seq"))
    );
    assert_eq!(
        col(customers, "name").default.as_deref(),
        Some("'anonymous'::text")
    );
    let attnums: Vec<i32> = orders.columns.iter().map(|c| c.attnum).collect();
    assert_eq!(attnums, [1, 2, 3, 4, 5, 6]);

    // Quoted, unicode and keyword identifiers come back exactly as stored.
    let notes = table(&c, "Weird Schema", "Order Notes");
    let cols: Vec<&str> = notes.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        cols,
        ["Note ID", "user", "ünïcödé", "select", "we\"ird;col"]
    );
    assert_eq!(notes.primary_key.as_ref().unwrap().columns, ["Note ID"]);
    assert_eq!(
        notes.qualified().quoted(),
        "\"Weird Schema\".\"Order Notes\""
    );
    let semi = table(&c, "public", "semi;colon \"quoted\"");
    assert_eq!(
        semi.qualified().quoted(),
        format!("{}.\"semi;colon \"\"quoted\"\"\"", quote_ident("public"))
    );
    assert_eq!(
        table(&c, "public", "user").qualified().quoted(),
        format!("{}.\"user\"", quote_ident("public"))
    );
    assert_eq!(col(table(&c, "public", "user"), "Order").name, "Order");

    // Indexes.
    let idx = |t: &Table, n: &str| {
        t.indexes
            .iter()
            .find(|i| i.name == n)
            .unwrap_or_else(|| panic!("index {n}"))
            .clone()
    };
    let sku = idx(table(&c, "shop", "order_items"), "order_items_sku_idx");
    assert!(sku.partial && !sku.unique && !sku.backs_constraint);
    assert_eq!(sku.columns, ["sku"]);
    let lower = idx(orders, "orders_lower_idx");
    assert!(lower.expressions);
    assert_eq!(lower.columns, ["lower(amount::text)"]);
    assert_eq!(lower.method, "btree");
    let pk = idx(orders, "orders_pkey");
    assert!(pk.primary && pk.unique && pk.backs_constraint);
    assert_eq!(pk.columns, ["tenant_id", "order_id"]);
    assert!(pk.bytes > 0);
    assert!(idx(customers, "customers_email_ci").unique);
    assert_eq!(idx(bookings, "bookings_room_during_excl").method, "gist");
    assert_eq!(
        idx(table(&c, "shop", "customer_totals"), "customer_totals_key").columns,
        ["tenant_id", "customer_id"]
    );

    // Triggers (with their enabled state), rules, row-level security policies.
    let mut triggers: Vec<(String, bool)> = orders
        .triggers
        .iter()
        .map(|t| (t.name.clone(), t.enabled))
        .collect();
    triggers.sort();
    assert_eq!(
        triggers,
        [
            ("orders_touch".to_string(), true),
            ("orders_touch_off".to_string(), false)
        ]
    );
    assert!(orders.triggers[0].definition.starts_with("CREATE TRIGGER"));
    assert!(
        customers.triggers.is_empty(),
        "internal FK triggers are not listed"
    );
    let scratch = table(&c, "audit", "scratch");
    assert_eq!(scratch.rules.len(), 1);
    assert_eq!(scratch.rules[0].name, "scratch_no_delete");
    assert!(scratch.rules[0].definition.contains("DO INSTEAD NOTHING"));
    assert!(customers.rls_enabled && !orders.rls_enabled);
    assert_eq!(customers.policies.len(), 1);
    assert_eq!(customers.policies[0].name, "tenant_isolation");
    assert!(customers.policies[0]
        .definition
        .starts_with("PERMISSIVE FOR SELECT TO PUBLIC USING ("));

    // Statistics from pg_stats.
    let st = col(customers, "tenant_id")
        .stats
        .expect("stats after ANALYZE");
    assert_eq!(st.null_frac, 0.0);
    assert_eq!(st.n_distinct, 4.0);
    assert_eq!(st.most_common_freqs.len(), 4);
    assert!((st.most_common_freqs.iter().sum::<f64>() - 1.0).abs() < 1e-6);
    assert_eq!(
        col(customers, "customer_id").stats.unwrap().n_distinct,
        -0.25,
        "250 values in 1,000 rows"
    );
    assert_eq!(
        col(customers, "email").stats.unwrap().n_distinct,
        -1.0,
        "unique column: all distinct"
    );
    assert_eq!(col(notes, "user").stats.unwrap().null_frac, 0.5);
    let ev = col(events, "tenant_id")
        .stats
        .expect("partitioned parents get inherited statistics");
    assert_eq!(ev.n_distinct, 4.0);
    assert!(col(leaves[0], "tenant_id").stats.is_some());
    assert!(col(table(&c, "audit", "remote_things"), "id")
        .stats
        .is_none());
}

#[test]
fn exact_counts_count_every_table() {
    let server = server_with_fixture();
    // Rows the estimates do not know about yet.
    server
        .psql(
            "cat",
            "INSERT INTO shop.customers VALUES (9, 1, NULL, 'late'), (9, 2, NULL, 'late')",
        )
        .unwrap();
    let opts = ReadOptions {
        exact_counts: true,
        jobs: 3,
        ..Default::default()
    };
    let c = analyze(&server.url("cat"), &opts).unwrap();
    assert_eq!(table(&c, "shop", "customers").rows_exact, Some(1002));
    assert_eq!(table(&c, "shop", "customers").rows_estimate, 1000);
    assert_eq!(table(&c, "shop", "orders").rows_exact, Some(2000));
    assert_eq!(table(&c, "shop", "events").rows_exact, Some(3000));
    assert_eq!(
        table(&c, "shop", "events_2025").rows_exact,
        Some(count(&server, "SELECT count(*) FROM shop.events_2025"))
    );
    assert_eq!(
        table(&c, "shop", "events_2024").rows_exact,
        Some(count(&server, "SELECT count(*) FROM shop.events_2024"))
    );
    // ONLY the table itself: the inheritance child's rows are not counted twice.
    assert_eq!(table(&c, "audit", "log").rows_exact, Some(100));
    assert_eq!(table(&c, "audit", "log_archive").rows_exact, Some(40));
    assert_eq!(
        table(&c, "Weird Schema", "Order Notes").rows_exact,
        Some(10)
    );
    assert_eq!(
        table(&c, "public", "semi;colon \"quoted\"").rows_exact,
        Some(0)
    );
    // Foreign tables are not counted (that would query the remote server).
    assert_eq!(table(&c, "audit", "remote_things").rows_exact, None);
    assert_eq!(table(&c, "shop", "customers").rows(), 1002);
    let without = analyze(&server.url("cat"), &ReadOptions::default()).unwrap();
    assert!(without.tables.iter().all(|t| t.rows_exact.is_none()));
}

#[test]
fn filters_select_tables_like_pg_dump() {
    let server = server_with_fixture();
    let url = server.url("cat");
    let run = |o: ReadOptions| names(&analyze(&url, &o).unwrap());

    let shop = run(filters(&["shop"], &[], &[], &[]));
    assert_eq!(shop.len(), 10, "{shop:?}");
    assert!(shop.iter().all(|n| n.starts_with("shop.")));

    assert_eq!(
        run(filters(&[], &["shop.order*"], &[], &[])),
        ["shop.order_items", "shop.orders"]
    );
    assert_eq!(
        run(filters(&[], &["orders", "customers"], &[], &[])),
        ["shop.customers", "shop.orders"]
    );
    assert_eq!(
        run(filters(&["SHOP"], &["ORDERS"], &[], &[])),
        ["shop.orders"],
        "unquoted names fold to lower case"
    );
    assert_eq!(
        run(filters(&["s?op"], &["*s"], &[], &["events"])),
        [
            "shop.bookings",
            "shop.customer_totals",
            "shop.customers",
            "shop.order_items",
            "shop.orders"
        ]
    );
    assert_eq!(
        run(filters(
            &[],
            &["\"Weird Schema\".\"Order Notes\""],
            &[],
            &[]
        )),
        ["\"Weird Schema\".\"Order Notes\""]
    );
    assert_eq!(
        run(filters(&[], &["public.\"ünïcödé\""], &[], &[])),
        [QualifiedName::new("public", "ünïcödé").to_string()]
    );
    assert_eq!(
        run(filters(&[], &["\"user\""], &[], &[])),
        [QualifiedName::new("public", "user").to_string()]
    );

    let no_shop = run(filters(&[], &[], &["shop", "\"Weird Schema\""], &[]));
    assert_eq!(no_shop.len(), 7, "{no_shop:?}");
    assert!(no_shop
        .iter()
        .all(|n| n.starts_with(&format!("{}.", quote_ident("audit")))
            || n.starts_with(&format!("{}.", quote_ident("public")))));
    let no_events = run(filters(
        &["shop"],
        &[],
        &[],
        &["shop.events*", "*.customer_*"],
    ));
    assert_eq!(
        no_events,
        [
            "shop.bookings",
            "shop.customers",
            "shop.order_items",
            "shop.orders"
        ]
    );

    // Exclusions win over inclusions; a pattern that matches nothing is a clear usage error.
    for (opts, pattern) in [
        (filters(&[], &["shop.nope*"], &[], &[]), "shop.nope*"),
        (filters(&["\"Shop\""], &[], &[], &[]), "\"Shop\""),
        (filters(&["pg_catalog"], &[], &[], &[]), "pg_catalog"),
        (
            filters(&["information_schema"], &[], &[], &[]),
            "information_schema",
        ),
        (filters(&[], &["orders"], &[], &["orders"]), "orders"),
    ] {
        let Err(err) = analyze(&url, &opts) else {
            panic!("{pattern} matched something")
        };
        assert!(err.is_usage(), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("{pattern:?}")) && msg.contains("no table in the source"),
            "{msg}"
        );
    }
}

#[test]
fn empty_database_and_never_analyzed_tables() {
    let server = LocalServer::start(&ServerOptions::default()).unwrap();
    server.create_database("empty").unwrap();
    let c = analyze(
        &server.url("empty"),
        &ReadOptions {
            exact_counts: true,
            jobs: 2,
            ..Default::default()
        },
    )
    .unwrap();
    assert!(c.tables.is_empty(), "{:?}", names(&c));
    assert_eq!(c.extensions.len(), 1, "only plpgsql");

    server.psql("empty", "CREATE TABLE fresh (id int PRIMARY KEY); INSERT INTO fresh SELECT generate_series(1, 5)").unwrap();
    let c = analyze(&server.url("empty"), &ReadOptions::default()).unwrap();
    let fresh = table(&c, "public", "fresh");
    assert_eq!(fresh.rows_estimate, -1, "never vacuumed or analyzed");
    assert!(fresh.columns[0].stats.is_none());
    assert_eq!(fresh.rows(), 0);
}

#[test]
fn source_that_already_runs_citus() {
    let Some(cluster) = citus_or_skip("source_that_already_runs_citus") else {
        return;
    };
    cluster.create_database("app").unwrap();
    cluster
        .coordinator
        .psql("app", "CREATE TABLE t (id bigint PRIMARY KEY, v text); SELECT create_distributed_table('t', 'id');")
        .unwrap();
    let c = analyze(&cluster.url("app"), &ReadOptions::default()).unwrap();
    assert!(
        c.citus_version
            .as_deref()
            .is_some_and(|v| v.starts_with(|ch: char| ch.is_ascii_digit())),
        "{:?}",
        c.citus_version
    );
    assert!(c.has_extension("citus"));
    // Citus's own relations (extension members, catalogs) are not user tables.
    assert_eq!(names(&c), [QualifiedName::new("public", "t").to_string()]);
}
