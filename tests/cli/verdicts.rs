//! The verdicts beyond row-based sharding, end to end on a real Citus cluster: a schema-per-tenant
//! application (the django_tenants corpus entry) moves by schema — `citus_schema_distribute` per
//! tenant schema, the shared tables as reference tables — with `verify` exact and `rollback.sql`
//! undistributing the schemas; a small single-business database (the pagila corpus entry) stays on one
//! node — every table local, nothing distributed — and still moves exactly.

use std::path::Path;

use serde_json::Value;

use crate::common::*;
use crate::corpus::{corpus_dir, load};
use crate::generate::psql_file;
use crate::migrate::migrate;
use crate::trials::analyze;

/// Runs `generate` (with `--plan` when given) into `dir`.
fn generate(
    source: &LocalServer,
    db: &str,
    dir: &Path,
    plan: Option<&Path>,
) -> std::process::Output {
    let mut cmd = bin();
    cmd.args(["generate", "--source", &source.url(db), "--out-dir"])
        .arg(dir);
    if let Some(p) = plan {
        cmd.arg("--plan").arg(p);
    }
    cmd.output().unwrap()
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap()
}

/// The blockers of the report with `code`.
fn blockers<'a>(v: &'a Value, code: &str) -> Vec<&'a Value> {
    v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["blockers"].as_array().unwrap())
        .filter(|b| b["code"] == code)
        .collect()
}

/// `verify --plan` exits 0 and finds every table's layout as planned; returns the layout checks.
fn verify_with_plan(source: &str, target: &str, plan: &Path) -> Vec<Value> {
    let out = bin()
        .args(["verify", "--format", "json", "--plan"])
        .arg(plan)
        .args(["--source", source, "--target", target])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["equal"], true, "{v}");
    let layout = v["layout"].as_array().unwrap().clone();
    assert!(layout.iter().all(|l| l["equal"] == true), "{layout:?}");
    layout
}

/// `migrate` of database `db` onto a new database of the same name on `cluster`, with the plan file,
/// in `work/run`: exits 0 with verify exact. Returns its output (stdout, then stderr).
fn migrate_exactly(
    cluster: &LocalCitus,
    source: &LocalServer,
    db: &str,
    work: &Path,
    plan: &Path,
) -> String {
    cluster.create_database(db).unwrap();
    let out = migrate(
        &source.url(db),
        &cluster.url(db),
        &work.join("run"),
        &["--plan", plan.to_str().unwrap()],
    );
    let text = stdout_of(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr_of(&out));
    assert!(
        text.contains("Verification: the target holds exactly the source's data."),
        "{text}"
    );
    format!("{text}{}", stderr_of(&out))
}

/// `schema.table` → rows, of every table of the source's schemas `schemas` (partitions counted in
/// their parents).
fn row_counts(server: &LocalServer, db: &str, schemas: &str) -> String {
    server
        .psql(
            db,
            &format!(
                "SELECT string_agg(format('%s.%s=%s', n.nspname, c.relname,
                        (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text), ' ' ORDER BY n.nspname, c.relname)
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname ~ '{schemas}'"
            ),
        )
        .unwrap()
}

#[test]
fn a_schema_per_tenant_app_moves_by_schema_verifies_exactly_and_rolls_back() {
    let Some(cluster) =
        citus_or_skip("a_schema_per_tenant_app_moves_by_schema_verifies_exactly_and_rolls_back")
    else {
        return;
    };
    let source = LocalServer::start(&ServerOptions::default()).unwrap();
    load(&source, "dj", &corpus_dir().join("django_tenants"), "0.1");
    let v = analyze(&source, "dj");
    assert_eq!(v["verdict"], "schema_based", "{}", v["verdict_reasons"]);
    assert!(v["verdict_reasons"][0]
        .as_str()
        .unwrap()
        .contains("8 schemas hold the same 7 tables"));
    // django_migrations' identity column would stop citus_schema_undistribute (Citus cannot convert a
    // table with an identity column back): the warning's fix, run on the source, makes it a sequence.
    let fixes: Vec<&str> = blockers(&v, "identity_column")
        .iter()
        .map(|b| b["fix"].as_str().unwrap())
        .collect();
    assert_eq!(fixes.len(), 8, "{fixes:?}");
    source.psql("dj", &fixes.join("\n")).unwrap();
    let v = analyze(&source, "dj");
    assert!(blockers(&v, "identity_column").is_empty());

    let work = tempfile::tempdir().unwrap();
    let gen = work.path().join("generated");
    let out = generate(&source, "dj", &gen, None);
    assert_exit(&out, 0);
    assert!(
        stdout_of(&out)
            .starts_with("Verdict: schema-based sharding (schema_based): 8 tenant schema(s)"),
        "{}",
        stdout_of(&out)
    );
    assert!(
        stdout_of(&out).contains("5 reference table(s), 1 local, 56 in 8 distributed schema(s)"),
        "{}",
        stdout_of(&out)
    );
    let plan: Value = serde_json::from_str(&read(&gen, "plan.json")).unwrap();
    assert_eq!(plan["verdict"], "schema_based");
    let distribute = read(&gen, "02-distribute.sql");
    for k in 1..=8 {
        assert!(
            distribute.contains(&format!(
                "SELECT pg_catalog.citus_schema_distribute('tenant{k:02}'::pg_catalog.regnamespace)"
            )),
            "{distribute}"
        );
    }
    // The shared tables first: the tenants' keys may point to reference tables only.
    assert!(
        distribute.find("create_reference_table('public.customers_client'")
            < distribute.find("SELECT pg_catalog.citus_schema_distribute"),
        "{distribute}"
    );
    let rollback = read(&gen, "rollback.sql");
    assert_eq!(
        rollback
            .matches("pg_catalog.citus_schema_undistribute(")
            .count(),
        8
    );

    let (src, dst) = (source.url("dj"), cluster.url("dj"));
    let plan_path = gen.join("plan.json");
    let text = migrate_exactly(&cluster, &source, "dj", work.path(), &plan_path);
    assert!(text.contains("in 8 distributed schema(s)"), "{text}");
    // A distributed schema's tables are single-shard tables, not hash-distributed: their rows go
    // through the coordinator, which routes them to the schema's node.
    assert!(
        text.contains("tenant03.tenant_only_tabletwo: rows go through the coordinator (it is not hash-distributed)"),
        "{text}"
    );
    let layout = verify_with_plan(&src, &dst, &plan_path);
    assert_eq!(
        layout
            .iter()
            .filter(|l| l["expected"]["kind"] == "schema")
            .count(),
        56,
        "{layout:?}"
    );

    // What Citus says: 8 distributed schemas, each the one co-location group of its 7 tables, on the
    // workers; the shared tables reference tables; the tenants' foreign keys kept.
    let co = &cluster.coordinator;
    assert_eq!(
        co.psql("dj", "SELECT count(*) FROM pg_dist_schema")
            .unwrap(),
        "8"
    );
    assert_eq!(
        co.psql(
            "dj",
            "SELECT count(*) FROM pg_dist_schema s
             WHERE (SELECT count(*) FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid
                    WHERE c.relnamespace = s.schemaid AND p.colocationid = s.colocationid
                      AND p.partmethod = 'n' AND p.repmodel = 's') = 7"
        )
        .unwrap(),
        "8"
    );
    assert_eq!(
        co.psql(
            "dj",
            "SELECT count(DISTINCT colocation_id) FROM citus_tables WHERE citus_table_type = 'schema'"
        )
        .unwrap(),
        "8"
    );
    assert_eq!(
        co.psql(
            "dj",
            "SELECT string_agg(table_name::text, ' ' ORDER BY 1) FROM citus_tables WHERE citus_table_type = 'reference'"
        )
        .unwrap(),
        "auth_user customers_client customers_domain django_content_type django_session"
    );
    assert_eq!(
        co.psql(
            "dj",
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text LIKE 'tenant%.tenant_only_tabletwo'"
        )
        .unwrap(),
        "8"
    );
    let nodes = co
        .psql(
            "dj",
            "SELECT count(DISTINCT nodeport) FROM citus_shards WHERE citus_table_type = 'schema'",
        )
        .unwrap();
    assert_eq!(
        nodes, "2",
        "the tenant schemas are spread over both workers"
    );
    let before = row_counts(co, "dj", "^(public|tenant)");
    assert_eq!(before, row_counts(&source, "dj", "^(public|tenant)"));

    // rollback.sql: plain schemas and local tables again, every row kept; a second run does nothing.
    psql_file(co, "dj", &gen.join("rollback.sql"));
    assert_eq!(
        co.psql("dj", "SELECT count(*) FROM pg_dist_schema")
            .unwrap(),
        "0"
    );
    assert_eq!(
        co.psql(
            "dj",
            "SELECT count(*) FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname ~ '^(public|tenant)'"
        )
        .unwrap(),
        "0",
        "rollback left Citus tables"
    );
    assert_eq!(row_counts(co, "dj", "^(public|tenant)"), before);
    psql_file(co, "dj", &gen.join("rollback.sql"));
    assert_eq!(row_counts(co, "dj", "^(public|tenant)"), before);
}

#[test]
fn a_small_single_business_database_stays_on_one_node_and_still_moves_exactly() {
    let Some(cluster) =
        citus_or_skip("a_small_single_business_database_stays_on_one_node_and_still_moves_exactly")
    else {
        return;
    };
    let source = LocalServer::start(&ServerOptions::default()).unwrap();
    load(&source, "pagila", &corpus_dir().join("pagila"), "0.1");
    let v = analyze(&source, "pagila");
    assert_eq!(v["verdict"], "single_node", "{}", v["verdict_reasons"]);
    let reasons = v["verdict_reasons"].to_string();
    assert!(
        reasons.contains("public.store") && reasons.contains("2 rows"),
        "{reasons}"
    );
    assert!(
        reasons.contains("what would change the answer"),
        "{reasons}"
    );
    for t in v["tables"].as_array().unwrap() {
        assert_eq!(t["kind"], "local", "{}", t["name"]);
    }
    // The text report says it first.
    let out = bin()
        .args(["analyze", "--source", &source.url("pagila")])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert!(
        stdout_of(&out)
            .starts_with("Verdict: keep this database on one node for now (single_node)"),
        "{}",
        stdout_of(&out)
    );

    let work = tempfile::tempdir().unwrap();
    let gen = work.path().join("generated");
    assert_exit(&generate(&source, "pagila", &gen, None), 0);
    let plan_text = read(&gen, "plan.json");
    let plan: Value = serde_json::from_str(&plan_text).unwrap();
    assert_eq!(plan["verdict"], "single_node");
    let distribute = read(&gen, "02-distribute.sql");
    assert!(
        distribute.contains("Nothing is distributed") && !distribute.contains("SELECT pg_catalog."),
        "{distribute}"
    );

    let (src, dst) = (source.url("pagila"), cluster.url("pagila"));
    let plan_path = gen.join("plan.json");
    let text = migrate_exactly(&cluster, &source, "pagila", work.path(), &plan_path);
    assert!(text.contains("verdict single_node"), "{text}");
    verify_with_plan(&src, &dst, &plan_path);
    let co = &cluster.coordinator;
    assert_eq!(
        co.psql("pagila", "SELECT count(*) FROM pg_dist_partition")
            .unwrap(),
        "0",
        "nothing is a Citus table"
    );
    assert_eq!(
        row_counts(co, "pagila", "^public$"),
        row_counts(&source, "pagila", "^public$")
    );
    psql_file(co, "pagila", &gen.join("rollback.sql"));
    assert_eq!(
        co.psql("pagila", "SELECT count(*) FROM pg_dist_partition")
            .unwrap(),
        "0"
    );

    // An edited plan that keeps the verdict but moves a table contradicts itself: generate says so.
    let edited = plan_text.replacen("\"kind\": \"local\"", "\"kind\": \"reference\"", 1);
    let edited_path = work.path().join("edited.json");
    std::fs::write(&edited_path, edited).unwrap();
    let out = generate(
        &source,
        "pagila",
        &work.path().join("again"),
        Some(&edited_path),
    );
    assert_exit(&out, 1);
    let all = format!("{}{}", stdout_of(&out), stderr_of(&out));
    assert!(all.contains("single_node_not_local"), "{all}");
}
