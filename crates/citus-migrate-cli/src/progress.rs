//! The command line's implementation of core's `Progress`: indicatif bars (one per table and one in
//! total, with rows, bytes, rate and ETA) on a terminal, plain lines on stderr otherwise. Used by every
//! command that moves or reads data (`copy`, `export`, `import`, `verify`, `migrate`, `demo`).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use citus_migrate_core::ident::QualifiedName;
use citus_migrate_core::progress::Progress;
use citus_migrate_core::util::human_bytes;

/// How often a plain line is printed per table.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

pub struct CliProgress {
    inner: Inner,
    /// The online catch-up's live line (a bar) or when its last plain line was printed.
    online: Mutex<(Option<ProgressBar>, Option<Instant>)>,
}

enum Inner {
    Bars(Bars),
    Plain(Mutex<Plain>),
}

struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
    tables: Mutex<HashMap<QualifiedName, (ProgressBar, u64)>>,
    total_bytes: Mutex<u64>,
}

#[derive(Default)]
struct Plain {
    tables: HashMap<QualifiedName, PlainTable>,
}

struct PlainTable {
    started: Instant,
    last_line: Instant,
    rows: u64,
    bytes: u64,
    expected_rows: u64,
}

impl CliProgress {
    /// Bars when stdout is a terminal (and `NO_PROGRESS_BARS` is unset), plain lines otherwise.
    pub fn new() -> Self {
        let bars = std::io::stdout().is_terminal()
            && std::env::var_os("CITUS_MIGRATE_PLAIN_PROGRESS").is_none();
        if bars {
            Self::bars()
        } else {
            CliProgress {
                inner: Inner::Plain(Mutex::new(Plain::default())),
                online: Mutex::new((None, None)),
            }
        }
    }

    fn bars() -> Self {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(4));
        let total = multi.add(ProgressBar::new(0));
        total.set_style(style(
            "{prefix:>32.bold} [{bar:30}] {human_pos}/{human_len} rows  {msg}  ETA {eta}",
        ));
        total.set_prefix("total");
        CliProgress {
            inner: Inner::Bars(Bars {
                multi,
                total,
                tables: Mutex::new(HashMap::new()),
                total_bytes: Mutex::new(0),
            }),
            online: Mutex::new((None, None)),
        }
    }
}

impl Default for CliProgress {
    fn default() -> Self {
        Self::new()
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

fn short(table: &QualifiedName) -> String {
    let s = table.to_string();
    if s.chars().count() > 32 {
        let tail: String = s
            .chars()
            .rev()
            .take(31)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    } else {
        s
    }
}

fn rate(bytes: u64, secs: f64) -> String {
    if secs <= 0.0 {
        return "-".into();
    }
    format!("{}/s", human_bytes((bytes as f64 / secs) as i64))
}

/// `120 MB (40 MB/s)`.
fn bytes_and_rate(bytes: u64, secs: f64) -> String {
    format!("{} ({})", human_bytes(bytes as i64), rate(bytes, secs))
}

impl Progress for CliProgress {
    fn step(&self, name: &str) {
        match &self.inner {
            Inner::Bars(b) => {
                let _ = b.multi.println(format!("== {name}"));
            }
            Inner::Plain(_) => eprintln!("== {name}"),
        }
    }

    fn table_started(&self, table: &QualifiedName, _expected_bytes: u64, expected_rows: u64) {
        match &self.inner {
            Inner::Bars(b) => {
                let bar = b
                    .multi
                    .insert_before(&b.total, ProgressBar::new(expected_rows));
                bar.set_style(style(
                    "{prefix:>32} [{bar:30}] {human_pos}/{human_len} rows  {msg}  ETA {eta}",
                ));
                bar.set_prefix(short(table));
                bar.set_message(human_bytes(0));
                b.total.inc_length(expected_rows);
                b.tables.lock().unwrap().insert(table.clone(), (bar, 0));
            }
            Inner::Plain(p) => {
                let now = Instant::now();
                p.lock().unwrap().tables.insert(
                    table.clone(),
                    PlainTable {
                        started: now,
                        last_line: now,
                        rows: 0,
                        bytes: 0,
                        expected_rows,
                    },
                );
                if expected_rows > 0 {
                    eprintln!(
                        "{table}: started (about {} rows expected)",
                        citus_migrate_core::util::thousands(expected_rows as i64)
                    );
                } else {
                    eprintln!("{table}: started");
                }
            }
        }
    }

    fn advance(&self, table: &QualifiedName, bytes: u64, rows: u64) {
        match &self.inner {
            Inner::Bars(b) => {
                if let Some((bar, done)) = b.tables.lock().unwrap().get_mut(table) {
                    *done += bytes;
                    bar.inc(rows);
                    if bar.position() > bar.length().unwrap_or(0) {
                        let grow = bar.position() - bar.length().unwrap_or(0);
                        bar.set_length(bar.position());
                        b.total.inc_length(grow);
                    }
                    bar.set_message(bytes_and_rate(*done, bar.elapsed().as_secs_f64()));
                }
                let mut total = b.total_bytes.lock().unwrap();
                *total += bytes;
                b.total.inc(rows);
                b.total
                    .set_message(bytes_and_rate(*total, b.total.elapsed().as_secs_f64()));
            }
            Inner::Plain(p) => {
                let mut p = p.lock().unwrap();
                let Some(t) = p.tables.get_mut(table) else {
                    return;
                };
                t.rows += rows;
                t.bytes += bytes;
                if t.last_line.elapsed() >= PLAIN_EVERY {
                    t.last_line = Instant::now();
                    let pct = if t.expected_rows > 0 {
                        format!(
                            " ({:.0}%)",
                            (t.rows as f64 * 100.0 / t.expected_rows as f64).min(100.0)
                        )
                    } else {
                        String::new()
                    };
                    eprintln!(
                        "{table}: {} rows{pct}, {}, {}",
                        citus_migrate_core::util::thousands(t.rows as i64),
                        human_bytes(t.bytes as i64),
                        rate(t.bytes, t.started.elapsed().as_secs_f64())
                    );
                }
            }
        }
    }

    fn table_finished(&self, table: &QualifiedName) {
        match &self.inner {
            Inner::Bars(b) => {
                if let Some((bar, _)) = b.tables.lock().unwrap().get(table) {
                    let extra = bar.length().unwrap_or(0).saturating_sub(bar.position());
                    bar.set_length(bar.position());
                    b.total
                        .set_length(b.total.length().unwrap_or(0).saturating_sub(extra));
                    bar.finish();
                }
            }
            Inner::Plain(p) => {
                let p = p.lock().unwrap();
                if let Some(t) = p.tables.get(table) {
                    let secs = t.started.elapsed().as_secs_f64();
                    eprintln!(
                        "{table}: done, {} rows, {} in {secs:.1} s ({})",
                        citus_migrate_core::util::thousands(t.rows as i64),
                        human_bytes(t.bytes as i64),
                        rate(t.bytes, secs)
                    );
                }
            }
        }
    }

    fn online(&self, status: &citus_migrate_core::online::OnlineStatus) {
        let line = crate::render::online_line(status);
        let mut online = self.online.lock().unwrap();
        match &self.inner {
            Inner::Bars(b) => {
                let bar = online.0.get_or_insert_with(|| {
                    let bar = b.multi.add(ProgressBar::new_spinner());
                    bar.set_style(style("{spinner} {msg}"));
                    bar.enable_steady_tick(Duration::from_millis(250));
                    bar
                });
                bar.set_message(line);
            }
            Inner::Plain(_) => {
                if online.1.is_none_or(|t| t.elapsed() >= PLAIN_EVERY) {
                    online.1 = Some(Instant::now());
                    eprintln!("{line}");
                }
            }
        }
    }

    fn message(&self, text: &str) {
        match &self.inner {
            Inner::Bars(b) => {
                let _ = b.multi.println(text);
            }
            Inner::Plain(_) => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{text}");
            }
        }
    }
}

impl CliProgress {
    /// Removes the bars before a summary is printed.
    pub fn finish(&self) {
        if let Some(bar) = self.online.lock().unwrap().0.take() {
            bar.finish_and_clear();
        }
        if let Inner::Bars(b) = &self.inner {
            b.total.finish();
            let _ = b.multi.clear();
        }
    }
}
