//! libpq-compatible connection options: URIs, `key=value` strings, the `PG*` environment variables and
//! the password file, resolved into one [`ConnInfo`] whose `Display` never shows the password.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result, Side};

/// How TLS is negotiated, with libpq's meaning of each mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    /// The libpq spelling (`verify-full`, …), for environment variables and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

/// The keywords we accept, as libpq names them. Anything else is an error, as in libpq.
const KEYWORDS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "connect_timeout",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "options",
    "target_session_attrs",
    "client_encoding",
];

/// Environment variables read as defaults, as libpq does.
const ENV: &[(&str, &str)] = &[
    ("PGHOST", "host"),
    ("PGHOSTADDR", "hostaddr"),
    ("PGPORT", "port"),
    ("PGDATABASE", "dbname"),
    ("PGUSER", "user"),
    ("PGPASSWORD", "password"),
    ("PGPASSFILE", "passfile"),
    ("PGSSLMODE", "sslmode"),
    ("PGSSLROOTCERT", "sslrootcert"),
    ("PGSSLCERT", "sslcert"),
    ("PGSSLKEY", "sslkey"),
    ("PGCONNECT_TIMEOUT", "connect_timeout"),
    ("PGAPPNAME", "application_name"),
    ("PGOPTIONS", "options"),
    ("PGTARGETSESSIONATTRS", "target_session_attrs"),
];

/// Where libpq builds look for the server's socket by default (Debian's, then upstream's).
const DEFAULT_SOCKET_DIRS: &[&str] = &["/var/run/postgresql", "/run/postgresql", "/tmp"];

/// Fully resolved connection options for one side.
#[derive(Clone)]
pub struct ConnInfo {
    pub side: Side,
    /// Host names or socket directories; several for multi-host strings.
    pub hosts: Vec<String>,
    pub hostaddrs: Vec<String>,
    pub ports: Vec<u16>,
    pub dbname: String,
    pub user: String,
    /// The password given (connection string, `PGPASSWORD`): used for every host.
    pub password: Option<String>,
    /// Without one, the password file (`passfile`, `PGPASSFILE`, `~/.pgpass`) looked up per host when
    /// connecting, as libpq does ([`ConnInfo::password_for`]).
    pub passfile: Option<PathBuf>,
    pub sslmode: SslMode,
    pub sslrootcert: Option<String>,
    pub sslcert: Option<PathBuf>,
    pub sslkey: Option<PathBuf>,
    pub connect_timeout: Option<Duration>,
    pub application_name: String,
    pub keepalives: bool,
    pub keepalives_idle: Duration,
    pub keepalives_interval: Duration,
    pub keepalives_count: u32,
    pub tcp_user_timeout: Option<Duration>,
    pub options: Option<String>,
    pub target_session_attrs: Option<String>,
    /// Things worth telling the user (an ignored password file, …). Never contains a password.
    pub warnings: Vec<String>,
    /// Set where these are the target's options pointed at a Citus worker node (as the coordinator's
    /// `pg_dist_node` lists it) rather than the connection the user gave: messages name the node.
    pub worker_node: bool,
}

impl fmt::Debug for ConnInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnInfo({self})")
    }
}

/// A redacted, human description: `host=… port=… dbname=… user=… sslmode=…`.
impl fmt::Display for ConnInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hosts = if self.hosts.is_empty() {
            self.hostaddrs.join(",")
        } else {
            self.hosts.join(",")
        };
        let ports: Vec<String> = self.ports.iter().map(|p| p.to_string()).collect();
        write!(
            f,
            "host={} port={} dbname={} user={}",
            hosts,
            ports.join(","),
            self.dbname,
            self.user
        )?;
        if self.password.is_some() {
            f.write_str(" password=********")?;
        }
        write!(f, " sslmode={}", self.sslmode.as_str())
    }
}

/// Where defaults come from; tests pass their own so they need not touch the process environment.
pub trait Env {
    fn var(&self, key: &str) -> Option<String>;
    fn home(&self) -> Option<PathBuf>;
    fn os_user(&self) -> Option<String>;
}

/// The real process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty())
    }
    fn home(&self) -> Option<PathBuf> {
        std::env::var_os("HOME").map(PathBuf::from)
    }
    fn os_user(&self) -> Option<String> {
        // SAFETY: geteuid and getpwuid_r are thread-safe; the buffer outlives the call.
        unsafe {
            let uid = libc::geteuid();
            let mut pwd: libc::passwd = std::mem::zeroed();
            let mut buf = vec![0 as libc::c_char; 4096];
            let mut result: *mut libc::passwd = std::ptr::null_mut();
            if libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) == 0
                && !result.is_null()
            {
                return Some(
                    std::ffi::CStr::from_ptr(pwd.pw_name)
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
        std::env::var("USER").ok()
    }
}

impl ConnInfo {
    /// Parses `input` (URI or `key=value`, possibly empty) for `side`, filling the rest from the
    /// process environment and the password file.
    ///
    /// ```
    /// use citus_migrate_core::{ConnInfo, Side};
    ///
    /// let url = "postgresql://app:s3cret@db.example.com:6432/shop?sslmode=require";
    /// let info = ConnInfo::parse(Side::Source, url)?;
    /// assert_eq!((info.hosts[0].as_str(), info.ports[0]), ("db.example.com", 6432));
    /// // What is printed never holds the password.
    /// assert_eq!(
    ///     info.to_string(),
    ///     "host=db.example.com port=6432 dbname=shop user=app password=******** sslmode=require"
    /// );
    /// # Ok::<(), citus_migrate_core::Error>(())
    /// ```
    pub fn parse(side: Side, input: &str) -> Result<Self> {
        Self::parse_with_env(side, input, &ProcessEnv)
    }

    pub fn parse_with_env(side: Side, input: &str, env: &dyn Env) -> Result<Self> {
        let bad = |message: String| Error::ConnString { side, message };
        let mut params = parse_params(input).map_err(bad)?;
        for (var, key) in ENV {
            if !params.contains_key(key) {
                if let Some(value) = env.var(var) {
                    let origin = Origin::Env(var);
                    params.insert(key, Param { value, origin });
                }
            }
        }
        // Messages below name the keyword and where its value came from, never the value: a password
        // written without the quoting or percent-encoding it needed may have ended up in any of them.
        let given = |k: &str| params.get(k).filter(|p| !p.value.is_empty());
        let take = |k: &str| given(k).map(|p| p.value.clone());
        let invalid = |k: &str, problem: &str| bad(format!("{} {problem}", params[k].describe(k)));
        let list = |k: &str| -> Vec<String> {
            take(k)
                .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
                .unwrap_or_default()
        };
        // A problem with item `i` of the comma-separated list `items` given for `k`.
        let invalid_item = |k: &str, i: usize, items: &[String], problem: &str| {
            let what = params[k].describe(k);
            match items.len() {
                1 => bad(format!("{what} {problem}")),
                n => bad(format!("{what}, item {} of {n}, {problem}", i + 1)),
            }
        };

        let mut hosts = list("host");
        let hostaddrs = list("hostaddr");
        if hosts.is_empty() && hostaddrs.is_empty() {
            let sock = DEFAULT_SOCKET_DIRS[..2]
                .iter()
                .find(|d| Path::new(d).is_dir());
            hosts.push(sock.map_or_else(|| "localhost".into(), |d| d.to_string()));
        }
        for (i, a) in hostaddrs.iter().enumerate() {
            if !a.is_empty() && a.parse::<std::net::IpAddr>().is_err() {
                return Err(invalid_item(
                    "hostaddr",
                    i,
                    &hostaddrs,
                    "is not a numeric IP address",
                ));
            }
        }
        if !hosts.is_empty() && !hostaddrs.is_empty() && hosts.len() != hostaddrs.len() {
            return Err(bad(format!(
                "{} host names but {} hostaddr values: give one hostaddr per host",
                hosts.len(),
                hostaddrs.len()
            )));
        }
        let n_hosts = hosts.len().max(hostaddrs.len());
        let port_items = list("port");
        let mut ports = Vec::new();
        for (i, p) in port_items.iter().enumerate() {
            let port: u16 = p.parse().ok().filter(|p| *p > 0).ok_or_else(|| {
                invalid_item("port", i, &port_items, "is not a port number (1 to 65535)")
            })?;
            ports.push(port);
        }
        if ports.is_empty() {
            ports.push(5432);
        }
        if ports.len() == 1 && n_hosts > 1 {
            ports = vec![ports[0]; n_hosts];
        }
        if ports.len() != n_hosts {
            return Err(bad(format!("{} hosts but {} ports", n_hosts, ports.len())));
        }
        let user = take("user").or_else(|| env.os_user()).ok_or_else(|| {
            bad("no user name given and none could be found for this process".into())
        })?;
        let dbname = take("dbname").unwrap_or_else(|| user.clone());
        let sslmode = match take("sslmode") {
            None => SslMode::Prefer,
            Some(v) => SslMode::parse(&v).ok_or_else(|| {
                invalid(
                    "sslmode",
                    "is not an sslmode: expected disable, allow, prefer, require, verify-ca or verify-full",
                )
            })?,
        };
        let secs = |k: &str| -> Result<Option<Duration>> {
            match take(k) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .map(|s| Some(Duration::from_secs(s)))
                    .map_err(|_| invalid(k, "is not a whole number of seconds")),
            }
        };
        let connect_timeout = secs("connect_timeout")?.filter(|d| !d.is_zero());
        let keepalives = match take("keepalives").as_deref() {
            None | Some("1") => true,
            Some("0") => false,
            Some(_) => return Err(invalid("keepalives", "is neither 0 nor 1")),
        };
        let keepalives_idle = secs("keepalives_idle")?.unwrap_or(Duration::from_secs(30));
        let keepalives_interval = secs("keepalives_interval")?.unwrap_or(Duration::from_secs(10));
        let keepalives_count = match take("keepalives_count") {
            None => 6,
            Some(v) => v
                .parse()
                .map_err(|_| invalid("keepalives_count", "is not a whole number"))?,
        };
        let tcp_user_timeout = match take("tcp_user_timeout") {
            None => None,
            Some(v) => Some(Duration::from_millis(v.parse().map_err(|_| {
                invalid("tcp_user_timeout", "is not a whole number of milliseconds")
            })?)),
        };
        let application_name = take("application_name")
            .or_else(|| take("fallback_application_name"))
            .unwrap_or_else(|| "citus-migrate".into());
        if let Some(attrs) = take("target_session_attrs") {
            if attrs != "any" && attrs != "read-write" {
                return Err(invalid(
                    "target_session_attrs",
                    "is not supported: expected any or read-write",
                ));
            }
        }

        let mut info = ConnInfo {
            side,
            hosts,
            hostaddrs,
            ports,
            dbname,
            user,
            password: take("password"),
            passfile: None,
            sslmode,
            sslrootcert: take("sslrootcert"),
            sslcert: take("sslcert").map(PathBuf::from),
            sslkey: take("sslkey").map(PathBuf::from),
            connect_timeout,
            application_name,
            keepalives,
            keepalives_idle,
            keepalives_interval,
            keepalives_count,
            tcp_user_timeout,
            options: take("options"),
            target_session_attrs: take("target_session_attrs"),
            warnings: Vec::new(),
            worker_node: false,
        };
        if info.password.is_none() {
            let passfile = take("passfile")
                .map(PathBuf::from)
                .or_else(|| env.home().map(|h| h.join(".pgpass")));
            if let Some(path) = passfile {
                if info.passfile_usable(&path) {
                    info.passfile = Some(path);
                }
            }
        }
        Ok(info)
    }

    /// Whether `path` is a password file to use: a regular file that group and others cannot read
    /// (else it is ignored with a warning, as libpq does).
    fn passfile_usable(&mut self, path: &Path) -> bool {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::metadata(path) else {
            return false;
        };
        if !meta.is_file() {
            return false;
        }
        if meta.permissions().mode() & 0o077 != 0 {
            self.warnings.push(format!(
                "password file {} has group or world access; it is ignored (chmod 0600 it)",
                path.display()
            ));
            return false;
        }
        true
    }

    /// The password for the `i`-th host: the one given, else the password file's first entry that
    /// matches that host, port, database and user, as libpq does (so each host of a multi-host
    /// string, and each Citus worker reached at its own address, finds its own entry).
    pub fn password_for(&self, i: usize) -> Option<String> {
        if self.password.is_some() {
            return self.password.clone();
        }
        let text = std::fs::read_to_string(self.passfile.as_ref()?).ok()?;
        let host = match self.hosts.get(i) {
            // As libpq: the default socket directory matches "localhost", other directories themselves.
            Some(h)
                if h.starts_with('/') && DEFAULT_SOCKET_DIRS.contains(&h.trim_end_matches('/')) =>
            {
                "localhost".to_string()
            }
            Some(h) => h.clone(),
            None => self.hostaddrs.get(i).cloned().unwrap_or_default(),
        };
        let port = self.ports.get(i).copied().unwrap_or(5432).to_string();
        for line in text.lines() {
            if line.trim_start().starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let fields = split_pgpass_line(line);
            if fields.len() < 5 {
                continue;
            }
            let m = |pat: &str, val: &str| pat == "*" || pat == val;
            if m(&fields[0], &host)
                && m(&fields[1], &port)
                && m(&fields[2], &self.dbname)
                && m(&fields[3], &self.user)
            {
                return Some(fields[4].clone());
            }
        }
        None
    }

    /// What this connection goes to, for messages (without the password): the redacted options, and
    /// for a worker node which one it is and that it is reached with the target's options.
    pub fn endpoint(&self) -> String {
        match self.worker_node {
            false => self.to_string(),
            true => format!(
                "worker node {} as listed in the coordinator's pg_dist_node, reached with the {}'s \
                 user, password and TLS options: {self}",
                self.node_address(),
                self.side
            ),
        }
    }

    /// The first host (or hostaddr) and port as `host:port`.
    pub fn node_address(&self) -> String {
        let host = self.hosts.first().or(self.hostaddrs.first());
        format!(
            "{}:{}",
            host.map_or("?", String::as_str),
            self.ports.first().copied().unwrap_or(5432)
        )
    }
}

fn split_pgpass_line(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    out.last_mut().unwrap().push(n);
                }
            }
            ':' if out.len() < 5 => out.push(String::new()),
            c => out.last_mut().unwrap().push(c),
        }
    }
    out
}

/// One keyword's value and where it was given, so that a message about it can say where without
/// quoting it.
struct Param {
    value: String,
    origin: Origin,
}

#[derive(Clone, Copy)]
enum Origin {
    /// The n-th pair of a `key=value` string.
    Key(usize),
    /// The n-th `key=value` parameter after a URI's `?`.
    Query(usize),
    /// A part of a URI: "user-info part", "host part", "path".
    Uri(&'static str),
    /// A libpq environment variable.
    Env(&'static str),
}

impl Param {
    /// Where the value of `key` was given, for messages: "the value of port (key number 2)".
    fn describe(&self, key: &str) -> String {
        match self.origin {
            Origin::Key(n) => format!("the value of {key} (key number {n})"),
            Origin::Query(n) => format!("the value of {key} (URI parameter number {n})"),
            Origin::Uri(part) => format!("the {key} in the URI's {part}"),
            Origin::Env(var) => format!("the value of {key} (from {var})"),
        }
    }
}

/// Keyword → value and where it was given; only keywords of [`KEYWORDS`].
type Params = BTreeMap<&'static str, Param>;

/// A parse result whose error is a message that quotes nothing of the input but keywords from
/// [`KEYWORDS`]: any other piece of it may be (part of) a password.
type Parsed<T> = std::result::Result<T, String>;

/// Parses a URI or a `key=value` string into keyword → value.
fn parse_params(input: &str) -> Parsed<Params> {
    let trimmed = input.trim();
    if let Some((scheme, rest)) = trimmed.split_once("://") {
        let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        if scheme == "postgresql" || scheme == "postgres" {
            return parse_uri(rest);
        }
        if is_scheme {
            return Err("unsupported URI scheme: expected postgresql:// or postgres://".into());
        }
    }
    if trimmed.starts_with("postgresql:") || trimmed.starts_with("postgres:") {
        return Err(
            "it starts like a URI but lacks the \"//\" after its scheme \
             (expected postgresql://user:password@host:port/dbname)"
                .into(),
        );
    }
    parse_keyword_value(input)
}

/// The keyword of [`KEYWORDS`] that `key` is.
fn keyword(key: &str) -> Option<&'static str> {
    KEYWORDS.iter().find(|k| **k == key).copied()
}

/// The message for a key that is not a keyword; `what` says where it is ("key number 3"),
/// `previous` is the keyword before it, whose value it may have been meant to belong to.
fn unknown_keyword(what: &str, key: &str, previous: Option<&str>) -> String {
    if key.is_empty() {
        return format!("{what} has no name before its \"=\"");
    }
    let hint = match previous {
        Some(p) => format!(
            "; check its spelling, or if it is part of the value of {p} before it, put that value in \
             single quotes: {p}='…'"
        ),
        None => "; check its spelling".to_string(),
    };
    format!(
        "{what} (not shown: it may be part of a password) is not a known connection option{hint} \
         (the keywords are libpq's: host, port, dbname, user, password, sslmode, …)"
    )
}

/// Percent-decodes `what` part of a URI. Like libpq, a `%` not followed by two hex digits is an error.
fn decode(s: &str, what: &str) -> Parsed<String> {
    let b = s.as_bytes();
    let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
    if (0..b.len()).any(|i| b[i] == b'%' && !(hex(i + 1) && hex(i + 2))) {
        return Err(format!(
            "invalid percent-encoding in {what}: every % must be followed by two hex digits (write %25 for a % sign)"
        ));
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| format!("{what} is not valid UTF-8 once percent-decoded"))
}

/// Parses what follows `postgresql://`. As in libpq, the user name and password end at the last `@`
/// before the first `/` (so they may hold a raw `@` or `:`); a `/` or `?` in them must be
/// percent-encoded. Where one was not, the `@` turns up in the database name or after a `?`, which
/// is refused rather than read as a host, database or parameter holding part of the password.
fn parse_uri(rest: &str) -> Parsed<Params> {
    let mut params = Params::new();
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    let query_start = authority.find('?').unwrap_or(authority.len());
    let at = authority[..query_start].rfind('@');
    if at.is_none() && authority[query_start..].contains('@') {
        return Err(
            "the URI has an \"@\" after a \"?\" and none before it: a \"?\" in a user name or password \
             must be written %3F (and an \"@\" in a parameter value %40)"
                .into(),
        );
    }
    let rest = match at {
        Some(i) => {
            let userinfo = &rest[..i];
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            let origin = Origin::Uri("user-info part");
            if !user.is_empty() {
                let value = decode(user, "the user name in the URI")?;
                params.insert("user", Param { value, origin });
            }
            if let Some(p) = password {
                let value = decode(p, "the password in the URI")?;
                params.insert("password", Param { value, origin });
            }
            &rest[i + 1..]
        }
        None => rest,
    };
    let (main, query) = match rest.split_once('?') {
        Some((m, q)) => (m, Some(q)),
        None => (rest, None),
    };
    let (hostlist, path) = match main.split_once('/') {
        Some((h, p)) => (h, Some(p)),
        None => (main, None),
    };
    if path.is_some_and(|p| p.contains('@')) {
        return Err(
            "the URI's database name (after the first \"/\") contains an \"@\": a \"/\" in a user name \
             or password must be written %2F (and an \"@\" in a database name %40)"
                .into(),
        );
    }
    if !hostlist.is_empty() {
        let mut hosts = Vec::new();
        let mut ports = Vec::new();
        for (i, spec) in hostlist.split(',').enumerate() {
            let what = format!("host number {} in the URI", i + 1);
            let (h, p) = if let Some(stripped) = spec.strip_prefix('[') {
                let (h, after) = stripped
                    .split_once(']')
                    .ok_or_else(|| format!("{what} has a \"[\" without its \"]\""))?;
                let p = match after {
                    "" => None,
                    a => Some(a.strip_prefix(':').ok_or_else(|| {
                        format!("{what} has something other than \":port\" after its \"]\"")
                    })?),
                };
                (h.to_string(), p)
            } else {
                match spec.rsplit_once(':') {
                    Some((h, p)) => (decode(h, &what)?, Some(p)),
                    None => (decode(spec, &what)?, None),
                }
            };
            hosts.push(h);
            ports.push(p.unwrap_or_default().to_string());
        }
        let origin = Origin::Uri("host part");
        if hosts.iter().any(|h| !h.is_empty()) {
            let value = hosts.join(",");
            params.insert("host", Param { value, origin });
        }
        if ports.iter().any(|p| !p.is_empty()) {
            let filled: Vec<String> = ports
                .into_iter()
                .map(|p| if p.is_empty() { "5432".into() } else { p })
                .collect();
            let value = filled.join(",");
            params.insert("port", Param { value, origin });
        }
    }
    if let Some(db) = path.filter(|db| !db.is_empty()) {
        let value = decode(db, "the database name in the URI")?;
        let origin = Origin::Uri("path");
        params.insert("dbname", Param { value, origin });
    }
    for (i, pair) in query
        .unwrap_or_default()
        .split('&')
        .filter(|s| !s.is_empty())
        .enumerate()
    {
        let n = i + 1;
        let what = format!("URI parameter number {n}");
        let (k, v) = pair.split_once('=').ok_or_else(|| {
            format!(
                "{what} has no \"=\": parameters are key=value pairs separated by \"&\" \
                 (an \"&\" in a value is written %26)"
            )
        })?;
        let k = decode(k, &format!("the name of {what}"))?;
        let (key, value) = if k == "ssl" && v == "true" {
            ("sslmode", "require".to_string())
        } else {
            let key = keyword(&k).ok_or_else(|| unknown_keyword(&what, &k, None))?;
            let value = match (key, v) {
                ("sslmode", "true") => "require".to_string(),
                _ => decode(v, &format!("the value of {key} ({what})"))?,
            };
            (key, value)
        };
        let origin = Origin::Query(n);
        params.insert(key, Param { value, origin });
    }
    Ok(params)
}

fn parse_keyword_value(input: &str) -> Parsed<Params> {
    let mut params = Params::new();
    let mut chars = input.chars().peekable();
    let mut previous: Option<&'static str> = None;
    for n in 1.. {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut name = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            name.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(match previous {
                None => format!(
                    "key number {n} has no \"=\" after it: expected key=value pairs separated by \
                     spaces (host=… dbname=…) or a postgresql:// URI"
                ),
                Some(p) => format!(
                    "key number {n} (after {p}) has no \"=\" after it: a value with spaces goes in \
                     single quotes ({p}='…'), and key=value pairs are separated by spaces"
                ),
            });
        }
        let key = keyword(&name)
            .ok_or_else(|| unknown_keyword(&format!("key number {n}"), &name, previous))?;
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') if chars.peek().is_some() => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) if c != '\\' => value.push(c),
                    _ => {
                        return Err(format!(
                            "the quoted value of {key} (key number {n}) has no closing quote"
                        ))
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c != '\\' {
                    value.push(c);
                    continue;
                }
                let escaped = chars.next().ok_or_else(|| {
                    format!(
                        "the value of {key} (key number {n}) ends in a backslash with nothing \
                         after it to escape (write \\\\ for a backslash)"
                    )
                })?;
                value.push(escaped);
            }
        }
        let origin = Origin::Key(n);
        params.insert(key, Param { value, origin });
        previous = Some(key);
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FakeEnv(Vec<(&'static str, String)>, Option<PathBuf>);
    impl Env for FakeEnv {
        fn var(&self, key: &str) -> Option<String> {
            self.0
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.clone())
        }
        fn home(&self) -> Option<PathBuf> {
            self.1.clone()
        }
        fn os_user(&self) -> Option<String> {
            Some("osuser".into())
        }
    }
    fn empty() -> FakeEnv {
        FakeEnv(vec![], None)
    }

    #[test]
    fn parses_uris() {
        let c = ConnInfo::parse_with_env(
            Side::Source,
            "postgresql://al%40ice:s%3Acret@db.example.com:6432/my%20db?sslmode=verify-full&connect_timeout=7",
            &empty(),
        )
        .unwrap();
        assert_eq!(c.user, "al@ice");
        assert_eq!(c.password.as_deref(), Some("s:cret"));
        assert_eq!(c.hosts, vec!["db.example.com"]);
        assert_eq!(c.ports, vec![6432]);
        assert_eq!(c.dbname, "my db");
        assert_eq!(c.sslmode, SslMode::VerifyFull);
        assert_eq!(c.connect_timeout, Some(Duration::from_secs(7)));
        assert_eq!(c.application_name, "citus-migrate");
        let shown = c.to_string();
        assert!(
            !shown.contains("s:cret") && !shown.contains("s%3Acret"),
            "{shown}"
        );
        assert!(!format!("{c:?}").contains("cret"));
    }

    #[test]
    fn parses_multi_host_and_ipv6_uris() {
        let c = ConnInfo::parse_with_env(Side::Target, "postgres://u@[::1]:5433,h2/db", &empty())
            .unwrap();
        assert_eq!(c.hosts, vec!["::1", "h2"]);
        assert_eq!(c.ports, vec![5433, 5432]);
        let c = ConnInfo::parse_with_env(
            Side::Target,
            "postgresql:///db?host=%2Ftmp%2Fsock&port=5",
            &empty(),
        )
        .unwrap();
        assert_eq!(c.hosts, vec!["/tmp/sock"]);
        assert_eq!(c.ports, vec![5]);
        assert_eq!(c.user, "osuser");
    }

    #[test]
    fn parses_keyword_value_strings() {
        let c = ConnInfo::parse_with_env(
            Side::Source,
            "host=127.0.0.1 port = 5999 dbname='my \\'db' user=bob password='p w' application_name=x",
            &empty(),
        )
        .unwrap();
        assert_eq!(c.hosts, vec!["127.0.0.1"]);
        assert_eq!(c.ports, vec![5999]);
        assert_eq!(c.dbname, "my 'db");
        assert_eq!(c.password.as_deref(), Some("p w"));
        assert_eq!(c.application_name, "x");
    }

    #[test]
    fn environment_fills_what_is_missing() {
        let env = FakeEnv(
            vec![
                ("PGHOST", "envhost".into()),
                ("PGPORT", "7777".into()),
                ("PGUSER", "envuser".into()),
                ("PGPASSWORD", "envpw".into()),
                ("PGDATABASE", "envdb".into()),
                ("PGSSLMODE", "require".into()),
                ("PGAPPNAME", "app".into()),
                ("PGCONNECT_TIMEOUT", "3".into()),
            ],
            None,
        );
        let c = ConnInfo::parse_with_env(Side::Source, "dbname=given", &env).unwrap();
        assert_eq!(c.hosts, vec!["envhost"]);
        assert_eq!(c.ports, vec![7777]);
        assert_eq!(c.user, "envuser");
        assert_eq!(c.dbname, "given");
        assert_eq!(c.password.as_deref(), Some("envpw"));
        assert_eq!(c.sslmode, SslMode::Require);
        assert_eq!(c.application_name, "app");
        assert_eq!(c.connect_timeout, Some(Duration::from_secs(3)));
    }

    #[test]
    fn password_file_is_read_like_libpq() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pgpass");
        std::fs::write(
            &path,
            "# comment\nother:*:*:*:nope\nh1:5432:db:bob:first\\:pw\n*:*:*:bob:fallback\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let env = FakeEnv(vec![("PGPASSFILE", path.display().to_string())], None);
        let c = ConnInfo::parse_with_env(Side::Source, "host=h1 dbname=db user=bob", &env).unwrap();
        assert_eq!(c.password_for(0).as_deref(), Some("first:pw"));
        let c = ConnInfo::parse_with_env(Side::Source, "host=h2 dbname=db user=bob", &env).unwrap();
        assert_eq!(c.password_for(0).as_deref(), Some("fallback"));
        // Each host of a multi-host string finds its own entry.
        let c =
            ConnInfo::parse_with_env(Side::Source, "host=h2,h1 dbname=db user=bob", &env).unwrap();
        assert_eq!(c.password_for(0).as_deref(), Some("fallback"));
        assert_eq!(c.password_for(1).as_deref(), Some("first:pw"));
        // A password given wins for every host.
        let c = ConnInfo::parse_with_env(
            Side::Source,
            "host=h1,h2 dbname=db user=bob password=given",
            &env,
        )
        .unwrap();
        assert_eq!(c.password_for(0).as_deref(), Some("given"));
        assert_eq!(c.password_for(1).as_deref(), Some("given"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let c = ConnInfo::parse_with_env(Side::Source, "host=h1 dbname=db user=bob", &env).unwrap();
        assert_eq!(c.password_for(0), None);
        assert_eq!(c.warnings.len(), 1);
    }

    /// The error message for `input` on the source side; it must not contain `secret` (Display nor
    /// Debug) and must contain each of `needles`.
    fn refused(input: &str, secret: &str, needles: &[&str]) -> String {
        let e = ConnInfo::parse_with_env(Side::Source, input, &empty()).unwrap_err();
        let (shown, debug) = (e.to_string(), format!("{e:?}"));
        assert!(e.is_usage(), "{shown}");
        assert!(
            shown.starts_with("source connection string is invalid: "),
            "{shown}"
        );
        assert!(
            !shown.contains(secret) && !debug.contains(secret),
            "{shown} / {debug}"
        );
        for n in needles {
            assert!(shown.contains(n), "expected {n:?} in: {shown}");
        }
        shown
    }

    #[test]
    fn misquoted_passwords_are_not_echoed() {
        // A URI missing one "/" after the scheme was read as key=value and quoted whole.
        refused(
            "postgres:/app:SECRET@host/db",
            "SECRET",
            &[
                "starts like a URI but lacks the \"//\"",
                "postgresql://user:password@host",
            ],
        );
        refused(
            "postgresql:app:SECRET@host/db",
            "SECRET",
            &["starts like a URI"],
        );
        // An unquoted password with a space: its second half was quoted as a key.
        refused(
            "host=h password=A SECRET user=u",
            "SECRET",
            &["key number 3 (after password) has no \"=\"", "password='…'"],
        );
        refused("password=A B", "B", &["key number 2 (after password)"]);
        // ... or, with an "=" in it, as an unknown option.
        refused(
            "password=A SEC=RET",
            "SEC",
            &["key number 2 (not shown: it may be part of a password) is not a known connection option", "password='…'"],
        );
        // A "/" in a URI password: its first part was quoted as the port (the rest, with the
        // "@", went into the database name).
        refused(
            "postgresql://app:SE/CRET@host/db",
            "SE",
            &["database name", "contains an \"@\"", "%2F"],
        );
        refused("postgresql://app:12/CRET@host/db", "CRET", &["%2F"]);
        // A "?" in a URI password: its second part was quoted as a parameter.
        refused(
            "postgresql://app:SE?CRET@host/db",
            "CRET",
            &["\"@\" after a \"?\"", "%3F"],
        );
        refused("postgresql://app:SE?CRET@host", "CRET", &["%3F"]);
        // A "&" in a password given as a URI parameter.
        refused(
            "postgresql://host/db?password=SE&CRET",
            "CRET",
            &["URI parameter number 2 has no \"=\"", "%26"],
        );
        refused(
            "postgresql://host/db?password=SE&CR=ET",
            "CR",
            &["URI parameter number 2 (not shown: it may be part of a password) is not a known"],
        );
        // A password that ended up as a value checked against a format.
        refused(
            "postgresql://app:SECRET/db",
            "SECRET",
            &["the port in the URI's host part is not a port number"],
        );
        refused(
            "host=a,b port=1,SECRET",
            "SECRET",
            &["the value of port (key number 2), item 2 of 2, is not a port number"],
        );
        refused(
            "sslmode=SECRET",
            "SECRET",
            &["the value of sslmode (key number 1) is not an sslmode"],
        );
        refused(
            "hostaddr=SECRET",
            "SECRET",
            &["the value of hostaddr (key number 1) is not a numeric IP address"],
        );
        refused(
            "password='SECRET",
            "SECRET",
            &["the quoted value of password (key number 1) has no closing quote"],
        );
        refused("password=SECRET\\", "SECRET", &["ends in a backslash"]);
        refused(
            "postgresql://u:SEC%RET@h/db",
            "SEC",
            &["invalid percent-encoding in the password in the URI"],
        );
        refused(
            "postgresql://[::1/db",
            "::1",
            &["host number 1 in the URI has a \"[\""],
        );
        refused("=SECRET", "SECRET", &["key number 1 has no name"]);
        // Values from the environment say so.
        let env = FakeEnv(vec![("PGPORT", "SECRET".into())], None);
        let e = ConnInfo::parse_with_env(Side::Target, "", &env).unwrap_err();
        assert_eq!(
            e.to_string(),
            "target connection string is invalid: the value of port (from PGPORT) is not a port number (1 to 65535)"
        );
    }

    #[test]
    fn passwords_with_reserved_characters_parse_where_written_right() {
        let parse = |s: &str| ConnInfo::parse_with_env(Side::Source, s, &empty()).unwrap();
        // Raw "@" and ":" in a URI password are fine (the last "@" before the first "/" ends it).
        let c = parse("postgresql://app:p@ss:w@host/db");
        assert_eq!(
            (c.password.as_deref(), &c.hosts[..]),
            (Some("p@ss:w"), &["host".to_string()][..])
        );
        // "/" and "?" percent-encoded.
        let c = parse("postgresql://app:a%2Fb%3Fc@host/db?sslmode=disable");
        assert_eq!(
            (c.password.as_deref(), c.dbname.as_str()),
            (Some("a/b?c"), "db")
        );
        // An "@" in a parameter value, after a user-info part or after the path.
        let c = parse("postgresql://u@h?application_name=me@there");
        assert_eq!(
            (c.user.as_str(), c.application_name.as_str()),
            ("u", "me@there")
        );
        let c = parse("postgresql://h/db?password=p@ss/w?x");
        assert_eq!(c.password.as_deref(), Some("p@ss/w?x"));
        // key=value: "://" in a value is no URI; an escaped space at the very end is kept.
        assert_eq!(parse("password=a://b").password.as_deref(), Some("a://b"));
        assert_eq!(parse("password=a\\ ").password.as_deref(), Some("a "));
        assert_eq!(
            parse(" password = 'it\\'s' ").password.as_deref(),
            Some("it's")
        );
    }

    #[test]
    fn rejects_malformed_strings_without_echoing_passwords() {
        for bad in [
            "host=x port=abc",
            "sslmode=sometimes",
            "nonsense",
            "user=x bogus=1 password=hunter2",
            "mysql://x",
            "host=a,b port=1,2,3",
            "host=a,b hostaddr=127.0.0.1",
            "password='unterminated",
            "postgresql://u:hunter2%zz@h/db",
            "postgresql://u:hunter2%4@h/db",
            "postgresql://u@h/db%",
        ] {
            let e = ConnInfo::parse_with_env(Side::Target, bad, &empty()).unwrap_err();
            let msg = e.to_string();
            assert!(
                msg.starts_with("target connection string is invalid"),
                "{msg}"
            );
            assert!(!msg.contains("hunter2"), "{msg}");
        }
    }
}
