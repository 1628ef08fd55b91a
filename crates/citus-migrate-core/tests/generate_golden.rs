//! Golden files of the SQL `generate` writes itself (02-distribute.sql, rollback.sql) and of the plan's
//! decisions, for the fixture schemas; and every statement it writes parses as PostgreSQL.
//! Set `UPDATE_GOLDEN=1` to rewrite the golden files after a deliberate change.

use std::path::PathBuf;

use citus_migrate_core::advice::{advise, AdviceOptions};
use citus_migrate_core::catalog::{self, ReadOptions};
use citus_migrate_core::conninfo::ConnInfo;
use citus_migrate_core::local::{LocalServer, ServerOptions};
use citus_migrate_core::plan::Plan;
use citus_migrate_core::sqlgen::{self, GenerateOptions};
use citus_migrate_core::Side;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn check_golden(name: &str, actual: &str) {
    let path = root().join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run with UPDATE_GOLDEN=1)", path.display()));
    assert_eq!(
        actual,
        expected,
        "{} differs (run with UPDATE_GOLDEN=1 after a deliberate change)",
        path.display()
    );
}

fn parses(sql: &str) {
    Parser::parse_sql(&PostgreSqlDialect {}, sql)
        .unwrap_or_else(|e| panic!("does not parse: {e}\n{sql}"));
}

/// The plan's decisions without the reasons (which carry sizes that vary with the server build).
fn decisions(plan: &Plan) -> String {
    let mut p = plan.clone();
    p.source.server_version.clear();
    for t in &mut p.tables {
        t.reasons.clear();
    }
    p.to_json()
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_sql_matches_the_golden_files_and_parses() {
    let server = LocalServer::start(&ServerOptions::default()).unwrap();
    for name in ["saas", "star", "blockers"] {
        server.create_database(name).unwrap();
        let sql =
            std::fs::read_to_string(root().join("fixtures").join(format!("{name}.sql"))).unwrap();
        server.psql(name, &sql).unwrap();
        if name == "blockers" {
            let fixes =
                std::fs::read_to_string(root().join("fixtures/blockers-fixes.sql")).unwrap();
            server.psql(name, &fixes).unwrap();
        }
        let source = ConnInfo::parse(Side::Source, &server.url(name)).unwrap();
        let catalog = catalog::analyze(&source, &ReadOptions::default())
            .await
            .unwrap();
        let advice = advise(&catalog, &AdviceOptions::default());
        let plan = Plan::from_advice(&advice);
        let opts = GenerateOptions {
            source,
            filters: Default::default(),
            pg_dump: None,
            plan_origin: "advised by citus-migrate".into(),
        };
        let generated = sqlgen::generate(&catalog, &plan, &opts).await.unwrap();
        for st in generated.distribute.iter().chain(&generated.rollback) {
            parses(st);
        }
        assert_eq!(
            generated.distribute.len(),
            plan.tables
                .iter()
                .filter(|t| t.kind != citus_migrate_core::advice::Kind::Local)
                .count()
        );
        assert!(!generated.post_data.is_empty());
        assert!(generated.post_data.iter().all(|i| !i.sql.is_empty()));
        assert!(generated.pre_data.contains("CREATE TABLE"));
        check_golden(&format!("{name}/plan-decisions.json"), &decisions(&plan));
        check_golden(
            &format!("{name}/02-distribute.sql"),
            &generated.distribute_sql(),
        );
        check_golden(&format!("{name}/rollback.sql"), &generated.rollback_sql());
    }
}
