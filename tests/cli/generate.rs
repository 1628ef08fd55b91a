//! `generate` through the real binary: the three fixture schemas go 01 → 02 → 02 again → 03 → rollback →
//! rollback again on a real Citus cluster, with the data loaded, and end up exactly as planned and then
//! exactly as before; an edited plan that contradicts the database fails naming the table.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::*;

/// Runs a SQL file with psql on `db` of `server`, stopping on the first error.
pub(crate) fn psql_file(server: &LocalServer, db: &str, file: &Path) -> String {
    let out = Command::new(server.bindir().join("psql"))
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &server.url(db),
            "-f",
        ])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} failed:\n{}",
        file.display(),
        stderr_of(&out)
    );
    stdout_of(&out)
}

/// Copies the rows of every table from the source into the target (pg_dump --data-only | psql).
fn load_data(source: &LocalServer, db: &str, target: &LocalServer, tdb: &str) {
    let mut dump = Command::new(source.bindir().join("pg_dump"))
        .args(["--data-only", "--no-owner", "-d", &source.url(db)])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = Command::new(target.bindir().join("psql"))
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &target.url(tdb)])
        .stdin(dump.stdout.take().unwrap())
        .output()
        .unwrap();
    assert!(dump.wait().unwrap().success(), "pg_dump failed");
    assert!(
        out.status.success(),
        "loading data failed: {}",
        stderr_of(&out)
    );
}

/// `schema.table kind column group-leader` lines of citus_tables, sorted; partitions excluded.
fn layout(server: &LocalServer, db: &str) -> Vec<String> {
    let out = server
        .psql(
            db,
            "SELECT t.table_name::text || ' ' || t.citus_table_type || ' ' || t.distribution_column || ' ' || \
             COALESCE((SELECT min(l.table_name::text) FROM citus_tables l WHERE l.colocation_id = t.colocation_id AND t.citus_table_type = 'distributed'), '-') \
             FROM citus_tables t WHERE NOT EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = t.table_name) ORDER BY 1",
        )
        .unwrap();
    out.lines()
        .map(|l| l.to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// What citus_tables must show for the plan, in the same form as [`layout`].
fn planned(plan: &serde_json::Value, server: &LocalServer, db: &str) -> Vec<String> {
    let mut by_group: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let mut rows = Vec::new();
    let reg = |s: &str, n: &str| {
        server
            .psql(
                db,
                &format!(
                    "SELECT format('%I.%I', {}, {})::regclass::text",
                    lit(s),
                    lit(n)
                ),
            )
            .unwrap()
    };
    for t in plan["tables"].as_array().unwrap() {
        let name = reg(t["schema"].as_str().unwrap(), t["name"].as_str().unwrap());
        match t["kind"].as_str().unwrap() {
            "reference" => rows.push((name, "reference".to_string(), "<none>".to_string(), None)),
            "distributed" => {
                let g = t["colocation_group"].as_str().unwrap_or(&name).to_string();
                by_group.entry(g.clone()).or_default().push(name.clone());
                rows.push((
                    name,
                    "distributed".into(),
                    t["distribution_column"].as_str().unwrap().to_string(),
                    Some(g),
                ));
            }
            _ => {}
        }
    }
    let mut out: Vec<String> = rows
        .into_iter()
        .map(|(n, k, c, g)| {
            let leader = g
                .map(|g| by_group[&g].iter().min().unwrap().clone())
                .unwrap_or("-".into());
            format!("{n} {k} {c} {leader}")
        })
        .collect();
    out.sort();
    out
}

fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn row_counts(server: &LocalServer, db: &str, plan: &serde_json::Value) -> Vec<(String, i64)> {
    plan["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let q = format!(
                "SELECT count(*) FROM {}.{}",
                quote(t["schema"].as_str().unwrap()),
                quote(t["name"].as_str().unwrap())
            );
            (q.clone(), server.psql(db, &q).unwrap().parse().unwrap())
        })
        .collect()
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// generate → 01 → 02 → 02 → data → 03 → rollback → rollback for one fixture.
fn round_trip(cluster: &LocalCitus, source: &LocalServer, name: &str, fixes: Option<&str>) {
    source.create_database(name).unwrap();
    source.psql(name, &fixture(&format!("{name}.sql"))).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    if let Some(fixes) = fixes {
        // Before the fixes: generate refuses, lists the blockers and leaves the advised plan.
        let out = bin()
            .args(["generate", "--source", &source.url(name), "--out-dir"])
            .arg(out_dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
        let err = stderr_of(&out);
        // What needs a person blocks; what the plan changes on the target is a warning.
        for code in [
            "[key_extended]",
            "nulls_in_distribution_column",
            "[foreign_key_dropped]",
            "[column_type_changed]",
            "trigger_on_distributed_table",
            "rule_on_distributed_table",
            "exclusion_missing_distribution_column",
        ] {
            assert!(err.contains(code), "{code} not in {err}");
        }
        assert!(out_dir.path().join("plan.json").exists());
        assert!(!out_dir.path().join("02-distribute.sql").exists());
        source.psql(name, &fixture(fixes)).unwrap();
    }
    let out = bin()
        .args(["generate", "--source", &source.url(name), "--out-dir"])
        .arg(out_dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let dir = out_dir.path();
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("plan.json")).unwrap()).unwrap();
    for f in [
        "01-pre-data.sql",
        "02-distribute.sql",
        "03-post-data.sql",
        "rollback.sql",
    ] {
        let text = std::fs::read_to_string(dir.join(f)).unwrap();
        assert!(
            text.starts_with(&format!(
                "\\set ON_ERROR_STOP on\nSET client_encoding = 'UTF8';\n-- citus-migrate generate: {f}\n-- What: "
            )),
            "{f}: {}",
            &text[..200.min(text.len())]
        );
        assert!(
            text.contains("-- When: ")
                && text.contains("-- Plan:  advised by citus-migrate (fingerprint "),
            "{f}"
        );
    }

    apply_and_roll_back(cluster, source, name, dir, &plan);
}

/// On a fresh target database: 01 → 02 → 02 again (same layout as planned) → the source's rows → 03
/// (layout unchanged, every row there) → rollback → rollback again (no Citus table left, every row kept).
pub(crate) fn apply_and_roll_back(
    cluster: &LocalCitus,
    source: &LocalServer,
    name: &str,
    dir: &Path,
    plan: &serde_json::Value,
) {
    let target = format!("{name}_target");
    cluster.create_database(&target).unwrap();
    let co = &cluster.coordinator;
    psql_file(co, &target, &dir.join("01-pre-data.sql"));
    psql_file(co, &target, &dir.join("02-distribute.sql"));
    let first = layout(co, &target);
    assert_eq!(
        first,
        planned(plan, co, &target),
        "{name}: citus_tables differs from the plan"
    );
    psql_file(co, &target, &dir.join("02-distribute.sql"));
    assert_eq!(
        layout(co, &target),
        first,
        "{name}: running 02 twice changed the layout"
    );
    load_data(source, name, co, &target);
    psql_file(co, &target, &dir.join("03-post-data.sql"));
    assert_eq!(layout(co, &target), first, "{name}: 03 changed the layout");
    let before = row_counts(co, &target, plan);
    assert_eq!(
        before,
        row_counts(source, name, plan),
        "{name}: the target does not hold the source's rows"
    );
    assert!(before.iter().all(|(_, n)| *n > 0), "{before:?}");

    psql_file(co, &target, &dir.join("rollback.sql"));
    assert_eq!(
        layout(co, &target),
        Vec::<String>::new(),
        "{name}: rollback left Citus tables"
    );
    assert_eq!(
        row_counts(co, &target, plan),
        before,
        "{name}: rollback lost rows"
    );
    psql_file(co, &target, &dir.join("rollback.sql"));
    assert_eq!(row_counts(co, &target, plan), before);
}

#[test]
fn generated_sql_applies_on_citus_and_rolls_back_without_losing_a_row() {
    let Some(cluster) =
        citus_or_skip("generated_sql_applies_on_citus_and_rolls_back_without_losing_a_row")
    else {
        return;
    };
    let source = LocalServer::start(&ServerOptions::default()).unwrap();
    round_trip(&cluster, &source, "saas", None);
    round_trip(&cluster, &source, "star", None);
    round_trip(&cluster, &source, "blockers", Some("blockers-fixes.sql"));
}

#[test]
fn an_edited_plan_that_contradicts_the_database_fails_naming_the_table() {
    let server = server_with("shop", &fixture("saas.sql"));
    let dir = tempfile::tempdir().unwrap();
    let plan_path = dir.path().join("edited.json");
    let out = bin()
        .args(["generate", "--source", &server.url("shop"), "--out-dir"])
        .arg(dir.path().join("a"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let mut plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("a/plan.json")).unwrap())
            .unwrap();
    // countries becomes distributed on a column it does not have; clicks leaves the tenant group.
    for t in plan["tables"].as_array_mut().unwrap() {
        match t["name"].as_str().unwrap() {
            "countries" => {
                t["kind"] = "distributed".into();
                t["distribution_column"] = "country".into();
            }
            "clicks" => t["colocation_group"] = "alone".into(),
            _ => {}
        }
    }
    std::fs::write(&plan_path, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
    let out = bin()
        .args(["generate", "--source", &server.url("shop"), "--plan"])
        .arg(&plan_path)
        .arg("--out-dir")
        .arg(dir.path().join("b"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains(
            "public.countries [unknown_column]: public.countries has no column \"country\""
        ),
        "{err}"
    );
    assert!(
        err.contains("public.clicks [fk_between_non_colocated_tables]"),
        "{err}"
    );
    assert!(!dir.path().join("b/02-distribute.sql").exists());

    std::fs::write(
        &plan_path,
        "{\n  \"format_version\": 1,\n  \"tables\": [,]\n}",
    )
    .unwrap();
    let out = bin()
        .args(["generate", "--source", &server.url("shop"), "--plan"])
        .arg(&plan_path)
        .arg("--out-dir")
        .arg(dir.path().join("c"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("line 3, column"),
        "{}",
        stderr_of(&out)
    );
}

const EXTEND_KEYS_SCHEMA: &str = "
CREATE TABLE tenants (id bigint PRIMARY KEY, name text NOT NULL);
CREATE TABLE orders (id bigint PRIMARY KEY, tenant_id bigint NOT NULL REFERENCES tenants (id), code text NOT NULL);
CREATE UNIQUE INDEX orders_code ON orders (lower(code));
CREATE TABLE order_lines (
    tenant_id bigint NOT NULL REFERENCES tenants (id),
    id bigint NOT NULL,
    order_id bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    PRIMARY KEY (tenant_id, id));
INSERT INTO tenants SELECT g, 't' || g FROM generate_series(1, 50) g;
INSERT INTO orders SELECT g, 1 + g % 50, 'C' || g FROM generate_series(1, 1000) g;
INSERT INTO order_lines SELECT 1 + (1 + (g / 3) % 1000) % 50, g, 1 + (g / 3) % 1000 FROM generate_series(1, 3000) g;
ANALYZE;";

#[test]
fn extend_keys_changes_the_keys_on_the_target_only() {
    let Some(cluster) = citus_or_skip("extend_keys_changes_the_keys_on_the_target_only") else {
        return;
    };
    let source = server_with("app", EXTEND_KEYS_SCHEMA);
    let dir = tempfile::tempdir().unwrap();
    // The advised plan extends the keys itself.
    let out = bin()
        .args(["generate", "--source", &source.url("app"), "--out-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("public.orders [key_extended]"),
        "{}",
        stderr_of(&out)
    );
    let plan_path = dir.path().join("plan.json");
    let mut plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_path).unwrap()).unwrap();
    // A plan file is used as written: without extend_keys, the keys block it, with the way out named.
    for t in plan["tables"].as_array_mut().unwrap() {
        if t["name"] == "orders" {
            assert_eq!(t["distribution_column"], "tenant_id");
            assert_eq!(t["extend_keys"], true);
            t.as_object_mut().unwrap().remove("extend_keys");
        }
    }
    std::fs::write(&plan_path, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
    let generate_with_plan = || {
        bin()
            .args(["generate", "--source", &source.url("app"), "--plan"])
            .arg(&plan_path)
            .arg("--out-dir")
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let out = generate_with_plan();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("orders [pk_missing_distribution_column]")
            && err.contains("\"extend_keys\": true"),
        "{err}"
    );
    assert!(
        err.contains("order_lines [fk_not_on_distribution_column]"),
        "{err}"
    );
    for t in plan["tables"].as_array_mut().unwrap() {
        if t["name"] == "orders" {
            t["extend_keys"] = true.into();
        }
    }
    std::fs::write(&plan_path, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
    let out = generate_with_plan();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("[key_extended]"),
        "{}",
        stderr_of(&out)
    );
    let post = std::fs::read_to_string(dir.path().join("03-post-data.sql")).unwrap();
    assert!(post.contains("The plan changes 3 of them"), "{post}");

    cluster.create_database("app").unwrap();
    let co = &cluster.coordinator;
    for f in ["01-pre-data.sql", "02-distribute.sql"] {
        psql_file(co, "app", &dir.path().join(f));
    }
    load_data(&source, "app", co, "app");
    psql_file(co, "app", &dir.path().join("03-post-data.sql"));
    let defs = co
        .psql("app", "SELECT conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid IN ('orders'::regclass, 'order_lines'::regclass) AND contype IN ('p', 'f') ORDER BY 1")
        .unwrap();
    assert!(
        defs.contains("orders_pkey PRIMARY KEY (tenant_id, id)"),
        "{defs}"
    );
    assert!(defs.contains("order_lines_order_id_fkey FOREIGN KEY (tenant_id, order_id) REFERENCES orders(tenant_id, id) ON DELETE CASCADE"), "{defs}");
    let idx = co
        .psql("app", "SELECT pg_get_indexdef('orders_code'::regclass)")
        .unwrap();
    assert!(idx.contains("(tenant_id, lower(code))"), "{idx}");
    // The source keeps its keys.
    let src = source
        .psql(
            "app",
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'orders_pkey'",
        )
        .unwrap();
    assert_eq!(src, "PRIMARY KEY (id)");
    assert_eq!(layout(co, "app").len(), 3);
}

const CHANGES_SCHEMA: &str = "
CREATE TABLE tenants (id integer PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE projects (id bigint PRIMARY KEY, tenant_id bigint NOT NULL REFERENCES tenants (id), name text);
CREATE TABLE tasks (id bigint PRIMARY KEY, project_id bigint REFERENCES projects (id) ON DELETE CASCADE, title text);
CREATE TABLE countries (code text PRIMARY KEY, best_tenant integer REFERENCES tenants (id));
INSERT INTO tenants SELECT g, 'tenant ' || g FROM generate_series(1, 40) g;
INSERT INTO projects SELECT g, 1 + g % 40, 'p' || g FROM generate_series(1, 400) g;
INSERT INTO tasks SELECT g, 1 + g % 400, 't' || g FROM generate_series(1, 5000) g;
INSERT INTO countries VALUES ('de', 1), ('fr', 2), ('nl', NULL);
ANALYZE;";

/// Every kind of change a plan makes, written by hand: a tenant column added to `tasks` (which reaches
/// its tenant only through `projects`) and filled by the copy, keys extended, foreign keys made
/// composite, `tenants.id` widened to the group's bigint, and a reference table's key to a distributed
/// table dropped.
const CHANGES_PLAN: &str = r#"{
  "format_version": 1,
  "source": { "database": "app" },
  "shard_count": 8,
  "tables": [
    { "schema": "public", "name": "countries", "kind": "reference",
      "changes": [ { "change": "drop_foreign_key", "foreign_key": "countries_best_tenant_fkey",
                     "reason": "a reference table cannot reference a distributed table" } ] },
    { "schema": "public", "name": "tenants", "kind": "distributed", "distribution_column": "id",
      "colocation_group": "tenant", "extend_keys": true,
      "changes": [ { "change": "column_type", "column": "id", "type": "bigint" } ] },
    { "schema": "public", "name": "projects", "kind": "distributed", "distribution_column": "tenant_id",
      "colocation_group": "tenant", "extend_keys": true },
    { "schema": "public", "name": "tasks", "kind": "distributed", "distribution_column": "tenant_id",
      "colocation_group": "tenant", "extend_keys": true,
      "changes": [ { "change": "add_column", "column": "tenant_id", "through": ["tasks_project_id_fkey"] } ] }
  ]
}"#;

#[test]
fn plan_changes_apply_on_citus_copy_verify_and_roll_back() {
    let Some(cluster) = citus_or_skip("plan_changes_apply_on_citus_copy_verify_and_roll_back")
    else {
        return;
    };
    let source = server_with("app", CHANGES_SCHEMA);
    let work = tempfile::tempdir().unwrap();
    let plan = work.path().join("plan.json");
    std::fs::write(&plan, CHANGES_PLAN).unwrap();
    let gen = work.path().join("generated");
    let out = bin()
        .args(["generate", "--source", &source.url("app"), "--plan"])
        .arg(&plan)
        .arg("--out-dir")
        .arg(&gen)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    for code in [
        "[column_added]",
        "[column_type_changed]",
        "[foreign_key_dropped]",
        "[key_extended]",
    ] {
        assert!(err.contains(code), "{code}: {err}");
    }
    let pre = std::fs::read_to_string(gen.join("01-pre-data.sql")).unwrap();
    assert!(
        pre.contains("ALTER TABLE public.tasks ADD COLUMN tenant_id bigint NOT NULL;"),
        "{pre}"
    );
    assert!(
        pre.contains("ALTER TABLE public.tenants ALTER COLUMN id TYPE bigint;"),
        "{pre}"
    );
    let post = std::fs::read_to_string(gen.join("03-post-data.sql")).unwrap();
    assert!(post.contains("-- left out by the plan: foreign key countries_best_tenant_fkey on public.countries: a reference table"), "{post}");
    assert!(
        !post.contains("ADD CONSTRAINT countries_best_tenant_fkey"),
        "{post}"
    );

    cluster.create_database("app").unwrap();
    let (src, dst) = (source.url("app"), cluster.url("app"));
    let plan_s = plan.to_str().unwrap();
    let out = crate::migrate::migrate(&src, &dst, &work.path().join("work"), &["--plan", plan_s]);
    assert_exit(&out, 0);
    assert!(stdout_of(&out).contains("Verification: the target holds exactly the source's data."));
    let co = &cluster.coordinator;
    // Every task got its project's tenant, and lives on that tenant's shard.
    assert_eq!(
        co.psql("app", "SELECT count(*) FROM tasks t JOIN projects p ON p.tenant_id = t.tenant_id AND p.id = t.project_id").unwrap(),
        "5000"
    );
    let defs = co
        .psql("app", "SELECT string_agg(conname || ' ' || pg_get_constraintdef(oid), E'\\n' ORDER BY conname) FROM pg_constraint WHERE contype IN ('p', 'u', 'f')")
        .unwrap();
    for want in [
        "tasks_pkey PRIMARY KEY (tenant_id, id)",
        "tasks_project_id_fkey FOREIGN KEY (tenant_id, project_id) REFERENCES projects(tenant_id, id) ON DELETE CASCADE",
        "projects_pkey PRIMARY KEY (tenant_id, id)",
        "tenants_name_key UNIQUE (id, name)",
    ] {
        assert!(defs.contains(want), "{want}: {defs}");
    }
    assert!(!defs.contains("countries_best_tenant_fkey"), "{defs}");
    assert_eq!(
        co.psql("app", "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'tenants'::regclass AND attname = 'id'").unwrap(),
        "bigint"
    );
    // verify --plan computes the added column on the source.
    let verify = [
        "verify", "--plan", plan_s, "--source", &src, "--target", &dst,
    ];
    run_exit(&verify, 0);
    // A row changed on the target is found.
    co.psql("app", "UPDATE tasks SET title = 'changed' WHERE id = 7")
        .unwrap();
    run_exit(&verify, 1);
    co.psql("app", "UPDATE tasks SET title = 't7' WHERE id = 7")
        .unwrap();

    for _ in 0..2 {
        psql_file(co, "app", &gen.join("rollback.sql"));
    }
    assert_eq!(
        co.psql("app", "SELECT count(*) FROM pg_dist_partition")
            .unwrap(),
        "0"
    );
    // The source's tables again: columns, types, keys and foreign keys, and every row.
    assert_eq!(
        crate::corpus::keys(co, "app"),
        crate::corpus::keys(&source, "app")
    );
    run_exit(&["verify", "--source", &src, "--target", &dst], 0);
    assert_eq!(
        co.psql("app", "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'tenants'::regclass AND attname = 'id'").unwrap(),
        "integer"
    );

    // `copy --plan` alone fills the added column too.
    cluster.create_database("app2").unwrap();
    for f in ["01-pre-data.sql", "02-distribute.sql"] {
        psql_file(co, "app2", &gen.join(f));
    }
    let dst2 = cluster.url("app2");
    for command in ["copy", "verify"] {
        run_exit(
            &[
                command, "--plan", plan_s, "--source", &src, "--target", &dst2,
            ],
            0,
        );
    }

    // A task without a project has no tenant: that needs a person, and generate says so.
    source
        .psql("app", "INSERT INTO tasks VALUES (5001, NULL, 'orphan')")
        .unwrap();
    let out = bin()
        .args(["generate", "--source", &src, "--plan"])
        .arg(&plan)
        .arg("--out-dir")
        .arg(work.path().join("again"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("public.tasks [nulls_in_distribution_column]: public.tasks.tenant_id is NULL in 1 row(s)"), "{err}");
}
