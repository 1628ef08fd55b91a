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
    pub fn parse(side: Side, input: &str) -> Result<Self> {
        Self::parse_with_env(side, input, &ProcessEnv)
    }

    pub fn parse_with_env(side: Side, input: &str, env: &dyn Env) -> Result<Self> {
        let bad = |message: String| Error::ConnString { side, message };
        let mut params = parse_params(input).map_err(bad)?;
        for key in params.keys() {
            if !KEYWORDS.contains(&key.as_str()) {
                return Err(bad(format!("unknown option {key:?}")));
            }
        }
        for (var, key) in ENV {
            if !params.contains_key(*key) {
                if let Some(v) = env.var(var) {
                    params.insert(key.to_string(), v);
                }
            }
        }
        let take = |k: &str| params.get(k).cloned().filter(|v| !v.is_empty());
        let list = |k: &str| -> Vec<String> {
            take(k)
                .map(|v| v.split(',').map(|s| s.trim().to_string()).collect())
                .unwrap_or_default()
        };

        let mut hosts = list("host");
        let hostaddrs = list("hostaddr");
        if hosts.is_empty() && hostaddrs.is_empty() {
            let sock = DEFAULT_SOCKET_DIRS[..2]
                .iter()
                .find(|d| Path::new(d).is_dir());
            hosts.push(sock.map_or_else(|| "localhost".into(), |d| d.to_string()));
        }
        if !hosts.is_empty() && !hostaddrs.is_empty() && hosts.len() != hostaddrs.len() {
            return Err(bad(format!(
                "{} host names but {} hostaddr values: give one hostaddr per host",
                hosts.len(),
                hostaddrs.len()
            )));
        }
        let n_hosts = hosts.len().max(hostaddrs.len());
        let mut ports = Vec::new();
        for p in list("port") {
            let port: u16 = p
                .parse()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad(format!("invalid port {p:?}")))?;
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
        let sslmode_raw = take("sslmode").unwrap_or_else(|| "prefer".into());
        let sslmode = SslMode::parse(&sslmode_raw).ok_or_else(|| {
            bad(format!(
                "invalid sslmode {sslmode_raw:?}: expected disable, allow, prefer, require, verify-ca or verify-full"
            ))
        })?;
        let secs = |k: &str| -> Result<Option<Duration>> {
            match take(k) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .map(|s| Some(Duration::from_secs(s)))
                    .map_err(|_| bad(format!("invalid {k} {v:?}: expected whole seconds"))),
            }
        };
        let connect_timeout = secs("connect_timeout")?.filter(|d| !d.is_zero());
        let keepalives = match take("keepalives").as_deref() {
            None | Some("1") => true,
            Some("0") => false,
            Some(v) => return Err(bad(format!("invalid keepalives {v:?}: expected 0 or 1"))),
        };
        let keepalives_idle = secs("keepalives_idle")?.unwrap_or(Duration::from_secs(30));
        let keepalives_interval = secs("keepalives_interval")?.unwrap_or(Duration::from_secs(10));
        let keepalives_count = match take("keepalives_count") {
            None => 6,
            Some(v) => v
                .parse()
                .map_err(|_| bad(format!("invalid keepalives_count {v:?}")))?,
        };
        let tcp_user_timeout = match take("tcp_user_timeout") {
            None => None,
            Some(v) => Some(Duration::from_millis(v.parse().map_err(|_| {
                bad(format!(
                    "invalid tcp_user_timeout {v:?}: expected milliseconds"
                ))
            })?)),
        };
        let application_name = take("application_name")
            .or_else(|| take("fallback_application_name"))
            .unwrap_or_else(|| "citus-migrate".into());
        if let Some(attrs) = take("target_session_attrs") {
            if attrs != "any" && attrs != "read-write" {
                return Err(bad(format!(
                    "unsupported target_session_attrs {attrs:?}: expected any or read-write"
                )));
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

    /// The first host and port, for messages.
    pub fn endpoint(&self) -> String {
        format!("{self}")
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

/// Parses a URI or a `key=value` string into keyword → value.
pub fn parse_params(input: &str) -> std::result::Result<BTreeMap<String, String>, String> {
    let input = input.trim();
    if input.starts_with("postgresql://") || input.starts_with("postgres://") {
        parse_uri(input)
    } else if input.contains("://") {
        Err("unsupported URI scheme: expected postgresql:// or postgres://".into())
    } else {
        parse_keyword_value(input)
    }
}

/// Percent-decodes one part of a URI. Like libpq, a `%` not followed by two hex digits is an error
/// (the part is not quoted in the message: it may be the password).
fn decode(s: &str) -> std::result::Result<String, String> {
    let b = s.as_bytes();
    let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
    if (0..b.len()).any(|i| b[i] == b'%' && !(hex(i + 1) && hex(i + 2))) {
        return Err(
            "invalid percent-encoding: every % must be followed by two hex digits (write %25 for a % sign)"
                .into(),
        );
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| "percent-encoded text is not valid UTF-8".to_string())
}

fn parse_uri(input: &str) -> std::result::Result<BTreeMap<String, String>, String> {
    let rest = input.split_once("://").map(|x| x.1).unwrap_or_default();
    let (rest, query) = match rest.split_once('?') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let mut params = BTreeMap::new();
    let (userinfo, hostlist) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    if let Some(ui) = userinfo {
        let (u, p) = match ui.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (ui, None),
        };
        if !u.is_empty() {
            params.insert("user".into(), decode(u)?);
        }
        if let Some(p) = p {
            params.insert("password".into(), decode(p)?);
        }
    }
    if !hostlist.is_empty() {
        let mut hosts = Vec::new();
        let mut ports = Vec::new();
        for spec in hostlist.split(',') {
            let (h, p) = if let Some(stripped) = spec.strip_prefix('[') {
                let end = stripped.find(']').ok_or("unterminated [ in IPv6 host")?;
                let h = &stripped[..end];
                let after = &stripped[end + 1..];
                (h.to_string(), after.strip_prefix(':').map(str::to_string))
            } else {
                match spec.rsplit_once(':') {
                    Some((h, p)) => (decode(h)?, Some(p.to_string())),
                    None => (decode(spec)?, None),
                }
            };
            hosts.push(h);
            ports.push(p.unwrap_or_default());
        }
        if hosts.iter().any(|h| !h.is_empty()) {
            params.insert("host".into(), hosts.join(","));
        }
        if ports.iter().any(|p| !p.is_empty()) {
            let filled: Vec<String> = ports
                .into_iter()
                .map(|p| if p.is_empty() { "5432".into() } else { p })
                .collect();
            params.insert("port".into(), filled.join(","));
        }
    }
    if let Some(db) = path {
        if !db.is_empty() {
            params.insert("dbname".into(), decode(db)?);
        }
    }
    if let Some(q) = query {
        for pair in q.split('&').filter(|s| !s.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("URI parameter {pair:?} has no '='"))?;
            let k = decode(k)?;
            let k = if k == "ssl" && v == "true" {
                "sslmode".to_string()
            } else {
                k
            };
            let v = if k == "sslmode" && v == "true" {
                "require".to_string()
            } else {
                decode(v)?
            };
            params.insert(k, v);
        }
    }
    Ok(params)
}

fn parse_keyword_value(input: &str) -> std::result::Result<BTreeMap<String, String>, String> {
    let mut params = BTreeMap::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!(
                "missing \"=\" after {key:?} (expected key=value pairs or a postgresql:// URI)"
            ));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    Some('\\') => value.push(chars.next().ok_or("unterminated quoted value")?),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => return Err(format!("unterminated quoted value for {key:?}")),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    value.push(chars.next().ok_or("trailing backslash")?);
                } else {
                    value.push(c);
                }
            }
        }
        params.insert(key, value);
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
