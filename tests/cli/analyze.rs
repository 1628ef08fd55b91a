//! `citus-migrate analyze` end to end: text, JSON and CSV reports of a real server, --output, filters
//! and --exact-counts.

use crate::common::*;
use citus_migrate_core::ident::QualifiedName;

fn shop() -> LocalServer {
    server_with("shop", &fixture("catalog.sql"))
}

fn run(args: &[&str]) -> std::process::Output {
    bin().arg("analyze").args(args).output().unwrap()
}

#[test]
fn json_report_has_the_documented_shape() {
    let server = shop();
    let out = run(&["--format", "json", "--source", &server.url("shop")]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["format_version"], 1);
    let src = &v["source"];
    assert_eq!(src["database"], "shop");
    assert!(src["server_version_num"].as_i64().unwrap() >= 120000);
    assert!(src["citus_version"].is_null());
    assert_eq!(src["table_count"], 18);
    assert!(src["database_bytes"].as_i64().unwrap() > 0);
    assert!(src["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["name"] == "postgres_fdw"));

    let tables = v["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 18);
    // Largest first.
    let sizes: Vec<i64> = tables
        .iter()
        .map(|t| t["total_bytes"].as_i64().unwrap())
        .collect();
    assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
    // Every table object carries the documented fields.
    for t in tables {
        for field in [
            "schema",
            "name",
            "table_kind",
            "unlogged",
            "parent",
            "total_bytes",
            "heap_bytes",
            "index_bytes",
            "toast_bytes",
            "rows_estimate",
            "rows_exact",
            "columns",
            "primary_key",
            "unique_constraints",
            "exclusion_constraints",
            "check_constraints",
            "foreign_keys",
            "referenced_by",
            "indexes",
            "triggers",
            "rules",
            "policies",
            "rls_enabled",
            "owner",
        ] {
            assert!(t.get(field).is_some(), "{field} missing in {t}");
        }
    }
    let find = |s: &str, n: &str| {
        tables
            .iter()
            .find(|t| t["schema"] == s && t["name"] == n)
            .unwrap()
    };
    let orders = find("shop", "orders");
    assert_eq!(orders["table_kind"], "plain");
    assert_eq!(orders["rows_estimate"], 2000);
    assert!(orders["rows_exact"].is_null());
    assert_eq!(
        orders["primary_key"]["columns"],
        serde_json::json!(["tenant_id", "order_id"])
    );
    let fk = &orders["foreign_keys"][0];
    assert_eq!(
        fk["columns"],
        serde_json::json!(["tenant_id", "customer_id"])
    );
    assert_eq!(
        fk["referenced_table"],
        serde_json::json!({"schema": "shop", "name": "customers"})
    );
    assert_eq!(fk["on_delete"], "cascade");
    let order_id = orders["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "order_id")
        .unwrap();
    assert_eq!(order_id["identity"], "always");
    assert_eq!(order_id["type_name"], "bigint");
    assert_eq!(order_id["sequence"]["name"], "orders_order_id_seq");
    assert_eq!(order_id["stats"]["n_distinct"], -1.0);
    assert_eq!(find("shop", "events")["table_kind"], "partitioned_parent");
    assert_eq!(find("shop", "events_2024")["parent"]["name"], "events");
    assert_eq!(
        find("audit", "log_archive")["table_kind"],
        "inheritance_child"
    );
    assert_eq!(find("audit", "remote_things")["table_kind"], "foreign");
    assert_eq!(
        find("shop", "customer_totals")["table_kind"],
        "materialized_view"
    );
    assert_eq!(find("audit", "scratch")["unlogged"], true);
    assert!(find("shop", "customers")["primary_key"].is_object());
    assert!(find("audit", "log_archive")["primary_key"].is_null());
    let notes = find("Weird Schema", "Order Notes");
    assert_eq!(notes["columns"][4]["name"], "we\"ird;col");
}

#[test]
fn text_report_reads_well() {
    let server = shop();
    let out = run(&["--source", &server.url("shop")]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    // The verdict first (what the rest of the advice means), then the source.
    assert!(
        text.starts_with(
            "Verdict: row-based sharding (distributed).\n\nSource database \"shop\": PostgreSQL 1"
        ),
        "{text}"
    );
    assert!(text.contains("18 tables"), "{text}");
    assert!(text.contains("Extensions: btree_gist"), "{text}");
    // Quoted names as in SQL, human sizes, rows with thousands separators.
    assert!(text.contains("\"Weird Schema\".\"Order Notes\""), "{text}");
    assert!(
        text.contains(&QualifiedName::new("public", "semi;colon \"quoted\"").to_string()),
        "{text}"
    );
    assert!(text.contains(" kB "), "{text}");
    let orders = text
        .lines()
        .find(|l| l.starts_with("shop.orders "))
        .unwrap();
    assert!(
        orders.contains("~2,000") && orders.contains("tenant_id, order_id"),
        "{orders}"
    );
    assert!(text
        .lines()
        .find(|l| l.starts_with(&format!(
            "{} ",
            QualifiedName::new("audit", "remote_things")
        )))
        .unwrap()
        .contains("never analyzed"));
    // The FK graph summarised: referenced tables with who points at them.
    assert!(text.contains("Foreign keys: 4"), "{text}");
    assert!(text.contains("shop.customers <- "), "{text}");
    assert!(text.contains("shop.orders: 2 triggers"), "{text}");
    assert!(
        text.contains("shop.customers: 1 policy, row-level security enabled"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{}: 1 rule",
            QualifiedName::new("audit", "scratch")
        )),
        "{text}"
    );
    assert!(
        text.contains("shop.bookings: 1 exclusion constraint"),
        "{text}"
    );
    // The largest table comes first.
    let first = text
        .lines()
        .skip_while(|l| !l.starts_with("TABLE"))
        .nth(1)
        .unwrap();
    assert!(first.starts_with("shop.events "), "{first}");
}

#[test]
fn csv_report_has_one_row_per_table_and_output_file_works() {
    let server = shop();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.csv");
    let out = run(&[
        "--format",
        "csv",
        "--output",
        file.to_str().unwrap(),
        "--exact-counts",
        "--source",
        &server.url("shop"),
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(out.stdout.is_empty(), "nothing on stdout with --output");
    let mut reader = csv::Reader::from_path(&file).unwrap();
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[0], "schema");
    assert_eq!(&headers[1], "name");
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 18);
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let notes = rows.iter().find(|r| &r[1] == "Order Notes").unwrap();
    assert_eq!(&notes[0], "Weird Schema");
    assert_eq!(&notes[col("rows_exact")], "10");
    assert_eq!(&notes[col("primary_key")], "Note ID");
    let semi = rows
        .iter()
        .find(|r| r[1].starts_with("semi;colon"))
        .unwrap();
    assert_eq!(&semi[1], "semi;colon \"quoted\"");
    let orders = rows.iter().find(|r| &r[1] == "orders").unwrap();
    assert_eq!(&orders[col("rows_exact")], "2000");
    assert_eq!(
        &orders[col("foreign_keys")],
        "(tenant_id,customer_id)->shop.customers(tenant_id,customer_id)"
    );
    assert_eq!(&orders[col("table_kind")], "table");

    // JSON to a file too; an unwritable output path is a clear error.
    let json = dir.path().join("r.json");
    let out = run(&[
        "--format",
        "json",
        "-o",
        json.to_str().unwrap(),
        "--table",
        "shop.orders",
        "--source",
        &server.url("shop"),
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["tables"].as_array().unwrap().len(), 1);
    let out = run(&[
        "-o",
        "/nonexistent/dir/r.txt",
        "--source",
        &server.url("shop"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_of(&out).contains("cannot write /nonexistent/dir/r.txt"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn filters_and_their_errors() {
    let server = shop();
    let url = server.url("shop");
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["--format", "json", "--source", &url];
        a.extend_from_slice(args);
        let out = run(&a);
        assert!(out.status.success(), "{args:?}: {}", stderr_of(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut n: Vec<String> = v["tables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                format!(
                    "{}.{}",
                    t["schema"].as_str().unwrap(),
                    t["name"].as_str().unwrap()
                )
            })
            .collect();
        n.sort();
        n
    };
    assert_eq!(
        names(&["--schema", "audit"]),
        [
            "audit.log",
            "audit.log_archive",
            "audit.remote_things",
            "audit.scratch"
        ]
    );
    assert_eq!(
        names(&["-n", "audit", "-T", "audit.log*"]),
        ["audit.remote_things", "audit.scratch"]
    );
    assert_eq!(
        names(&["-t", "shop.orders", "-t", "\"Weird Schema\".*"]),
        ["Weird Schema.Order Notes", "shop.orders"]
    );
    assert_eq!(
        names(&[
            "--exclude-schema",
            "shop",
            "--exclude-schema",
            "audit",
            "--exclude-table",
            "public.u*"
        ]),
        [
            "Weird Schema.Order Notes",
            "public.semi;colon \"quoted\"",
            "public.ünïcödé"
        ]
    );

    for (args, pattern) in [
        (vec!["--table", "nosuch"], "\"nosuch\""),
        (vec!["--schema", "nosuch*"], "\"nosuch*\""),
    ] {
        let mut a = vec!["--source", url.as_str()];
        a.extend(args);
        let out = run(&a);
        assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
        let err = stderr_of(&out);
        assert!(
            err.starts_with("error: no table in the source database \"shop\" matches"),
            "{err}"
        );
        assert!(err.contains(pattern), "{err}");
    }
    let out = run(&["--source", &url, "--table", "a.b.c"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("invalid pattern \"a.b.c\""),
        "{}",
        stderr_of(&out)
    );
    let out = run(&["--source", &url, "--format", "xml"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn empty_database() {
    let server = server_with("postgres", "SELECT 1");
    let out = run(&["--source", &server.url("postgres")]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stdout_of(&out).contains("No tables selected."),
        "{}",
        stdout_of(&out)
    );
    let out = run(&["--format", "json", "--source", &server.url("postgres")]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["tables"], serde_json::json!([]));
    let out = run(&["--format", "csv", "--source", &server.url("postgres")]);
    assert_eq!(stdout_of(&out).lines().count(), 1, "header only");
}
