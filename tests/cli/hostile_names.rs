//! Names and texts chosen by whoever controls the source database — its own name, schema, table,
//! column, constraint, index, trigger and rule names, comments, string constants — go through
//! `generate` and the files are applied with psql, with `-v ON_ERROR_STOP=1` and as a user would,
//! without it (and in a client encoding whose multi-byte characters can swallow a quote): only the
//! intended statements run. Canaries (`\! touch PWNED`, `COPY … TO PROGRAM 'touch PWNED'`,
//! `CREATE TABLE pwned()`) never fire, and every object arrives with its exact name, comment,
//! predicate and definition. The names are a fixed list of known attacks plus strings a seeded
//! generator builds from pieces of SQL and psql syntax, control characters and Unicode.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::*;

/// The canary file psql's `\!` or the server's `COPY … TO PROGRAM` would create (relative: in psql's
/// working directory, or the server's data directory).
const CANARY: &str = "PWNED";

/// Known attacks, appended to the texts (string constants and comments) of the source.
const NASTY: &[&str] = &[
    "x\n\\! touch PWNED",
    "'; COPY (SELECT) TO PROGRAM 'touch PWNED'; --",
    "\nCREATE TABLE pwned();",
    "'; CREATE TABLE pwned(); --",
    "*/ CREATE TABLE pwned(); /*",
    "$$; CREATE TABLE pwned(); $$",
    "\r\\! touch PWNED",
    "\n\\q",
    "-- Name: x; Type: INDEX; Schema: public; Owner: -",
    "\\restrict k",
    ":'v' :\"v\" :v",
];

/// Where [`create_source`] uses the n-th name: the child table's unique index, the grandchild's
/// column that references the child.
const INDEX_NAME: usize = 15;
const FK_COLUMN: usize = 17;

/// The source databases: each one's name and some of its objects' names, by their place in the order
/// [`create_source`] names them (0 schema, 1 parent table, 2 its key column, 3 child table, 4 its
/// distribution column, 5 grandchild table, 6 its distribution column, then the other columns,
/// constraints, indexes…); the others are generated. Each attack is placed where it once worked or
/// nearly did: a newline in the database name in the files' header; a table or index named
/// `x USING (` whose index definition was taken apart at the wrong ` USING (`; a column named
/// `a) REFERENCES …` whose foreign key was taken apart at the wrong ` REFERENCES `.
const DATABASES: [(&str, &[(usize, &str)]); 3] = [
    (
        "x\n\\! touch PWNED",
        &[
            (0, "\nCREATE TABLE pwned();"),
            (1, "'; CREATE TABLE pwned(); --"),
            (2, "\"; CREATE TABLE pwned(); --"),
            (3, "*/ CREATE TABLE pwned(); /*"),
            (4, "$$; CREATE TABLE pwned(); $$"),
            (5, "\r\\! touch PWNED"),
            (6, "\\set ON_ERROR_STOP off"),
        ],
    ),
    (
        "'; COPY (SELECT) TO PROGRAM 'touch PWNED'; --",
        &[
            (0, "\\set ON_ERROR_STOP off"),
            (1, "\n\\q"),
            (2, "ā'\n\\! touch PWNED\n'"),
            (3, "x USING ("),
            (4, "ON t (a); CREATE TABLE pwned(); --"),
            (INDEX_NAME, "i USING ("),
        ],
    ),
    (
        "ā\"\r\nCREATE TABLE pwned();\n-- $$ */",
        &[
            (0, "-- Name: x; Type: INDEX; Schema: public; Owner: -"),
            (1, "\\restrict k"),
            (2, ":'v' :\"v\" :v"),
            (3, "🐘\u{2028}\u{202e}日本\u{200b}\u{feff}"),
            (FK_COLUMN, "a) REFERENCES t(b); CREATE TABLE pwned(); --"),
        ],
    ),
];

/// Pieces the generator strings together.
const PIECES: &[&str] = &[
    "'",
    "''",
    "\"",
    "\\",
    "\\\\",
    ";",
    "--",
    "/*",
    "*/",
    "$$",
    "$q$",
    "$1",
    "\n",
    "\r",
    "\r\n",
    "\t",
    "\u{1}",
    "\u{1b}[31m",
    "\u{7f}",
    "\u{85}",
    "\u{2028}",
    "\u{202e}",
    "\u{200b}",
    ":v",
    ":'v'",
    ":\"v\"",
    "\\!",
    "\\gexec",
    "\\set",
    "\\unset ON_ERROR_STOP",
    "\\restrict",
    "\\q",
    "\\o x",
    "E'",
    "U&'",
    " USING (",
    ") REFERENCES ",
    "-- Name: ",
    "ā",
    "日本",
    "🐘",
    "Ω",
    "a",
    "Z",
    "_",
    " ",
    "(",
    ")",
    ",",
    "%s",
    "?",
    "{}",
    "SELECT",
    "\n\\! touch PWNED",
    "\nCREATE TABLE pwned();",
];

/// A long text for string constants and comments: pg_dump's own comment lines, psql commands and
/// canaries across several lines, inside a string of the source.
const MULTILINE: &str = "x'\n--\n-- Name: i; Type: INDEX; Schema: public; Owner: -\n--\n\nCREATE TABLE pwned();\n\\restrict k\n\\! touch PWNED\n-- PostgreSQL database dump complete\n--\n\\unrestrict k\n$$ */ \\\\ '";

/// splitmix64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Names unique within one database (relations, indexes and constraints share name spaces), at
/// most 63 bytes (PostgreSQL would cut longer ones).
struct Names {
    rng: Rng,
    used: HashSet<String>,
    fixed: &'static [(usize, &'static str)],
    count: usize,
}

impl Names {
    fn new(seed: u64, fixed: &'static [(usize, &'static str)]) -> Self {
        Names {
            rng: Rng(seed),
            used: HashSet::new(),
            fixed,
            count: 0,
        }
    }

    /// The fixed attack for this place, else a generated string.
    fn next(&mut self) -> String {
        let fixed = self.fixed.iter().find(|(at, _)| *at == self.count);
        self.count += 1;
        let mut name = match fixed {
            Some((_, s)) => s.to_string(),
            None => {
                let pieces = 1 + self.rng.below(6);
                self.text(pieces)
            }
        };
        while name.len() > 60 {
            name.pop();
        }
        let base = name.clone();
        let mut n = 0;
        while name.is_empty() || !self.used.insert(name.clone()) {
            n += 1;
            name = format!("{base}{n}");
        }
        name
    }

    fn text(&mut self, pieces: usize) -> String {
        (0..pieces)
            .map(|_| PIECES[self.rng.below(PIECES.len())])
            .collect()
    }
}

fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The hostile names of one source database.
struct Hostile {
    db: String,
    schema: String,
    parent: String,
    parent_id: String,
    child: String,
    child_tenant: String,
    grandchild: String,
    grandchild_tenant: String,
}

/// Creates the database and its objects; returns their names.
fn create_source(
    server: &LocalServer,
    db: &str,
    seed: u64,
    fixed: &'static [(usize, &'static str)],
) -> Hostile {
    let mut n = Names::new(seed, fixed);
    let mut texts = Rng(seed ^ 0xdead_beef);
    let mut text = || {
        let mut t: String = (0..8).map(|_| PIECES[texts.below(PIECES.len())]).collect();
        t.push_str(NASTY[texts.below(NASTY.len())]);
        t
    };
    let h = Hostile {
        db: db.to_string(),
        schema: n.next(),
        parent: n.next(),
        parent_id: n.next(),
        child: n.next(),
        child_tenant: n.next(),
        grandchild: n.next(),
        grandchild_tenant: n.next(),
    };
    let (s, p, c, g) = (
        ident(&h.schema),
        ident(&h.parent),
        ident(&h.child),
        ident(&h.grandchild),
    );
    let (pid, ct, gt) = (
        ident(&h.parent_id),
        ident(&h.child_tenant),
        ident(&h.grandchild_tenant),
    );
    let [pnote, pchk, ppk, cid, ccode, cpk, cuq, cfk, cix, gid, gc, gpk, gfk, gix, l, lid, lv, f, trg, rul, v, vc] =
        std::array::from_fn(|_| ident(&n.next()));
    let sql = format!(
        "CREATE SCHEMA {s};
CREATE TABLE {s}.{p} ({pid} bigint CONSTRAINT {ppk} PRIMARY KEY, {pnote} text CONSTRAINT {pchk} CHECK ({pnote} <> {t1}));
CREATE TABLE {s}.{c} ({ct} bigint NOT NULL CONSTRAINT {cfk} REFERENCES {s}.{p}, {cid} bigint NOT NULL, {ccode} text NOT NULL,
    CONSTRAINT {cpk} PRIMARY KEY ({cid}), CONSTRAINT {cuq} UNIQUE ({ccode}));
CREATE UNIQUE INDEX {cix} ON {s}.{c} (lower({ccode})) WHERE {ccode} <> {multi};
CREATE TABLE {s}.{g} ({gt} bigint NOT NULL, {gid} bigint NOT NULL, {gc} bigint NOT NULL,
    CONSTRAINT {gpk} PRIMARY KEY ({gt}, {gid}), CONSTRAINT {gfk} FOREIGN KEY ({gc}) REFERENCES {s}.{c} ({cid}) ON DELETE CASCADE);
CREATE INDEX {gix} ON {s}.{g} ({gc}) WHERE {gt} > 0;
CREATE TABLE {s}.{l} ({lid} bigserial PRIMARY KEY, {lv} text);
CREATE FUNCTION {s}.{f}() RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN NEW.{lv} := coalesce(NEW.{lv}, {t2}); RETURN NEW; END $fn$;
CREATE TRIGGER {trg} BEFORE INSERT ON {s}.{l} FOR EACH ROW EXECUTE FUNCTION {s}.{f}();
CREATE RULE {rul} AS ON UPDATE TO {s}.{l} WHERE NEW.{lv} = {multi} DO INSTEAD NOTHING;
CREATE VIEW {s}.{v} AS SELECT {t3}::text AS {vc}, * FROM {s}.{p};
COMMENT ON DATABASE {d} IS {t4};
COMMENT ON SCHEMA {s} IS {t5};
COMMENT ON TABLE {s}.{c} IS {multi};
COMMENT ON COLUMN {s}.{c}.{ccode} IS {t6};
COMMENT ON CONSTRAINT {cpk} ON {s}.{c} IS {t7};
COMMENT ON INDEX {s}.{cix} IS {t8};
COMMENT ON TRIGGER {trg} ON {s}.{l} IS {t9};
COMMENT ON FUNCTION {s}.{f}() IS {multi};
INSERT INTO {s}.{p} VALUES (1, 'a'), (2, 'b');
INSERT INTO {s}.{c} VALUES (1, 1, 'a'), (2, 2, 'b');
INSERT INTO {s}.{g} VALUES (1, 1, 1), (2, 1, 2);
INSERT INTO {s}.{l} ({lv}) VALUES (NULL);
ANALYZE;",
        d = ident(db),
        multi = lit(MULTILINE),
        t1 = lit(&text()),
        t2 = lit(&text()),
        t3 = lit(&text()),
        t4 = lit(&text()),
        t5 = lit(&text()),
        t6 = lit(&text()),
        t7 = lit(&text()),
        t8 = lit(&text()),
        t9 = lit(&text()),
    );
    server
        .psql("postgres", &format!("CREATE DATABASE {}", ident(db)))
        .unwrap();
    let out = psql(server, db, None, &[], Some(&sql), None);
    assert!(
        out.status.success(),
        "loading the source: {}",
        stderr_of(&out)
    );
    h
}

/// psql on `db` (by URL: a database name with `=` is not a connection string), running `file` or
/// `stdin`, in `cwd`, with extra arguments and client encoding.
fn psql(
    server: &LocalServer,
    db: &str,
    file: Option<&Path>,
    args: &[&str],
    stdin: Option<&str>,
    cwd_encoding: Option<(&Path, &str)>,
) -> Output {
    let mut cmd = Command::new(server.bindir().join("psql"));
    cmd.args(["-X", "-A", "-t"])
        .args(args)
        .args(["-d", &server.url(db)]);
    match file {
        Some(f) => cmd.arg("-f").arg(f),
        None => cmd.args(["-v", "ON_ERROR_STOP=1", "-f", "-"]),
    };
    for var in ["PGCLIENTENCODING", "PGOPTIONS", "PSQLRC"] {
        cmd.env_remove(var);
    }
    if let Some((cwd, encoding)) = cwd_encoding {
        cmd.current_dir(cwd).env("PGCLIENTENCODING", encoding);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Rows of `sql` on `db`, one string per row (the query hex-encodes names, so rows are lines).
fn rows(server: &LocalServer, db: &str, sql: &str) -> Vec<String> {
    let out = psql(server, db, None, &["-q"], Some(sql), None);
    assert!(out.status.success(), "{sql}: {}", stderr_of(&out));
    let mut v: Vec<String> = stdout_of(&out)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// Fails with the rows only one side has.
fn assert_same_rows(actual: &[String], expected: &[String], what: &str) {
    let only = |a: &[String], b: &[String]| -> Vec<String> {
        a.iter().filter(|r| !b.contains(r)).cloned().collect()
    };
    assert!(
        actual == expected,
        "{what}: only on the target: {:?}; only on the source: {:?}",
        only(actual, expected),
        only(expected, actual)
    );
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Every schema, relation, column, constraint (with its definition, except keys `extend_keys`
/// changes), index predicate, trigger, rule, view, function body and comment outside the system and
/// Citus schemas, names hex-encoded.
const CATALOG_PRINT: &str = "
CREATE FUNCTION pg_temp.h(text) RETURNS text LANGUAGE sql AS $$ SELECT coalesce(encode(convert_to($1, 'UTF8'), 'hex'), '-') $$;
WITH ns AS (
    SELECT oid, nspname FROM pg_namespace
    WHERE nspname !~ '^(pg_|information_schema$|citus|columnar)'),
rel AS (
    SELECT c.oid, n.nspname, c.relname, c.relkind FROM pg_class c JOIN ns n ON n.oid = c.relnamespace
    WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')),
fn AS (
    SELECT p.oid, n.nspname, p.proname, p.prosrc FROM pg_proc p JOIN ns n ON n.oid = p.pronamespace
    WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'))
SELECT 'schema ' || pg_temp.h(nspname) FROM ns
UNION ALL SELECT 'rel ' || pg_temp.h(nspname) || ' ' || pg_temp.h(relname) || ' ' || relkind::text FROM rel
UNION ALL SELECT 'col ' || pg_temp.h(r.nspname) || ' ' || pg_temp.h(r.relname) || ' ' || a.attnum || ' ' || pg_temp.h(a.attname)
    FROM rel r JOIN pg_attribute a ON a.attrelid = r.oid WHERE a.attnum > 0 AND NOT a.attisdropped AND r.relkind IN ('r', 'p', 'v')
UNION ALL SELECT 'con ' || pg_temp.h(r.nspname) || ' ' || pg_temp.h(r.relname) || ' ' || pg_temp.h(k.conname) || ' ' || k.contype::text
        || ' ' || pg_temp.h(CASE WHEN k.contype IN ('c', 'f') THEN regexp_replace(pg_get_constraintdef(k.oid), '^FOREIGN KEY \\(.*\\) REFERENCES .*\\(.*\\)', 'FOREIGN KEY (…) REFERENCES …(…)') END)
    FROM rel r JOIN pg_constraint k ON k.conrelid = r.oid
UNION ALL SELECT 'idx ' || pg_temp.h(r.nspname) || ' ' || pg_temp.h(r.relname) || ' ' || pg_temp.h(pg_get_expr(i.indpred, i.indrelid))
    FROM rel r JOIN pg_index i ON i.indexrelid = r.oid
UNION ALL SELECT 'trg ' || pg_temp.h(r.nspname) || ' ' || pg_temp.h(t.tgname) || ' ' || pg_temp.h(pg_get_triggerdef(t.oid))
    FROM rel r JOIN pg_trigger t ON t.tgrelid = r.oid WHERE NOT t.tgisinternal
UNION ALL SELECT 'rule ' || pg_temp.h(r.nspname) || ' ' || pg_temp.h(w.rulename) || ' ' || pg_temp.h(pg_get_ruledef(w.oid))
    FROM rel r JOIN pg_rewrite w ON w.ev_class = r.oid
UNION ALL SELECT 'fn ' || pg_temp.h(nspname) || ' ' || pg_temp.h(proname) || ' ' || pg_temp.h(prosrc) FROM fn
UNION ALL SELECT 'comment rel ' || pg_temp.h(r.nspname) || ' ' || pg_temp.h(r.relname) || ' ' || d.objsubid || ' ' || pg_temp.h(d.description)
    FROM rel r JOIN pg_description d ON d.classoid = 'pg_class'::regclass AND d.objoid = r.oid
UNION ALL SELECT 'comment con ' || pg_temp.h(k.conname) || ' ' || pg_temp.h(d.description)
    FROM rel r JOIN pg_constraint k ON k.conrelid = r.oid JOIN pg_description d ON d.classoid = 'pg_constraint'::regclass AND d.objoid = k.oid
UNION ALL SELECT 'comment trg ' || pg_temp.h(t.tgname) || ' ' || pg_temp.h(d.description)
    FROM rel r JOIN pg_trigger t ON t.tgrelid = r.oid JOIN pg_description d ON d.classoid = 'pg_trigger'::regclass AND d.objoid = t.oid
UNION ALL SELECT 'comment fn ' || pg_temp.h(p.proname) || ' ' || pg_temp.h(d.description)
    FROM fn p JOIN pg_description d ON d.classoid = 'pg_proc'::regclass AND d.objoid = p.oid
UNION ALL SELECT 'comment ns ' || pg_temp.h(n.nspname) || ' ' || pg_temp.h(d.description)
    FROM ns n JOIN pg_description d ON d.classoid = 'pg_namespace'::regclass AND d.objoid = n.oid;";

/// Stand-ins for Citus's functions and metadata on plain PostgreSQL that record each call, where
/// Citus has them: in pg_catalog (the generated files name them so).
const CITUS_STUB: &str = "
CREATE SCHEMA citus_stub;
CREATE TABLE citus_stub.calls (n serial, call text, rel regclass, col text, colocate text, shards int);
SET allow_system_table_mods = on;
CREATE VIEW pg_catalog.pg_dist_partition AS SELECT rel AS logicalrelid, NULL::\"char\" AS partmethod, NULL::text AS partkey,
    NULL::\"char\" AS repmodel, 0 AS colocationid FROM citus_stub.calls WHERE call <> 'undistribute';
CREATE VIEW pg_catalog.pg_dist_shard AS SELECT rel AS logicalrelid FROM citus_stub.calls WHERE false;
CREATE FUNCTION pg_catalog.column_to_column_name(t regclass, v text) RETURNS text LANGUAGE sql AS $$ SELECT v $$;
CREATE FUNCTION pg_catalog.create_reference_table(t regclass) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO citus_stub.calls (call, rel) VALUES ('reference', t) $$;
CREATE FUNCTION pg_catalog.create_distributed_table(t regclass, col text, colocate_with text DEFAULT 'default', shard_count int DEFAULT NULL) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO citus_stub.calls (call, rel, col, colocate, shards) VALUES ('distributed', t, col, colocate_with, shard_count) $$;
CREATE FUNCTION pg_catalog.undistribute_table(t regclass, cascade_via_foreign_keys boolean DEFAULT false) RETURNS void LANGUAGE sql
    AS $$ INSERT INTO citus_stub.calls (call, rel) VALUES ('undistribute', t) $$;";

const STUB_CALLS: &str = "
SELECT n || ' ' || call || ' ' || encode(convert_to(s.nspname, 'UTF8'), 'hex') || ' ' || encode(convert_to(c.relname, 'UTF8'), 'hex')
    || ' ' || coalesce(encode(convert_to(col, 'UTF8'), 'hex'), '-') || ' '
    || coalesce(CASE WHEN colocate = 'none' THEN colocate ELSE encode(convert_to((SELECT relname FROM pg_class WHERE oid = colocate::regclass), 'UTF8'), 'hex') END, '-')
FROM citus_stub.calls JOIN pg_class c ON c.oid = rel JOIN pg_namespace s ON s.oid = c.relnamespace";

const CITUS_LAYOUT: &str = "
SELECT encode(convert_to(s.nspname, 'UTF8'), 'hex') || ' ' || encode(convert_to(c.relname, 'UTF8'), 'hex') || ' ' || t.citus_table_type
    || ' ' || encode(convert_to(t.distribution_column, 'UTF8'), 'hex')
    || ' ' || (SELECT count(DISTINCT colocation_id) FROM citus_tables WHERE citus_table_type = 'distributed')
FROM citus_tables t JOIN pg_class c ON c.oid = t.table_name JOIN pg_namespace s ON s.oid = c.relnamespace";

/// No canary file under `dir` (searched recursively), no table `pwned` in `db`.
fn assert_no_canary(dirs: &[&Path], server: &LocalServer, db: &str) {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == CANARY) {
                found.push(p.clone());
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(&p, found);
            }
        }
    }
    let mut found = Vec::new();
    for d in dirs {
        walk(d, &mut found);
    }
    assert!(found.is_empty(), "a canary fired: {found:?}");
    assert_eq!(
        rows(
            server,
            db,
            "SELECT count(*) FROM pg_class WHERE relname = 'pwned'"
        ),
        vec!["0"],
        "a canary table was created in {db:?}"
    );
}

/// Applies one generated file; `preset` passes `-v ON_ERROR_STOP=1`, otherwise the file must set it.
fn apply(server: &LocalServer, db: &str, file: &Path, preset: bool, cwd: &Path, encoding: &str) {
    let args: &[&str] = if preset {
        &["-v", "ON_ERROR_STOP=1"]
    } else {
        &[]
    };
    let out = psql(server, db, Some(file), args, None, Some((cwd, encoding)));
    let err = stderr_of(&out);
    assert!(
        out.status.success() && !err.contains("ERROR:") && !err.contains("invalid command"),
        "{} on {db:?} (exit {:?}):\n{err}",
        file.display(),
        out.status.code()
    );
}

fn write_plan(h: &Hostile, path: &Path) {
    let plan = serde_json::json!({
        "format_version": 1,
        "source": { "database": h.db },
        "shard_count": 4,
        "tables": [
            { "schema": h.schema, "name": h.parent, "kind": "reference" },
            { "schema": h.schema, "name": h.child, "kind": "distributed",
              "distribution_column": h.child_tenant, "colocation_group": "g", "extend_keys": true },
            { "schema": h.schema, "name": h.grandchild, "kind": "distributed",
              "distribution_column": h.grandchild_tenant, "colocation_group": "g" },
        ]
    });
    std::fs::write(path, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
}

const FILES: [&str; 4] = [
    "01-pre-data.sql",
    "02-distribute.sql",
    "03-post-data.sql",
    "rollback.sql",
];

#[test]
fn hostile_names_from_the_source_never_run_as_sql_or_psql_commands() {
    let source = LocalServer::start(&ServerOptions::default()).unwrap();
    let cluster = citus_or_skip("hostile_names_from_the_source_never_run_as_sql_or_psql_commands");
    let work = tempfile::tempdir().unwrap();
    // Where psql runs: a `\! touch PWNED` would leave the file here.
    let cwd = work.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    for (i, (db, fixed)) in DATABASES.into_iter().enumerate() {
        let h = create_source(&source, db, 0x5eed_0000 + i as u64, fixed);
        let expected_catalog = rows(&source, db, CATALOG_PRINT);
        let out_dir = work.path().join(format!("out{i}"));
        let plan_path = work
            .path()
            .join(format!("plan {i}\n\\! touch PWNED\n'.json"));
        write_plan(&h, &plan_path);
        let out = bin()
            .args(["generate", "--source", &source.url(db), "--plan"])
            .arg(&plan_path)
            .arg("--out-dir")
            .arg(&out_dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "generate for {db:?}: {}",
            stderr_of(&out)
        );
        for f in FILES {
            let text = std::fs::read_to_string(out_dir.join(f)).unwrap();
            assert!(
                text.starts_with("\\set ON_ERROR_STOP on\nSET client_encoding = 'UTF8';\n-- citus-migrate generate: "),
                "{f}: {}",
                &text[..200.min(text.len())]
            );
        }

        // Plain PostgreSQL with Citus's functions stubbed: once with ON_ERROR_STOP preset, once
        // without it and in a client encoding (SJIS) where a byte of a UTF-8 name could start a
        // two-byte character and swallow the quote after it.
        for (run, preset, encoding) in [("preset", true, "UTF8"), ("as_user", false, "SJIS")] {
            let target = format!("target_{i}_{run}");
            source.create_database(&target).unwrap();
            source.psql(&target, CITUS_STUB).unwrap();
            for f in &FILES[..3] {
                apply(&source, &target, &out_dir.join(f), preset, &cwd, encoding);
            }
            assert_same_rows(
                &rows(&source, &target, CATALOG_PRINT),
                &expected_catalog,
                &format!("{db:?}: the objects on {target}"),
            );
            let (s, p, c, g) = (
                hex(&h.schema),
                hex(&h.parent),
                hex(&h.child),
                hex(&h.grandchild),
            );
            let calls = vec![
                format!("1 reference {s} {p} - -"),
                format!("2 distributed {s} {c} {} none", hex(&h.child_tenant)),
                format!("3 distributed {s} {g} {} {c}", hex(&h.grandchild_tenant)),
            ];
            assert_eq!(rows(&source, &target, STUB_CALLS), calls, "{db:?}");
            apply(
                &source,
                &target,
                &out_dir.join(FILES[3]),
                preset,
                &cwd,
                encoding,
            );
            let mut calls = calls;
            calls.extend([
                format!("4 undistribute {s} {g} - -"),
                format!("5 undistribute {s} {c} - -"),
                format!("6 undistribute {s} {p} - -"),
            ]);
            assert_eq!(rows(&source, &target, STUB_CALLS), calls, "{db:?}");
            assert_no_canary(&[&cwd, source.dir()], &source, &target);
        }
        assert_no_canary(&[&cwd, source.dir()], &source, db);

        // Citus, as a user would run the files.
        if let Some(cluster) = &cluster {
            let target = format!("target_{i}");
            cluster.create_database(&target).unwrap();
            let co = &cluster.coordinator;
            for f in &FILES[..3] {
                apply(co, &target, &out_dir.join(f), false, &cwd, "UTF8");
            }
            assert_same_rows(
                &rows(co, &target, CATALOG_PRINT),
                &expected_catalog,
                &format!("{db:?}: the objects on Citus"),
            );
            let mut layout = vec![
                format!(
                    "{} {} reference {} 1",
                    hex(&h.schema),
                    hex(&h.parent),
                    hex("<none>")
                ),
                format!(
                    "{} {} distributed {} 1",
                    hex(&h.schema),
                    hex(&h.child),
                    hex(&h.child_tenant)
                ),
                format!(
                    "{} {} distributed {} 1",
                    hex(&h.schema),
                    hex(&h.grandchild),
                    hex(&h.grandchild_tenant)
                ),
            ];
            layout.sort();
            assert_eq!(rows(co, &target, CITUS_LAYOUT), layout, "{db:?}");
            apply(co, &target, &out_dir.join(FILES[3]), false, &cwd, "UTF8");
            assert_eq!(rows(co, &target, CITUS_LAYOUT), Vec::<String>::new());
            // migrate runs the same SQL itself, statement by statement (post-data items in parallel).
            let migrated = format!("migrated_{i}");
            cluster.create_database(&migrated).unwrap();
            let out = bin()
                .args([
                    "migrate",
                    "--source",
                    &source.url(db),
                    "--target",
                    &co.url(&migrated),
                ])
                .arg("--plan")
                .arg(&plan_path)
                .arg("--work-dir")
                .arg(work.path().join(format!("migrate{i}")))
                .args(["--jobs", "2"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "migrate for {db:?}: {}{}",
                stdout_of(&out),
                stderr_of(&out)
            );
            assert_same_rows(
                &rows(co, &migrated, CATALOG_PRINT),
                &expected_catalog,
                &format!("{db:?}: the objects migrate made on Citus"),
            );
            assert_eq!(rows(co, &migrated, CITUS_LAYOUT), layout, "{db:?}");
            assert_no_canary(&[&cwd], co, &migrated);
            let dirs: Vec<&Path> = std::iter::once(cwd.as_path())
                .chain(std::iter::once(co.dir()))
                .chain(cluster.workers.iter().map(|w| w.dir()))
                .collect();
            assert_no_canary(&dirs, co, &target);
        }
    }
}

/// Functions and an operator of the source that would match the generated SQL's calls better than
/// Citus's and PostgreSQL's own (an untyped literal prefers `text` to `regclass`; `regclass =
/// regclass` and `setval(regclass, integer, boolean)` match exactly where pg_catalog's need a cast).
/// `01-pre-data.sql` creates them on the target; each creates the canary table `pwned` when called,
/// holding the statement that called it.
const SHADOWS: &str = "
CREATE FUNCTION public.pwn() RETURNS void LANGUAGE plpgsql AS $$ BEGIN CREATE TABLE IF NOT EXISTS public.pwned AS SELECT current_query() AS q; END $$;
CREATE FUNCTION public.create_distributed_table(regclass, text) RETURNS void LANGUAGE sql AS $$ SELECT public.pwn() $$;
CREATE FUNCTION public.create_distributed_table(text, text) RETURNS void LANGUAGE sql AS $$ SELECT public.pwn() $$;
CREATE FUNCTION public.create_distributed_table(table_name text, distribution_column text, colocate_with text, shard_count integer DEFAULT 0)
    RETURNS void LANGUAGE sql AS $$ SELECT public.pwn() $$;
CREATE FUNCTION public.create_reference_table(text) RETURNS void LANGUAGE sql AS $$ SELECT public.pwn() $$;
CREATE FUNCTION public.undistribute_table(table_name text, cascade_via_foreign_keys boolean) RETURNS void LANGUAGE sql AS $$ SELECT public.pwn() $$;
CREATE FUNCTION public.setval(regclass, integer, boolean) RETURNS bigint LANGUAGE sql AS $$ SELECT public.pwn(); SELECT 0::bigint $$;
CREATE FUNCTION public.regclass_eq(regclass, regclass) RETURNS boolean LANGUAGE sql AS $$ SELECT public.pwn(); SELECT $1::oid OPERATOR(pg_catalog.=) $2::oid $$;
CREATE OPERATOR public.= (FUNCTION = public.regclass_eq, LEFTARG = regclass, RIGHTARG = regclass);
CREATE TABLE countries (code text PRIMARY KEY, name text);
CREATE TABLE companies (id bigserial PRIMARY KEY, country text REFERENCES countries);
CREATE TABLE users (company_id bigint NOT NULL REFERENCES companies, id bigserial, PRIMARY KEY (company_id, id));
INSERT INTO countries VALUES ('nl', 'Netherlands'), ('jp', 'Japan');
INSERT INTO companies (country) VALUES ('nl'), ('jp'), ('nl');
INSERT INTO users (company_id) SELECT 1 + i % 3 FROM generate_series(1, 50) i;";

/// Each table outside the system schemas with its Citus layout: kind, distribution column, shard
/// count and whether it shares the co-location of `companies` (names and oids compared as oids).
const SHADOW_LAYOUT: &str = "
SELECT c.relname || ' ' || coalesce(p.partmethod::text || p.repmodel::text, 'local')
    || ' ' || coalesce(pg_catalog.column_to_column_name(p.logicalrelid, p.partkey), '-')
    || ' ' || (SELECT count(*) FROM pg_dist_shard s WHERE s.logicalrelid::oid OPERATOR(pg_catalog.=) c.oid)
    || ' ' || coalesce((p.colocationid OPERATOR(pg_catalog.=) (SELECT colocationid FROM pg_dist_partition
        WHERE logicalrelid::oid OPERATOR(pg_catalog.=) 'public.companies'::regclass::oid))::text, '-')
FROM pg_class c LEFT JOIN pg_dist_partition p ON p.logicalrelid::oid OPERATOR(pg_catalog.=) c.oid
WHERE c.relnamespace OPERATOR(pg_catalog.=) 'public'::regnamespace::oid AND c.relkind = 'r'";

/// No function of [`SHADOWS`] ran on `db` of `server` (else: which statement called it).
fn assert_no_shadow_called(server: &LocalServer, db: &str) {
    let canary = rows(server, db, "SELECT to_regclass('public.pwned') IS NOT NULL");
    if canary == ["t"] {
        panic!(
            "a function of the source ran on {db:?}, called by: {:?}",
            server.psql(db, "SELECT q FROM public.pwned")
        );
    }
}

#[test]
fn functions_of_the_source_named_like_citus_functions_are_never_called() {
    let Some(cluster) =
        citus_or_skip("functions_of_the_source_named_like_citus_functions_are_never_called")
    else {
        return;
    };
    let source = server_with("shadow", SHADOWS);
    let work = tempfile::tempdir().unwrap();
    let plan_path = work.path().join("plan.json");
    let plan = serde_json::json!({
        "format_version": 1,
        "source": { "database": "shadow" },
        "shard_count": 4,
        "tables": [
            { "schema": "public", "name": "countries", "kind": "reference" },
            { "schema": "public", "name": "companies", "kind": "distributed",
              "distribution_column": "id", "colocation_group": "g" },
            { "schema": "public", "name": "users", "kind": "distributed",
              "distribution_column": "company_id", "colocation_group": "g" },
        ]
    });
    std::fs::write(&plan_path, serde_json::to_string_pretty(&plan).unwrap()).unwrap();
    let out_dir = work.path().join("out");
    let out = bin()
        .args(["generate", "--source", &source.url("shadow"), "--plan"])
        .arg(&plan_path)
        .arg("--out-dir")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "generate: {}", stderr_of(&out));
    let co = &cluster.coordinator;
    let layout = vec![
        "companies hs id 4 true",
        "countries nt - 1 false",
        "users hs company_id 4 true",
    ];
    let local = vec![
        "companies local - 0 -",
        "countries local - 0 -",
        "users local - 0 -",
    ];

    // As a user would run the files, twice (the second run of 02 skips every table), then the
    // rollback twice.
    cluster.create_database("by_psql").unwrap();
    let run = |f: &str| apply(co, "by_psql", &out_dir.join(f), false, work.path(), "UTF8");
    FILES[..3].iter().for_each(|f| run(f));
    assert_eq!(
        rows(
            co,
            "by_psql",
            "SELECT (SELECT count(*) FROM pg_proc WHERE proname = 'create_distributed_table') || ' '
                || (SELECT count(*) FROM pg_operator WHERE oprname = '=' AND oprleft = 'regclass'::regtype)"
        ),
        vec!["4 1"],
        "pre-data created the source's functions and operator next to Citus's and PostgreSQL's"
    );
    assert_no_shadow_called(co, "by_psql");
    assert_eq!(rows(co, "by_psql", SHADOW_LAYOUT), layout);
    run(FILES[1]);
    assert_eq!(rows(co, "by_psql", SHADOW_LAYOUT), layout);
    for _ in 0..2 {
        run(FILES[3]);
        assert_eq!(rows(co, "by_psql", SHADOW_LAYOUT), local);
    }
    assert_no_shadow_called(co, "by_psql");

    // migrate runs the same statements, sets the sequences and checks the result.
    cluster.create_database("migrated").unwrap();
    let out = bin()
        .args([
            "migrate",
            "--source",
            &source.url("shadow"),
            "--target",
            &co.url("migrated"),
        ])
        .arg("--plan")
        .arg(&plan_path)
        .arg("--work-dir")
        .arg(work.path().join("migrate"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "migrate: {}{}",
        stdout_of(&out),
        stderr_of(&out)
    );
    assert_no_shadow_called(co, "migrated");
    assert_eq!(rows(co, "migrated", SHADOW_LAYOUT), layout);
    assert_eq!(
        rows(
            co,
            "migrated",
            "SELECT (SELECT count(*) FROM users)::text || ' ' || nextval('companies_id_seq') || ' ' || nextval('users_id_seq')"
        ),
        vec!["50 4 51"],
        "the rows, and the sequences set past the source's values"
    );
    for w in &cluster.workers {
        assert_no_shadow_called(w, "migrated");
    }
    assert_no_shadow_called(&source, "shadow");
}

/// What [`fixes_of_blockers_keep_hostile_names_in_quotes`] appends to every name of the blockers
/// fixture: both quotes, and a psql command on a line of its own.
const SUFFIX: &str = "'\n\\! touch PWNED\n\"";

/// fixtures/blockers.sql, then its schema, constraints, indexes, triggers and rules renamed with
/// [`SUFFIX`]. (An index access method of such a name is left to the unit test: PostgreSQL's own index
/// handlers refuse to serve another access method.)
fn hostile_blockers_source() -> LocalServer {
    let server = server_with("legacy", &fixture("blockers.sql"));
    let rename = format!(
        "DO $$ DECLARE r record; s text := {suffix}; BEGIN
    FOR r IN SELECT conrelid::regclass AS t, conname FROM pg_constraint WHERE connamespace = 'legacy'::regnamespace AND conrelid <> 0 LOOP
        EXECUTE format('ALTER TABLE %s RENAME CONSTRAINT %I TO %I', r.t, r.conname, r.conname || s);
    END LOOP;
    FOR r IN SELECT i.indexrelid::regclass AS i, c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE c.relnamespace = 'legacy'::regnamespace AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) LOOP
        EXECUTE format('ALTER INDEX %s RENAME TO %I', r.i, r.relname || s);
    END LOOP;
    FOR r IN SELECT tgrelid::regclass AS t, tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
             WHERE c.relnamespace = 'legacy'::regnamespace AND NOT tgisinternal LOOP
        EXECUTE format('ALTER TRIGGER %I ON %s RENAME TO %I', r.tgname, r.t, r.tgname || s);
    END LOOP;
    FOR r IN SELECT ev_class::regclass AS t, rulename FROM pg_rewrite w JOIN pg_class c ON c.oid = w.ev_class
             WHERE c.relnamespace = 'legacy'::regnamespace LOOP
        EXECUTE format('ALTER RULE %I ON %s RENAME TO %I', r.rulename, r.t, r.rulename || s);
    END LOOP;
END $$;
ALTER SCHEMA legacy RENAME TO {schema};
ANALYZE;",
        suffix = lit(SUFFIX),
        schema = ident(&format!("legacy{SUFFIX}")),
    );
    server.psql("legacy", &rename).unwrap();
    server
}

#[test]
fn fixes_of_blockers_keep_hostile_names_in_quotes() {
    let source = hostile_blockers_source();
    let analyze = |format: &str| {
        let out = bin()
            .args([
                "analyze",
                "--format",
                format,
                "--source",
                &source.url("legacy"),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "analyze: {}", stderr_of(&out));
        stdout_of(&out)
    };
    let v: serde_json::Value = serde_json::from_str(&analyze("json")).unwrap();
    let mut fixes: Vec<(String, String)> = v["tables"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["blockers"].as_array().unwrap())
        .filter_map(|b| {
            Some((
                b["code"].as_str()?.to_string(),
                b["fix"].as_str()?.to_string(),
            ))
        })
        .collect();
    fixes.sort();
    let codes: Vec<&str> = fixes.iter().map(|(c, _)| c.as_str()).collect();
    for code in [
        "exclusion_missing_distribution_column",
        "inheritance",
        "pk_missing_distribution_column",
        "rule_on_distributed_table",
        "trigger_on_distributed_table",
        "unique_index_missing_distribution_column",
    ] {
        assert!(codes.contains(&code), "no fix for {code}: {codes:?}");
    }
    // The text report indents the fixes under their blocker, but not inside a quoted name.
    let text = analyze("text");
    let trigger = format!(
        "fix: DROP TRIGGER {} ON {}.orders;",
        ident(&format!("orders_touch{SUFFIX}")),
        ident(&format!("legacy{SUFFIX}"))
    );
    assert!(text.contains(&trigger), "{trigger}\nnot in\n{text}");
    // As a user would run them, one after the other, without ON_ERROR_STOP (some fail: an earlier one
    // changed what they change), from a directory where `\! touch PWNED` would leave its file.
    let cwd = tempfile::tempdir().unwrap();
    source
        .psql("postgres", "CREATE DATABASE fixed TEMPLATE legacy")
        .unwrap();
    for (code, fix) in &fixes {
        let file = cwd.path().join("fix.sql");
        std::fs::write(&file, fix).unwrap();
        let out = psql(
            &source,
            "fixed",
            Some(&file),
            &[],
            None,
            Some((cwd.path(), "UTF8")),
        );
        assert!(
            !stderr_of(&out).contains("invalid command"),
            "{code}: {}\n{fix}",
            stderr_of(&out)
        );
        assert_no_canary(&[cwd.path(), source.dir()], &source, "fixed");
    }
    // The fixes did their work (on names that are what they were): no trigger and no rule on orders,
    // its unique index starts with the distribution column.
    assert_eq!(
        rows(
            &source,
            "fixed",
            "SELECT (SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal) || ' '
                || (SELECT count(*) FROM pg_rewrite w JOIN pg_class c ON c.oid = w.ev_class WHERE c.relname = 'orders') || ' '
                || (SELECT string_agg((pg_get_indexdef(i.indexrelid) ~ 'btree \\(account_id, reference_code\\)')::text, ',')
                    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relname = 'orders' AND NOT i.indisprimary)"
        ),
        vec!["0 0 true"]
    );
}
