//! What a query says, read with `sqlparser` (PostgreSQL dialect): the tables it touches, its equality
//! filters (`column = constant` or `= $n`), its join edges (`column = column`, through derived tables,
//! CTEs, `IN (subquery)` and correlated subqueries, aliases resolved), its GROUP BY columns and what it
//! writes. Column names without a table are resolved against the catalog.

use std::collections::HashMap;

use sqlparser::ast::{
    AssignmentTarget, BinaryOperator, CteAsMaterialized, Expr, FromTable, FunctionArg,
    FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, JoinConstraint, JoinOperator,
    ObjectName, Query, Select, SelectItem, SetExpr, Statement, TableFactor, TableObject,
    TableWithJoins, UpdateTableFromKind, Value,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

use crate::catalog::{Catalog, Table};
use crate::ident::QualifiedName;

/// One side of an equality: a column of a table reference (by its number in the query), a constant,
/// or a parameter (`$n`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Node {
    Col(usize, String),
    Const(String),
    Param(u32),
}

/// What a statement writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteKind {
    Insert,
    Update,
    Delete,
}

#[derive(Debug, Clone)]
pub(crate) struct Write {
    pub kind: WriteKind,
    /// The table reference written to.
    pub target: usize,
    /// UPDATE … SET columns.
    pub set_columns: Vec<String>,
    /// INSERT … VALUES: each row's value of each column the INSERT names (`None`: an expression).
    pub rows: Vec<HashMap<String, Option<Node>>>,
    /// INSERT … SELECT.
    pub from_select: bool,
}

/// A parsed query as routing needs it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shape {
    /// Every table reference, in order; several references may name one table.
    pub refs: Vec<Ref>,
    /// `a = b` that hold for every row the query reads (top-level conjuncts of WHERE, ON, HAVING,
    /// `IN (subquery)` and what INSERT … SELECT puts into each column).
    pub equal: Vec<(Node, Node)>,
    /// `column IN (list)` with more than one value: a few shards, not one.
    pub in_lists: Vec<Node>,
    pub group_by: Vec<Node>,
    pub write: Option<Write>,
    /// The table references inside each CTE that PostgreSQL does not inline (read twice, or
    /// `MATERIALIZED`): Citus plans such a CTE on its own first.
    pub materialized: Vec<std::ops::Range<usize>>,
    /// Every subquery (derived table, CTE, subquery in an expression), for Citus's pushdown rules.
    pub subqueries: Vec<Sub>,
}

/// A subquery: the table references read inside it, and what keeps Citus from pushing it down with
/// the rest of the query unless it is grouped by the distribution column.
#[derive(Debug, Clone)]
pub(crate) struct Sub {
    pub refs: std::ops::Range<usize>,
    /// LIMIT, OFFSET or FETCH.
    pub limit: bool,
    /// An aggregate in its select list.
    pub aggregate: bool,
    pub group_by: Vec<Node>,
    /// It refers to columns of the query around it.
    pub correlated: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Ref {
    pub table: QualifiedName,
    /// The table is in the catalog (else: a view, a function or a table that is not selected).
    pub known: bool,
}

/// The catalog's tables by name, for resolving names and columns quickly.
pub(crate) struct Names<'a> {
    by_name: HashMap<&'a str, Vec<&'a Table>>,
    by_qualified: HashMap<(&'a str, &'a str), &'a Table>,
}

impl<'a> Names<'a> {
    pub fn new(cat: &'a Catalog) -> Self {
        let mut by_name: HashMap<&str, Vec<&Table>> = HashMap::new();
        let mut by_qualified = HashMap::new();
        for t in &cat.tables {
            by_name.entry(t.name.as_str()).or_default().push(t);
            by_qualified.insert((t.schema.as_str(), t.name.as_str()), t);
        }
        Names {
            by_name,
            by_qualified,
        }
    }

    pub fn get(&self, q: &QualifiedName) -> Option<&'a Table> {
        self.by_qualified
            .get(&(q.schema.as_str(), q.name.as_str()))
            .copied()
    }

    /// A name as a query writes it: `schema.table`, or `table` (public first, else the one schema
    /// that has it).
    fn resolve(&self, parts: &[String]) -> (QualifiedName, bool) {
        match parts {
            [.., schema, name] => {
                let q = QualifiedName::new(schema, name);
                let known = self.get(&q).is_some();
                (q, known)
            }
            [name] => {
                let found = self.by_name.get(name.as_str());
                let pick = found.and_then(|v| {
                    v.iter().find(|t| t.schema == "public").or(if v.len() == 1 {
                        v.first()
                    } else {
                        None
                    })
                });
                match pick {
                    Some(t) => (t.qualified(), true),
                    None => (QualifiedName::new("public", name), false),
                }
            }
            [] => (QualifiedName::new("public", ""), false),
        }
    }
}

fn fold(i: &Ident) -> String {
    if i.quote_style.is_some() {
        i.value.clone()
    } else {
        i.value.to_lowercase()
    }
}

fn name_parts(n: &ObjectName) -> Vec<String> {
    n.0.iter().filter_map(|p| p.as_ident()).map(fold).collect()
}

/// Parses one statement; `Err` holds why it could not be read.
pub(crate) fn parse(sql: &str, names: &Names<'_>) -> Result<Shape, String> {
    let stmts = Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(|e| e.to_string())?;
    let stmt = match stmts.as_slice() {
        [s] => s,
        [] => return Err("no statement".into()),
        _ => return Err(format!("{} statements where one was expected", stmts.len())),
    };
    let mut w = Walker {
        names,
        shape: Shape::default(),
        frames: Vec::new(),
        open_subqueries: Vec::new(),
        ctes: Vec::new(),
    };
    w.statement(stmt)?;
    Ok(w.shape)
}

/// A name in a FROM list: a table reference, or a derived table / CTE with its output columns.
#[derive(Clone)]
enum Entry {
    Table(usize),
    Derived(Vec<(String, Option<Node>)>),
}

type Columns = Vec<(String, Option<Node>)>;

struct Walker<'n, 'a> {
    names: &'n Names<'a>,
    shape: Shape,
    /// FROM lists, innermost last (outer ones serve correlated references).
    frames: Vec<Vec<(String, Entry)>>,
    /// The subqueries being read: the depth of the FROM lists outside each, and whether it refers to
    /// them (correlated).
    open_subqueries: Vec<(usize, bool)>,
    ctes: Vec<Cte>,
}

/// A CTE in scope: its name, output columns, the table references read inside it, how often the
/// query reads it, and whether it is `MATERIALIZED`.
struct Cte {
    name: String,
    cols: Columns,
    refs: std::ops::Range<usize>,
    uses: usize,
    materialized: bool,
}

impl Walker<'_, '_> {
    fn statement(&mut self, s: &Statement) -> Result<(), String> {
        match s {
            Statement::Query(q) => {
                self.query(q);
            }
            Statement::Insert(ins) => {
                let TableObject::TableName(name) = &ins.table else {
                    return Err("INSERT into a table function".into());
                };
                let target = self.new_ref(name);
                let table = self.names.get(&self.shape.refs[target].table);
                let mut columns: Vec<String> = ins
                    .columns
                    .iter()
                    .filter_map(|c| name_parts(c).pop())
                    .collect();
                if columns.is_empty() {
                    columns = table
                        .map(|t| t.columns.iter().map(|c| c.name.clone()).collect())
                        .unwrap_or_default();
                }
                let mut write = Write {
                    kind: WriteKind::Insert,
                    target,
                    set_columns: Vec::new(),
                    rows: Vec::new(),
                    from_select: false,
                };
                if let Some(src) = &ins.source {
                    let pushed = self.with(src);
                    match src.body.as_ref() {
                        SetExpr::Values(v) => {
                            self.frames.push(Vec::new());
                            for row in &v.rows {
                                let mut m = HashMap::new();
                                for (c, e) in columns.iter().zip(&row.content) {
                                    m.insert(c.clone(), self.operand(e));
                                }
                                write.rows.push(m);
                            }
                            self.frames.pop();
                        }
                        _ => {
                            write.from_select = true;
                            let out = self.set_expr(&src.body);
                            for (c, (_, node)) in columns.iter().zip(out) {
                                if let Some(node) = node {
                                    self.shape.equal.push((Node::Col(target, c.clone()), node));
                                }
                            }
                        }
                    }
                    self.pop_ctes(pushed);
                }
                self.shape.write = Some(write);
            }
            Statement::Update(u) => {
                self.frames.push(Vec::new());
                let target = self.table_with_joins(&u.table);
                if let Some(from) = &u.from {
                    let (UpdateTableFromKind::BeforeSet(v) | UpdateTableFromKind::AfterSet(v)) =
                        from;
                    for t in v {
                        self.table_with_joins(t);
                    }
                }
                let mut set_columns = Vec::new();
                for a in &u.assignments {
                    match &a.target {
                        AssignmentTarget::ColumnName(n) => set_columns.extend(name_parts(n).pop()),
                        AssignmentTarget::Tuple(ns) => {
                            set_columns.extend(ns.iter().filter_map(|n| name_parts(n).pop()))
                        }
                    }
                    self.expr(&a.value);
                }
                self.finish_write(WriteKind::Update, target, set_columns, u.selection.as_ref())?;
            }
            Statement::Delete(d) => {
                self.frames.push(Vec::new());
                let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &d.from;
                let mut target = None;
                for t in from {
                    let r = self.table_with_joins(t);
                    target = target.or(r);
                }
                for t in d.using.iter().flatten() {
                    self.table_with_joins(t);
                }
                self.finish_write(WriteKind::Delete, target, Vec::new(), d.selection.as_ref())?;
            }
            other => {
                let text = other.to_string();
                let word = text.split_whitespace().next().unwrap_or("?").to_uppercase();
                return Err(format!(
                    "{word}: not a query (only SELECT, INSERT, UPDATE and DELETE are routed)"
                ));
            }
        }
        Ok(())
    }

    /// The WHERE of an UPDATE or DELETE, and what it writes; closes the statement's FROM list.
    fn finish_write(
        &mut self,
        kind: WriteKind,
        target: Option<usize>,
        set_columns: Vec<String>,
        selection: Option<&Expr>,
    ) -> Result<(), String> {
        if let Some(e) = selection {
            self.predicate(e);
        }
        self.frames.pop();
        let Some(target) = target else {
            return Err(format!("{kind:?} of something that is not a table").to_uppercase());
        };
        self.shape.write = Some(Write {
            kind,
            target,
            set_columns,
            rows: Vec::new(),
            from_select: false,
        });
        Ok(())
    }

    fn new_ref(&mut self, name: &ObjectName) -> usize {
        let (table, known) = self.names.resolve(&name_parts(name));
        self.shape.refs.push(Ref { table, known });
        self.shape.refs.len() - 1
    }

    /// Declares the query's CTEs (reading each one); returns how many were pushed.
    fn with(&mut self, q: &Query) -> usize {
        let Some(with) = &q.with else { return 0 };
        for cte in &with.cte_tables {
            let name = fold(&cte.alias.name);
            let start = self.shape.refs.len();
            if with.recursive {
                // Visible inside itself; its columns are not known before it is read.
                self.ctes.push(Cte {
                    name: name.clone(),
                    cols: Vec::new(),
                    refs: start..start,
                    uses: 0,
                    materialized: false,
                });
            }
            let mut cols = self.subquery(&cte.query);
            rename(
                &mut cols,
                &cte.alias
                    .columns
                    .iter()
                    .map(|c| fold(&c.name))
                    .collect::<Vec<_>>(),
            );
            if with.recursive {
                self.ctes.pop();
            }
            self.ctes.push(Cte {
                name,
                cols,
                refs: start..self.shape.refs.len(),
                uses: 0,
                materialized: matches!(cte.materialized, Some(CteAsMaterialized::Materialized))
                    || with.recursive,
            });
        }
        with.cte_tables.len()
    }

    /// Takes the last `n` CTEs out of scope, noting the ones PostgreSQL does not inline.
    fn pop_ctes(&mut self, n: usize) {
        for cte in self.ctes.drain(self.ctes.len() - n..) {
            if cte.uses >= 2 || (cte.materialized && cte.uses >= 1) {
                self.shape.materialized.push(cte.refs);
            }
        }
    }

    /// A query inside the statement: read as [`Self::query`], and noted for the pushdown rules.
    fn subquery(&mut self, q: &Query) -> Columns {
        let refs = self.shape.refs.len();
        let group_by = self.shape.group_by.len();
        self.open_subqueries.push((self.frames.len(), false));
        let cols = self.query(q);
        let (_, correlated) = self.open_subqueries.pop().expect("pushed above");
        let aggregate = match q.body.as_ref() {
            SetExpr::Select(sel) => sel.projection.iter().any(|item| match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                    has_aggregate(e)
                }
                _ => false,
            }),
            _ => false,
        };
        self.shape.subqueries.push(Sub {
            refs: refs..self.shape.refs.len(),
            limit: q.limit_clause.is_some() || q.fetch.is_some(),
            aggregate,
            group_by: self.shape.group_by[group_by..].to_vec(),
            correlated,
        });
        cols
    }

    fn query(&mut self, q: &Query) -> Columns {
        let pushed = self.with(q);
        let out = self.set_expr(&q.body);
        self.pop_ctes(pushed);
        out
    }

    fn set_expr(&mut self, s: &SetExpr) -> Columns {
        match s {
            SetExpr::Select(sel) => self.select(sel),
            SetExpr::Query(q) => self.query(q),
            SetExpr::SetOperation { left, right, .. } => {
                let l = self.set_expr(left);
                self.set_expr(right);
                l
            }
            SetExpr::Values(v) => {
                let mut out = Vec::new();
                for row in &v.rows {
                    for (i, e) in row.content.iter().enumerate() {
                        let n = self.operand(e);
                        if out.len() <= i {
                            out.push((format!("column{}", i + 1), n));
                        }
                    }
                }
                out
            }
            SetExpr::Insert(st) | SetExpr::Update(st) | SetExpr::Delete(st) => {
                let _ = self.statement(st);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn select(&mut self, sel: &Select) -> Columns {
        self.frames.push(Vec::new());
        for t in &sel.from {
            self.table_with_joins(t);
        }
        if let Some(e) = &sel.selection {
            self.predicate(e);
        }
        if let GroupByExpr::Expressions(exprs, _) = &sel.group_by {
            for e in exprs {
                if let Some(n @ Node::Col(..)) = self.operand(e) {
                    self.shape.group_by.push(n);
                }
            }
        }
        if let Some(e) = &sel.having {
            self.predicate(e);
        }
        let mut out = Vec::new();
        for item in &sel.projection {
            match item {
                SelectItem::UnnamedExpr(e) => {
                    let name = match e {
                        Expr::Identifier(i) => fold(i),
                        Expr::CompoundIdentifier(v) => v.last().map(fold).unwrap_or_default(),
                        Expr::Function(f) => name_parts(&f.name).pop().unwrap_or_default(),
                        _ => "?column?".into(),
                    };
                    out.push((name, self.operand(e)));
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    out.push((fold(alias), self.operand(expr)));
                }
                SelectItem::ExprWithAliases { expr, .. } => {
                    self.expr(expr);
                }
                SelectItem::Wildcard(_) => {
                    let frame = self.frames.last().cloned().unwrap_or_default();
                    for (_, e) in frame {
                        out.extend(self.entry_columns(&e));
                    }
                }
                SelectItem::QualifiedWildcard(kind, _) => {
                    let alias = match kind {
                        sqlparser::ast::SelectItemQualifiedWildcardKind::ObjectName(n) => {
                            name_parts(n).pop().unwrap_or_default()
                        }
                        sqlparser::ast::SelectItemQualifiedWildcardKind::Expr(_) => String::new(),
                    };
                    let frame = self.frames.last().cloned().unwrap_or_default();
                    if let Some((_, e)) = frame.iter().find(|(a, _)| *a == alias) {
                        out.extend(self.entry_columns(e));
                    }
                }
            }
        }
        self.frames.pop();
        out
    }

    fn entry_columns(&self, e: &Entry) -> Columns {
        match e {
            Entry::Derived(cols) => cols.clone(),
            Entry::Table(r) => self
                .names
                .get(&self.shape.refs[*r].table)
                .map(|t| {
                    t.columns
                        .iter()
                        .map(|c| (c.name.clone(), Some(Node::Col(*r, c.name.clone()))))
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// Adds the FROM item and its joins to the innermost frame; returns the first table reference.
    fn table_with_joins(&mut self, t: &TableWithJoins) -> Option<usize> {
        let first = self.table_factor(&t.relation);
        for j in &t.joins {
            let right = self.table_factor(&j.relation);
            let constraint = match &j.join_operator {
                JoinOperator::Join(c)
                | JoinOperator::Inner(c)
                | JoinOperator::Left(c)
                | JoinOperator::LeftOuter(c)
                | JoinOperator::Right(c)
                | JoinOperator::RightOuter(c)
                | JoinOperator::FullOuter(c)
                | JoinOperator::Semi(c)
                | JoinOperator::LeftSemi(c)
                | JoinOperator::RightSemi(c)
                | JoinOperator::Anti(c)
                | JoinOperator::LeftAnti(c)
                | JoinOperator::RightAnti(c) => Some(c),
                _ => None,
            };
            match constraint {
                Some(JoinConstraint::On(e)) => self.predicate(e),
                Some(JoinConstraint::Using(cols)) => {
                    let frame = self.frames.last().cloned().unwrap_or_default();
                    for c in cols {
                        let Some(col) = name_parts(c).pop() else {
                            continue;
                        };
                        let found: Vec<Node> = frame
                            .iter()
                            .filter_map(|(_, e)| self.column_of(e, &col))
                            .collect();
                        if let (Some(a), Some(b)) = (found.first(), found.last()) {
                            if a != b {
                                self.shape.equal.push((a.clone(), b.clone()));
                            }
                        }
                    }
                }
                _ => {}
            }
            let _ = right;
        }
        first
    }

    fn table_factor(&mut self, f: &TableFactor) -> Option<usize> {
        match f {
            TableFactor::Table {
                name, alias, args, ..
            } => {
                if args.is_some() {
                    return None;
                }
                let parts = name_parts(name);
                let alias_name = alias.as_ref().map(|a| fold(&a.name));
                if let [single] = parts.as_slice() {
                    if let Some(cte) = self.ctes.iter_mut().rev().find(|c| c.name == *single) {
                        cte.uses += 1;
                        let mut cols = cte.cols.clone();
                        if let Some(a) = alias {
                            rename(
                                &mut cols,
                                &a.columns.iter().map(|c| fold(&c.name)).collect::<Vec<_>>(),
                            );
                        }
                        let key = alias_name.unwrap_or_else(|| single.clone());
                        self.push_entry(key, Entry::Derived(cols));
                        return None;
                    }
                }
                let r = self.new_ref(name);
                let key = alias_name.unwrap_or_else(|| parts.last().cloned().unwrap_or_default());
                self.push_entry(key, Entry::Table(r));
                Some(r)
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                let mut cols = self.subquery(subquery);
                if let Some(a) = alias {
                    rename(
                        &mut cols,
                        &a.columns.iter().map(|c| fold(&c.name)).collect::<Vec<_>>(),
                    );
                }
                let key = alias.as_ref().map(|a| fold(&a.name)).unwrap_or_default();
                self.push_entry(key, Entry::Derived(cols));
                None
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.table_with_joins(table_with_joins),
            _ => None,
        }
    }

    fn push_entry(&mut self, key: String, e: Entry) {
        if self.frames.is_empty() {
            self.frames.push(Vec::new());
        }
        self.frames.last_mut().expect("a frame").push((key, e));
    }

    fn column_of(&self, e: &Entry, col: &str) -> Option<Node> {
        match e {
            Entry::Table(r) => {
                let rf = &self.shape.refs[*r];
                if !rf.known {
                    return None;
                }
                self.names
                    .get(&rf.table)
                    .and_then(|t| t.column(col))
                    .map(|_| Node::Col(*r, col.to_string()))
            }
            Entry::Derived(cols) => cols
                .iter()
                .find(|(n, _)| n == col)
                .and_then(|c| c.1.clone()),
        }
    }

    fn has_column(&self, e: &Entry, col: &str) -> bool {
        match e {
            Entry::Table(r) => {
                let rf = &self.shape.refs[*r];
                rf.known
                    && self
                        .names
                        .get(&rf.table)
                        .is_some_and(|t| t.column(col).is_some())
            }
            Entry::Derived(cols) => cols.iter().any(|(n, _)| n == col),
        }
    }

    /// A column reference, innermost FROM list first; a reference to a FROM list outside an open
    /// subquery makes that subquery correlated.
    fn resolve(&mut self, parts: &[String]) -> Option<Node> {
        let (depth, node) = self.find(parts)?;
        for open in &mut self.open_subqueries {
            if depth < open.0 {
                open.1 = true;
            }
        }
        node
    }

    /// The FROM list (by depth) where a column reference resolves, and its node.
    fn find(&self, parts: &[String]) -> Option<(usize, Option<Node>)> {
        match parts {
            [col] => {
                for (depth, frame) in self.frames.iter().enumerate().rev() {
                    if let Some((_, e)) = frame.iter().find(|(_, e)| self.has_column(e, col)) {
                        return Some((depth, self.column_of(e, col)));
                    }
                }
                None
            }
            [.., alias, col] => {
                for (depth, frame) in self.frames.iter().enumerate().rev() {
                    if let Some((_, e)) = frame.iter().find(|(a, _)| a == alias) {
                        return Some((
                            depth,
                            match e {
                                // A table not in the catalog: the column is taken on trust.
                                Entry::Table(r) if !self.shape.refs[*r].known => {
                                    Some(Node::Col(*r, col.clone()))
                                }
                                _ => self.column_of(e, col),
                            },
                        ));
                    }
                }
                None
            }
            [] => None,
        }
    }

    /// A conjunct-level condition: equalities become edges, everything else is searched for subqueries.
    fn predicate(&mut self, e: &Expr) {
        match e {
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => {
                self.predicate(left);
                self.predicate(right);
            }
            Expr::Nested(inner) => self.predicate(inner),
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } => {
                let a = self.operand(left);
                let b = self.operand(right);
                if let (Some(a), Some(b)) = (a, b) {
                    self.shape.equal.push((a, b));
                }
            }
            Expr::InSubquery {
                expr,
                subquery,
                negated: false,
            } => {
                let a = self.operand(expr);
                let cols = self.subquery(subquery);
                if let (Some(a), Some((_, Some(b)))) = (a, cols.into_iter().next()) {
                    self.shape.equal.push((a, b));
                }
            }
            Expr::InList {
                expr,
                list,
                negated: false,
            } => {
                let a = self.operand(expr);
                if list.len() == 1 {
                    if let (Some(a), Some(b)) = (a, self.operand(&list[0])) {
                        self.shape.equal.push((a, b));
                    }
                } else {
                    for x in list {
                        self.expr(x);
                    }
                    if let Some(a) = a {
                        self.shape.in_lists.push(a);
                    }
                }
            }
            other => self.expr(other),
        }
    }

    /// The node an expression stands for, when it is a column, a constant or a parameter; any
    /// subquery inside is read either way.
    fn operand(&mut self, e: &Expr) -> Option<Node> {
        match e {
            Expr::Identifier(i) => self.resolve(&[fold(i)]),
            Expr::CompoundIdentifier(v) => self.resolve(&v.iter().map(fold).collect::<Vec<_>>()),
            Expr::Value(v) => match &v.value {
                Value::Placeholder(p) => p
                    .strip_prefix('$')
                    .and_then(|n| n.parse().ok())
                    .map(Node::Param),
                Value::Null => None,
                other => Some(Node::Const(other.to_string())),
            },
            Expr::TypedString(t) => Some(Node::Const(t.value.to_string())),
            Expr::Cast { expr, .. } | Expr::Nested(expr) => self.operand(expr),
            Expr::UnaryOp { expr, op } => match self.operand(expr) {
                Some(Node::Const(c)) => Some(Node::Const(format!("{op}{c}"))),
                _ => None,
            },
            other => {
                self.expr(other);
                None
            }
        }
    }

    /// Reads the subqueries of an expression (their own conditions count; correlated references to
    /// outer columns become edges).
    fn expr(&mut self, e: &Expr) {
        match e {
            Expr::BinaryOp { left, right, .. } => {
                // Under OR or NOT, or inside an expression: no edges, subqueries only.
                self.expr(left);
                self.expr(right);
            }
            Expr::UnaryOp { expr, .. }
            | Expr::Nested(expr)
            | Expr::Cast { expr, .. }
            | Expr::IsNull(expr)
            | Expr::IsNotNull(expr)
            | Expr::IsTrue(expr)
            | Expr::IsFalse(expr) => self.expr(expr),
            Expr::Subquery(q) => {
                self.subquery(q);
            }
            Expr::Exists { subquery, .. } => {
                self.subquery(subquery);
            }
            Expr::InSubquery { expr, subquery, .. } => {
                self.expr(expr);
                self.subquery(subquery);
            }
            Expr::InList { expr, list, .. } => {
                self.expr(expr);
                for x in list {
                    self.expr(x);
                }
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                self.expr(expr);
                self.expr(low);
                self.expr(high);
            }
            Expr::Like { expr, pattern, .. } | Expr::ILike { expr, pattern, .. } => {
                self.expr(expr);
                self.expr(pattern);
            }
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => {
                if let Some(o) = operand {
                    self.expr(o);
                }
                for c in conditions {
                    self.expr(&c.condition);
                    self.expr(&c.result);
                }
                if let Some(x) = else_result {
                    self.expr(x);
                }
            }
            Expr::Function(f) => {
                for args in [&f.parameters, &f.args] {
                    match args {
                        FunctionArguments::Subquery(q) => {
                            self.query(q);
                        }
                        FunctionArguments::List(l) => {
                            for a in &l.args {
                                let (FunctionArg::Unnamed(a)
                                | FunctionArg::Named { arg: a, .. }
                                | FunctionArg::ExprNamed { arg: a, .. }) = a;
                                if let FunctionArgExpr::Expr(x) = a {
                                    self.expr(x);
                                }
                            }
                        }
                        FunctionArguments::None => {}
                    }
                }
            }
            Expr::AnyOp { left, right, .. } | Expr::AllOp { left, right, .. } => {
                self.expr(left);
                self.expr(right);
            }
            _ => {}
        }
    }
}

/// An aggregate call (outside a window) in an expression.
fn has_aggregate(e: &Expr) -> bool {
    match e {
        Expr::Function(f) => {
            let name = name_parts(&f.name).pop().unwrap_or_default();
            let agg = matches!(
                name.as_str(),
                "count"
                    | "sum"
                    | "avg"
                    | "min"
                    | "max"
                    | "array_agg"
                    | "string_agg"
                    | "bool_and"
                    | "bool_or"
                    | "every"
                    | "json_agg"
                    | "jsonb_agg"
                    | "stddev"
                    | "variance"
                    | "percentile_cont"
                    | "percentile_disc"
                    | "mode"
            );
            agg && f.over.is_none()
        }
        Expr::BinaryOp { left, right, .. } => has_aggregate(left) || has_aggregate(right),
        Expr::UnaryOp { expr, .. } | Expr::Nested(expr) | Expr::Cast { expr, .. } => {
            has_aggregate(expr)
        }
        Expr::Case {
            conditions,
            else_result,
            ..
        } => {
            conditions
                .iter()
                .any(|c| has_aggregate(&c.condition) || has_aggregate(&c.result))
                || else_result.as_deref().is_some_and(has_aggregate)
        }
        _ => false,
    }
}

fn rename(cols: &mut Columns, names: &[String]) {
    for (c, n) in cols.iter_mut().zip(names) {
        c.0 = n.clone();
    }
}
