//! Throwaway local PostgreSQL servers and Citus clusters, for the tests and for `citus-migrate demo`.
//!
//! Servers run from the installed `initdb` / `pg_ctl` (found with `pg_config --bindir`, or under
//! `/usr/lib/postgresql/*/bin`, or in `CITUS_MIGRATE_PG_BINDIR`), in a temporary directory, on a free
//! loopback port. When this process runs as root they run as the `postgres` user (initdb refuses
//! root). Dropping a server stops it and removes its directory, also while a panic unwinds.
//!
//! Only with the cargo feature `local-servers` (off by default; the CLI turns it on for `demo`, the
//! tests and examples through dev-dependencies): no code of the migration itself uses this module.

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::child::pg_bindir;
use crate::error::{Error, Result};

/// Where the server's loadable modules live, asked of the `pg_config` next to `bindir`.
fn pkglibdir(bindir: &Path) -> Option<PathBuf> {
    let pg_config = bindir.join("pg_config");
    let cmd = if pg_config.exists() {
        pg_config
    } else {
        PathBuf::from("pg_config")
    };
    let out = Command::new(cmd).arg("--pkglibdir").output().ok()?;
    out.status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// `Ok(())` when the Citus extension is installed for the local PostgreSQL; otherwise why not.
pub fn citus_available() -> std::result::Result<(), String> {
    let bindir = pg_bindir().map_err(|e| e.to_string())?;
    let lib = pkglibdir(&bindir).ok_or_else(|| "pg_config --pkglibdir failed".to_string())?;
    let so = lib.join("citus.so");
    if so.exists() {
        Ok(())
    } else {
        Err(format!("citus not installed (no {})", so.display()))
    }
}

/// Options for one server.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Preload Citus and create the extension in `postgres`.
    pub citus: bool,
    /// Require a password (scram-sha-256) for TCP connections; the superuser gets this password.
    pub password: Option<String>,
    /// Serve TLS with this certificate and key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Extra `postgresql.conf` settings.
    pub settings: Vec<(String, String)>,
}

/// One running server. Stopped and deleted on drop.
pub struct LocalServer {
    dir: tempfile::TempDir,
    bindir: PathBuf,
    pub port: u16,
    pub host: String,
    pub superuser: String,
    password: Option<String>,
    run_as_postgres: bool,
    stopped: bool,
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn postgres_ids() -> Result<(u32, u32)> {
    let name = std::ffi::CString::new("postgres").unwrap();
    // SAFETY: getpwnam returns a pointer to static storage or null; we copy the ids at once.
    unsafe {
        let pw = libc::getpwnam(name.as_ptr());
        if pw.is_null() {
            return Err(Error::Tool {
                program: "initdb".into(),
                message: "running as root, but there is no 'postgres' user to run the server as"
                    .into(),
            });
        }
        Ok(((*pw).pw_uid, (*pw).pw_gid))
    }
}

fn chown(path: &Path, ids: (u32, u32)) -> Result<()> {
    std::os::unix::fs::chown(path, Some(ids.0), Some(ids.1))
        .map_err(|e| Error::io(format!("chown {}", path.display()), e))
}

/// A port nobody listens on right now.
pub fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("finding a free port", e))?;
    Ok(l.local_addr()
        .map_err(|e| Error::io("finding a free port", e))?
        .port())
}

impl LocalServer {
    /// Runs `initdb` and starts the server; waits until it accepts connections.
    pub fn start(opts: &ServerOptions) -> Result<Self> {
        let bindir = pg_bindir()?;
        let run_as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("citus-migrate-pg-")
            .tempdir()
            .map_err(|e| Error::io("creating a temporary directory", e))?;
        let ids = if run_as_postgres {
            Some(postgres_ids()?)
        } else {
            None
        };
        if let Some(ids) = ids {
            chown(dir.path(), ids)?;
        }
        let data = dir.path().join("data");
        let mut initdb = vec![
            bindir.join("initdb").display().to_string(),
            "-D".into(),
            data.display().to_string(),
            "-U".into(),
            "postgres".into(),
            "-E".into(),
            "UTF8".into(),
            "--locale=C".into(),
            "--no-sync".into(),
            "--auth-local=trust".into(),
        ];
        if let Some(pw) = &opts.password {
            let pwfile = dir.path().join("pwfile");
            std::fs::write(&pwfile, format!("{pw}\n"))
                .map_err(|e| Error::io("writing the password file", e))?;
            if let Some(ids) = ids {
                chown(&pwfile, ids)?;
            }
            initdb.push(format!("--pwfile={}", pwfile.display()));
            initdb.push("--auth-host=scram-sha-256".into());
        } else {
            initdb.push("--auth-host=trust".into());
        }
        run(&initdb, run_as_postgres, "initdb")?;
        let _ = std::fs::remove_file(dir.path().join("pwfile"));

        let mut conf = vec![
            ("listen_addresses".to_string(), "'127.0.0.1'".to_string()),
            (
                "unix_socket_directories".into(),
                format!("'{}'", dir.path().display()),
            ),
            ("fsync".into(), "off".into()),
            ("synchronous_commit".into(), "off".into()),
            ("full_page_writes".into(), "off".into()),
            ("max_connections".into(), "200".into()),
            ("shared_buffers".into(), "128MB".into()),
            ("max_wal_size".into(), "2GB".into()),
            ("max_prepared_transactions".into(), "200".into()),
            ("log_min_messages".into(), "warning".into()),
            ("lc_messages".into(), "'C'".into()),
        ];
        if opts.citus {
            conf.push(("shared_preload_libraries".into(), "'citus'".into()));
            conf.push(("wal_level".into(), "logical".into()));
            conf.push(("citus.node_conninfo".into(), "'sslmode=prefer'".into()));
        }
        if let Some((cert, key)) = &opts.tls {
            for (src, name) in [(cert, "server.crt"), (key, "server.key")] {
                let dst = data.join(name);
                std::fs::copy(src, &dst)
                    .map_err(|e| Error::io(format!("copying {}", src.display()), e))?;
                std::fs::set_permissions(&dst, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                    .map_err(|e| Error::io("chmod", e))?;
                if let Some(ids) = ids {
                    chown(&dst, ids)?;
                }
            }
            conf.push(("ssl".into(), "on".into()));
        }
        conf.extend(opts.settings.iter().cloned());

        let port = launch(&bindir, &data, run_as_postgres, |port| {
            let mut text = String::new();
            for (k, v) in conf
                .iter()
                .chain([("port".to_string(), port.to_string())].iter())
            {
                text.push_str(&format!("{k} = {v}\n"));
            }
            Ok(text)
        })?;
        let server = LocalServer {
            dir,
            bindir,
            port,
            host: "127.0.0.1".into(),
            superuser: "postgres".into(),
            password: opts.password.clone(),
            run_as_postgres,
            stopped: false,
        };
        if opts.citus {
            server.psql("postgres", "CREATE EXTENSION citus")?;
        }
        Ok(server)
    }

    /// A streaming hot standby of this server (`pg_basebackup -R -X stream`), started on a port of its
    /// own and waited for until it accepts read-only connections. `settings` go into its
    /// `postgresql.auto.conf` after the primary's (e.g. `recovery_min_apply_delay` for a lagging standby).
    pub fn start_standby(&self, settings: &[(&str, &str)]) -> Result<LocalServer> {
        let dir = tempfile::Builder::new()
            .prefix("citus-migrate-standby-")
            .tempdir()
            .map_err(|e| Error::io("creating a temporary directory", e))?;
        if self.run_as_postgres {
            chown(dir.path(), postgres_ids()?)?;
        }
        let data = dir.path().join("data");
        run(
            &[
                self.bindir.join("pg_basebackup").display().to_string(),
                "-D".into(),
                data.display().to_string(),
                "-h".into(),
                self.dir.path().display().to_string(),
                "-p".into(),
                self.port.to_string(),
                "-U".into(),
                self.superuser.clone(),
                "-R".into(),
                "-X".into(),
                "stream".into(),
                "-c".into(),
                "fast".into(),
                "--no-sync".into(),
            ],
            self.run_as_postgres,
            "pg_basebackup",
        )?;
        // The primary's settings came with the backup; later lines win.
        let inherited = std::fs::read_to_string(data.join("postgresql.auto.conf"))
            .map_err(|e| Error::io("reading the standby's postgresql.auto.conf", e))?;
        let port = launch(&self.bindir, &data, self.run_as_postgres, |port| {
            let mut conf = inherited.clone();
            conf.push_str(&format!(
                "port = {port}\nunix_socket_directories = '{}'\nhot_standby = on\n",
                dir.path().display()
            ));
            for (k, v) in settings {
                conf.push_str(&format!("{k} = {v}\n"));
            }
            Ok(conf)
        })?;
        Ok(LocalServer {
            dir,
            bindir: self.bindir.clone(),
            port,
            host: self.host.clone(),
            superuser: self.superuser.clone(),
            password: self.password.clone(),
            run_as_postgres: self.run_as_postgres,
            stopped: false,
        })
    }

    /// Waits until this standby has replayed everything `primary` has written so far.
    pub fn catch_up_with(&self, primary: &LocalServer) -> Result<()> {
        let lsn = primary.psql("postgres", "SELECT pg_current_wal_insert_lsn()")?;
        let caught_up = wait_until(Duration::from_secs(60), || {
            self.psql(
                "postgres",
                &format!(
                    "SELECT pg_last_wal_replay_lsn() >= {}::pg_lsn",
                    crate::ident::quote_literal(&lsn)
                ),
            )
            .is_ok_and(|r| r == "t")
        });
        if caught_up {
            Ok(())
        } else {
            Err(Error::Tool {
                program: "standby".into(),
                message: format!("did not replay up to {lsn} within 60 s"),
            })
        }
    }

    /// A `postgresql://` URL for `dbname`, with the password when the server has one.
    pub fn url(&self, dbname: &str) -> String {
        url_for(
            &self.superuser,
            self.password.as_deref(),
            &self.host,
            self.port,
            dbname,
        )
    }

    /// The temporary directory holding the data directory, the log and the socket.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// Runs SQL with psql over the local socket as the superuser; fails on the first error.
    pub fn psql(&self, dbname: &str, sql: &str) -> Result<String> {
        let mut child = Command::new(self.bindir.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.dir.path())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                &self.superuser,
                "-d",
                dbname,
                "-f",
                "-",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::io("running psql", e))?;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(sql.as_bytes())
            .map_err(|e| Error::io("writing to psql", e))?;
        let out = child
            .wait_with_output()
            .map_err(|e| Error::io("running psql", e))?;
        if !out.status.success() {
            return Err(Error::Tool {
                program: "psql".into(),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Creates a database (and, on Citus nodes, the caller creates the extension in it).
    pub fn create_database(&self, name: &str) -> Result<()> {
        self.psql(
            "postgres",
            &format!("CREATE DATABASE {}", crate::ident::quote_ident(name)),
        )
        .map(|_| ())
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`). Also done on drop.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let cmd = vec![
            self.bindir.join("pg_ctl").display().to_string(),
            "-D".into(),
            self.dir.path().join("data").display().to_string(),
            "-m".into(),
            "immediate".into(),
            "-w".into(),
            "stop".into(),
        ];
        let _ = run(&cmd, self.run_as_postgres, "pg_ctl stop");
    }

    /// Crashes the server as a power cut would, for fault tests: `kill -9` of the postmaster and of
    /// every one of its processes, so nothing is flushed that was not already (`restart` brings it
    /// back up through crash recovery).
    pub fn crash(&mut self) -> Result<()> {
        let pid_file = self.dir.path().join("data").join("postmaster.pid");
        let text = std::fs::read_to_string(&pid_file)
            .map_err(|e| Error::io(format!("reading {}", pid_file.display()), e))?;
        let postmaster: i32 = text
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| Error::Other(format!("no pid in {}", pid_file.display())))?;
        let children: Vec<i32> = std::fs::read_dir("/proc")
            .map_err(|e| Error::io("listing /proc", e))?
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                // `pid (comm) state ppid …`; comm may hold spaces, so read after the last ')'.
                std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .ok()
                    .and_then(|s| {
                        let rest = &s[s.rfind(')')? + 1..];
                        rest.split_whitespace().nth(1)?.parse::<i32>().ok()
                    })
                    == Some(postmaster)
            })
            .collect();
        for pid in std::iter::once(postmaster).chain(children) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        // Gone, or a zombie nobody has reaped yet.
        wait_until(Duration::from_secs(10), || {
            std::fs::read_to_string(format!("/proc/{postmaster}/stat")).map_or(true, |s| {
                s.rsplit(')')
                    .next()
                    .is_some_and(|r| r.trim_start().starts_with('Z'))
            })
        });
        // A killed postmaster can stay a zombie where nothing reaps orphans (PID 1 in a container);
        // its pid file would then make the restart refuse: every process of it is dead, so remove it.
        // So would the socket's lock file (its directory is line 5 of the pid file).
        if let Some(socket_dir) = text.lines().nth(4).filter(|d| !d.trim().is_empty()) {
            let lock = Path::new(socket_dir.trim()).join(format!(".s.PGSQL.{}.lock", self.port));
            let _ = std::fs::remove_file(lock);
        }
        let _ = std::fs::remove_file(&pid_file);
        self.stopped = true;
        Ok(())
    }

    /// Restarts a stopped server on the same port (for fault tests).
    pub fn restart(&mut self) -> Result<()> {
        let log = self.dir.path().join("server.log");
        let cmd = vec![
            self.bindir.join("pg_ctl").display().to_string(),
            "-D".into(),
            self.dir.path().join("data").display().to_string(),
            "-l".into(),
            log.display().to_string(),
            "-w".into(),
            "start".into(),
        ];
        run(&cmd, self.run_as_postgres, "pg_ctl start").map_err(|e| {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(8).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Error::Other(format!("{e}; server log: {}", tail.join("\n")))
        })?;
        self.stopped = false;
        Ok(())
    }

    pub fn is_running(&self) -> bool {
        !self.stopped
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts a connection pooler on a free loopback port: `command(port)` writes its configuration and
/// returns the command (run from `/`, in a process group of its own, stdin closed); waits until the
/// port accepts connections, and tries another port when the log says this one was taken. The error
/// carries the log.
fn spawn_listening(
    program: &str,
    log: &Path,
    mut command: impl FnMut(u16) -> Result<Command>,
) -> Result<(std::process::Child, u16)> {
    let mut last_err = String::new();
    for _ in 0..5 {
        let port = free_port()?;
        let mut cmd = command(port)?;
        cmd.current_dir("/").stdin(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let mut child = cmd.spawn().map_err(|e| Error::Tool {
            program: program.into(),
            message: format!("cannot run {program}: {e}"),
        })?;
        let up = wait_until(Duration::from_secs(20), || {
            matches!(child.try_wait(), Ok(Some(_)))
                || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        if up && matches!(child.try_wait(), Ok(None)) {
            return Ok((child, port));
        }
        let _ = child.kill();
        let _ = child.wait();
        last_err = std::fs::read_to_string(log).unwrap_or_default();
        if !last_err.contains("Address already in use") && !last_err.contains("AddrInUse") {
            break;
        }
    }
    Err(Error::Tool {
        program: program.into(),
        message: format!("did not start; its log:\n{last_err}"),
    })
}

/// Starts the server in `data` (whose log goes next to it, in `server.log`) on a free port, with the
/// `postgresql.auto.conf` that `conf(port)` writes; tries other ports while the chosen one is taken.
fn launch(
    bindir: &Path,
    data: &Path,
    as_postgres: bool,
    conf: impl Fn(u16) -> Result<String>,
) -> Result<u16> {
    let log = data.parent().unwrap_or(data).join("server.log");
    let mut last_err = None;
    for _ in 0..5 {
        let port = free_port()?;
        let path = data.join("postgresql.auto.conf");
        std::fs::write(&path, conf(port)?)
            .map_err(|e| Error::io("writing postgresql.auto.conf", e))?;
        if as_postgres {
            chown(&path, postgres_ids()?)?;
        }
        let cmd = vec![
            bindir.join("pg_ctl").display().to_string(),
            "-D".into(),
            data.display().to_string(),
            "-l".into(),
            log.display().to_string(),
            "-w".into(),
            "-t".into(),
            "60".into(),
            "start".into(),
        ];
        match run(&cmd, as_postgres, "pg_ctl start") {
            Ok(()) => return Ok(port),
            Err(e) => {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                if !text.contains("could not bind") && !text.contains("Address already in use") {
                    return Err(Error::Tool {
                        program: "pg_ctl".into(),
                        message: format!("{e}\nserver log:\n{text}"),
                    });
                }
                last_err = Some(e);
            }
        }
    }
    Err(last_err.unwrap())
}

fn run(argv: &[String], as_postgres: bool, what: &str) -> Result<()> {
    let mut cmd = if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).args(argv);
        c
    } else {
        let mut c = Command::new(&argv[0]);
        c.args(&argv[1..]);
        c
    };
    // Run from a directory the postgres user can read, and keep the server out of our process group so a
    // Ctrl-C in the terminal reaches us first and we stop it in order.
    cmd.current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let out = cmd.output().map_err(|e| Error::Tool {
        program: what.into(),
        message: format!("cannot run {}: {e}", argv[0]),
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Tool {
            program: what.into(),
            message: format!(
                "{} failed: {}{}",
                argv[0],
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            ),
        })
    }
}

/// Where the installed `pgbouncer` is: `CITUS_MIGRATE_PGBOUNCER`, then `PATH`, then `/usr/sbin`.
pub fn pgbouncer_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("CITUS_MIGRATE_PGBOUNCER") {
        return Ok(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|d| d.join("pgbouncer"))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Tool {
            program: "pgbouncer".into(),
            message: "pgbouncer is not installed (looked in CITUS_MIGRATE_PGBOUNCER, PATH and /usr/sbin); install the pgbouncer package".into(),
        })
}

/// A pgbouncer in **transaction pooling** mode in front of one [`LocalServer`], serving all of its
/// databases on a free loopback port. Clients authenticate the way the server does (trust, or
/// scram-sha-256 with the server's password); other roles are looked up through `auth_user`. Killed on
/// drop, also while a panic unwinds.
pub struct LocalPgBouncer {
    dir: tempfile::TempDir,
    child: std::process::Child,
    pub port: u16,
    pub host: String,
    user: String,
    password: Option<String>,
}

impl LocalPgBouncer {
    /// Starts pgbouncer (as the `postgres` user when this process is root) and waits until it accepts
    /// connections.
    pub fn start(server: &LocalServer) -> Result<Self> {
        let program = pgbouncer_path()?;
        let ids = if is_root() {
            Some(postgres_ids()?)
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("citus-migrate-pgbouncer-")
            .tempdir()
            .map_err(|e| Error::io("creating a temporary directory", e))?;
        if let Some(ids) = ids {
            chown(dir.path(), ids)?;
        }
        let quote = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        let users = format!(
            "{} {}\n",
            quote(&server.superuser),
            quote(server.password.as_deref().unwrap_or(""))
        );
        let auth_file = dir.path().join("users.txt");
        std::fs::write(&auth_file, users)
            .map_err(|e| Error::io("writing the pgbouncer auth file", e))?;
        if let Some(ids) = ids {
            chown(&auth_file, ids)?;
        }
        let auth_type = if server.password.is_some() {
            "scram-sha-256"
        } else {
            "trust"
        };
        let log = dir.path().join("pgbouncer.log");
        let (child, port) = spawn_listening("pgbouncer", &log, |port| {
            let ini = format!(
                "[databases]\n\
                     * = host={host} port={server_port}\n\
                     [pgbouncer]\n\
                     listen_addr = 127.0.0.1\n\
                     listen_port = {port}\n\
                     unix_socket_dir =\n\
                     auth_type = {auth_type}\n\
                     auth_file = {auth_file}\n\
                     auth_user = {user}\n\
                     admin_users = {user}\n\
                     pool_mode = transaction\n\
                     max_client_conn = 200\n\
                     default_pool_size = 20\n\
                     ignore_startup_parameters = extra_float_digits,options\n\
                     logfile = {log}\n\
                     pidfile = {pid}\n",
                host = server.host,
                server_port = server.port,
                auth_file = auth_file.display(),
                user = server.superuser,
                log = log.display(),
                pid = dir.path().join("pgbouncer.pid").display(),
            );
            let ini_path = dir.path().join("pgbouncer.ini");
            std::fs::write(&ini_path, ini).map_err(|e| Error::io("writing pgbouncer.ini", e))?;
            let mut cmd = Command::new(&program);
            cmd.arg(&ini_path)
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if let Some((uid, gid)) = ids {
                std::os::unix::process::CommandExt::uid(&mut cmd, uid);
                std::os::unix::process::CommandExt::gid(&mut cmd, gid);
            }
            Ok(cmd)
        })?;
        Ok(LocalPgBouncer {
            dir,
            child,
            port,
            host: "127.0.0.1".into(),
            user: server.superuser.clone(),
            password: server.password.clone(),
        })
    }

    /// A `postgresql://` URL for `dbname` through pgbouncer, with the server's password when it has one.
    pub fn url(&self, dbname: &str) -> String {
        url_for(
            &self.user,
            self.password.as_deref(),
            &self.host,
            self.port,
            dbname,
        )
    }

    /// The temporary directory holding `pgbouncer.ini` and `pgbouncer.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for LocalPgBouncer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn url_for(user: &str, password: Option<&str>, host: &str, port: u16, dbname: &str) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    let auth = match password {
        Some(pw) => format!(
            "{}:{}",
            utf8_percent_encode(user, NON_ALPHANUMERIC),
            utf8_percent_encode(pw, NON_ALPHANUMERIC)
        ),
        None => utf8_percent_encode(user, NON_ALPHANUMERIC).to_string(),
    };
    format!(
        "postgresql://{auth}@{host}:{port}/{}?sslmode=disable",
        utf8_percent_encode(dbname, NON_ALPHANUMERIC)
    )
}

/// The `pgcat` program: `CITUS_MIGRATE_PGCAT`, else the first on `PATH`, else `/usr/local/bin`.
pub fn pgcat_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("CITUS_MIGRATE_PGCAT") {
        return Ok(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/bin"].map(PathBuf::from))
        .map(|d| d.join("pgcat"))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::Tool {
            program: "pgcat".into(),
            message:
                "pgcat is not installed (looked in CITUS_MIGRATE_PGCAT, PATH and /usr/local/bin); \
                      it is in no package registry: build it from github.com/postgresml/pgcat"
                    .into(),
        })
}

/// A PgCat in **transaction pooling** mode in front of one [`LocalServer`], with one pool per database
/// given, on a free loopback port. PgCat checks the client's password itself (md5) against its own
/// configuration: clients use the server's password, or `pgcat` for a server without one. Killed on
/// drop.
pub struct LocalPgCat {
    dir: tempfile::TempDir,
    child: std::process::Child,
    pub port: u16,
    pub host: String,
    user: String,
    password: String,
}

impl LocalPgCat {
    /// Starts PgCat for `databases` of `server` and waits until it accepts connections.
    pub fn start(server: &LocalServer, databases: &[&str]) -> Result<Self> {
        let program = pgcat_path()?;
        let dir = tempfile::Builder::new()
            .prefix("citus-migrate-pgcat-")
            .tempdir()
            .map_err(|e| Error::io("creating a temporary directory", e))?;
        let password = server.password.clone().unwrap_or_else(|| "pgcat".into());
        let toml = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let log_path = dir.path().join("pgcat.log");
        let (child, port) = spawn_listening("pgcat", &log_path, |port| {
            let mut conf = format!(
                    "[general]\nhost = \"127.0.0.1\"\nport = {port}\nadmin_username = \"pgcat_admin\"\n\
                     admin_password = {pw}\nconnect_timeout = 5000\nhealthcheck_delay = 30000\n\
                     ban_time = 1\nidle_client_in_transaction_timeout = 0\n\n",
                    pw = toml(&password)
                );
            for db in databases {
                let pool = toml(db);
                conf.push_str(&format!(
                        "[pools.{pool}]\npool_mode = \"transaction\"\ndefault_role = \"primary\"\n\
                         query_parser_enabled = false\nprimary_reads_enabled = true\n\n\
                         [pools.{pool}.users.0]\nusername = {user}\npassword = {pw}\npool_size = 20\n\
                         pool_mode = \"transaction\"\n\n\
                         [pools.{pool}.shards.0]\nservers = [[{host}, {server_port}, \"primary\"]]\n\
                         database = {pool}\n\n",
                        user = toml(&server.superuser),
                        pw = toml(&password),
                        host = toml(&server.host),
                        server_port = server.port,
                    ));
            }
            let conf_path = dir.path().join("pgcat.toml");
            std::fs::write(&conf_path, conf).map_err(|e| Error::io("writing pgcat.toml", e))?;
            let log =
                std::fs::File::create(&log_path).map_err(|e| Error::io("creating pgcat.log", e))?;
            let mut cmd = Command::new(&program);
            cmd.arg(&conf_path)
                .env("RUST_LOG", "warn")
                .stdout(log.try_clone().map_err(|e| Error::io("pgcat.log", e))?)
                .stderr(log);
            Ok(cmd)
        })?;
        Ok(LocalPgCat {
            dir,
            child,
            port,
            host: "127.0.0.1".into(),
            user: server.superuser.clone(),
            password,
        })
    }

    /// A `postgresql://` URL for `dbname` through PgCat.
    pub fn url(&self, dbname: &str) -> String {
        url_for(
            &self.user,
            Some(&self.password),
            &self.host,
            self.port,
            dbname,
        )
    }

    /// The temporary directory holding `pgcat.toml` and `pgcat.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for LocalPgCat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Citus coordinator with workers, all local. Stopped and deleted on drop.
pub struct LocalCitus {
    pub coordinator: LocalServer,
    pub workers: Vec<LocalServer>,
}

impl LocalCitus {
    /// Starts a coordinator and `workers` workers and registers them (`citus_set_coordinator_host`,
    /// `citus_add_node`) in the `postgres` database.
    pub fn start(workers: usize) -> Result<Self> {
        Self::start_with(workers, &ServerOptions::default())
    }

    /// As [`LocalCitus::start`], every node started with `opts` (and Citus), e.g. with TLS.
    pub fn start_with(workers: usize, opts: &ServerOptions) -> Result<Self> {
        citus_available().map_err(|why| Error::Tool {
            program: "citus".into(),
            message: why,
        })?;
        let opts = ServerOptions {
            citus: true,
            ..opts.clone()
        };
        let coordinator = LocalServer::start(&opts)?;
        let workers = (0..workers)
            .map(|_| LocalServer::start(&opts))
            .collect::<Result<Vec<_>>>()?;
        let cluster = LocalCitus {
            coordinator,
            workers,
        };
        cluster.register_nodes("postgres")?;
        Ok(cluster)
    }

    fn register_nodes(&self, dbname: &str) -> Result<()> {
        let mut sql = format!(
            "SELECT citus_set_coordinator_host('127.0.0.1', {});\n",
            self.coordinator.port
        );
        for w in &self.workers {
            sql.push_str(&format!(
                "SELECT citus_add_node('127.0.0.1', {});\n",
                w.port
            ));
        }
        self.coordinator.psql(dbname, &sql).map(|_| ())
    }

    /// Creates a database on every node, with the citus extension, and registers the workers in it.
    pub fn create_database(&self, name: &str) -> Result<()> {
        for node in std::iter::once(&self.coordinator).chain(&self.workers) {
            node.create_database(name)?;
            node.psql(name, "CREATE EXTENSION citus")?;
        }
        self.register_nodes(name)
    }

    /// The coordinator's URL for `dbname`.
    pub fn url(&self, dbname: &str) -> String {
        self.coordinator.url(dbname)
    }

    /// Starts one more Citus server, with `databases` created (each with the citus extension), that
    /// is not part of the cluster: a worker for a test to add (`citus_add_node`), drain and remove.
    /// The caller owns it; it stops on drop.
    pub fn start_spare_worker(&self, databases: &[&str]) -> Result<LocalServer> {
        let node = LocalServer::start(&ServerOptions {
            citus: true,
            ..Default::default()
        })?;
        for db in databases.iter().filter(|d| **d != "postgres") {
            node.create_database(db)?;
            node.psql(db, "CREATE EXTENSION citus")?;
        }
        Ok(node)
    }
}

/// Waits until `f` returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Writes a line to the process's real standard error, past the test harness's output capture, so
/// that a skipped test is visible in `cargo test` output.
pub fn say_uncaptured(line: &str) {
    use std::io::Write as _;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{line}");
}

/// For tests: a Citus coordinator with two workers, or `None` after printing
/// `skipped: <test>: citus not installed (…)` where Citus is absent. Panics when Citus is installed
/// but the cluster cannot start: that is a failure, not a skip.
pub fn citus_or_skip(test: &str) -> Option<LocalCitus> {
    match citus_available() {
        Err(why) => {
            say_uncaptured(&format!("skipped: {test}: {why}"));
            None
        }
        Ok(()) => Some(
            LocalCitus::start(2)
                .unwrap_or_else(|e| panic!("starting a local Citus cluster failed: {e}")),
        ),
    }
}
