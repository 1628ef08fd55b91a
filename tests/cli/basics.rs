//! Arguments and exit codes common to every command.

use crate::common::*;

#[test]
fn help_lists_the_commands() {
    let out = bin().arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(stdout_of(&out).contains("analyze"));
}

#[test]
fn malformed_connection_string_is_a_usage_error_naming_the_side() {
    let out = bin()
        .args([
            "analyze",
            "--source",
            "host=x port=notaport password=hunter2",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("source connection string is invalid"), "{err}");
    assert!(
        err.contains("the value of port (key number 2) is not a port number"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn analyze_reads_a_real_server() {
    let server = server_with(
        "shop",
        "CREATE TABLE customers (id bigint PRIMARY KEY, name text);\
         CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint REFERENCES customers(id));",
    );
    let out = bin()
        .args([
            "analyze",
            "--format",
            "json",
            "--source",
            &server.url("shop"),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let orders = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "orders")
        .unwrap();
    assert_eq!(
        orders["foreign_keys"][0]["referenced_table"]["name"],
        "customers"
    );
    assert_eq!(orders["primary_key"]["columns"][0], "id");
}
