//! Child programs (`pg_dump`) that end with citus-migrate. A `kill -9` of citus-migrate runs no code of
//! ours, so the child is told by the kernel: on Linux it asks, before it runs the program, for SIGKILL
//! when its parent dies (`prctl(PR_SET_PDEATHSIG)`). The kernel sends that signal when the *thread*
//! that started the child ends, not the process; a tokio worker or blocking thread may end before
//! the child does, so every child is started by one thread that lives as long as the process (with a
//! small runtime of its own, which also reaps the children). A caller that gives up (its future is
//! dropped) ends its child too. [`pg_bindir`] finds the installed PostgreSQL's programs (`pg_dump`
//! here, `initdb` and `pg_ctl` for the local test servers).

use std::io;
use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::sync::OnceLock;

use tokio::process::Command;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};

type Job = (Command, oneshot::Sender<io::Result<Output>>);

/// The directory holding `initdb`, `pg_ctl`, `pg_dump`… of the installed PostgreSQL.
pub(crate) fn pg_bindir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CITUS_MIGRATE_PG_BINDIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Ok(out) = std::process::Command::new("pg_config")
        .arg("--bindir")
        .output()
    {
        if out.status.success() {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if dir.join("initdb").exists() {
                return Ok(dir);
            }
        }
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p).ok_or_else(|| Error::Tool {
        program: "initdb".into(),
        message: "no PostgreSQL server installation found (tried CITUS_MIGRATE_PG_BINDIR, pg_config --bindir and /usr/lib/postgresql/*/bin); install the postgresql package".into(),
    })
}

/// Runs `cmd` to its end, as [`Command::output`] does (stdin from `/dev/null`, stdout and stderr
/// captured), in a way that ends the child with this process or when the returned future is dropped.
pub async fn output(mut cmd: Command) -> io::Result<Output> {
    die_with_parent(&mut cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let gone = || io::Error::other("the thread that starts child programs is not running");
    let (reply, answer) = oneshot::channel();
    starter()
        .ok_or_else(gone)?
        .send((cmd, reply))
        .map_err(|_| gone())?;
    answer.await.map_err(|_| gone())?
}

/// SIGKILL for the child when the thread that starts it ends (Linux), and when its handle is dropped.
fn die_with_parent(cmd: &mut Command) {
    cmd.kill_on_drop(true);
    #[cfg(target_os = "linux")]
    {
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: only async-signal-safe calls (prctl, getppid) and no allocation between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died between the fork and the prctl: then nothing would come.
                if libc::getppid() != parent {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
    }
}

/// The thread that starts every child, started on first use; `None` when it could not be started.
fn starter() -> Option<&'static mpsc::UnboundedSender<Job>> {
    static STARTER: OnceLock<Option<mpsc::UnboundedSender<Job>>> = OnceLock::new();
    STARTER
        .get_or_init(|| {
            let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            std::thread::Builder::new()
                .name("child programs".into())
                .spawn(move || {
                    runtime.block_on(async move {
                        // The sender is in a static: this loop, and the thread, last as long as the
                        // process.
                        while let Some((cmd, reply)) = queue.recv().await {
                            tokio::spawn(run(cmd, reply));
                        }
                    })
                })
                .ok()?;
            Some(jobs)
        })
        .as_ref()
}

async fn run(mut cmd: Command, mut reply: oneshot::Sender<io::Result<Output>>) {
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let _ = reply.send(Err(e));
            return;
        }
    };
    tokio::select! {
        out = child.wait_with_output() => {
            let _ = reply.send(out);
        }
        // The caller gave up: dropping the child (kill_on_drop) ends it.
        () = reply.closed() => {}
    }
}
