//! Child processes that never outlive the test that started them.
//!
//! A [`Service`] runs its program under a small `sh` watchdog that holds the read end of
//! a pipe whose write end only the test process has. When the [`Service`] is dropped, or
//! the test process dies in any way (panic, abort, kill -9), the pipe closes and the
//! watchdog kills the program with SIGKILL. No `unsafe`, no pid files, no orphans.
//!
//! Output (stdout and stderr) goes to a log file, which is quoted in any start error.

use anyhow::{Context, Result, bail};
use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// `"$@"` runs in the background with stdin from /dev/null; fd 3 keeps the pipe from
/// the test process, and `cat` returns when that pipe closes, then the program is killed.
/// The script exits with the program's status when the program ends first.
const WATCHDOG: &str = r#"exec 3<&0
"$@" </dev/null &
pid=$!
( cat <&3 >/dev/null; kill -9 "$pid" 2>/dev/null ) &
exec 3<&-
wait "$pid"
"#;

/// A running program, killed when this is dropped.
pub struct Service {
    name: String,
    child: Child,
    watchdog: Option<ChildStdin>,
    direct: bool,
    log: PathBuf,
}

/// How to spawn a program.
pub struct Spec<'a> {
    pub name: &'a str,
    pub program: &'a Path,
    pub args: Vec<String>,
    pub cwd: &'a Path,
    pub env: Vec<(String, String)>,
    /// The program watches its own stdin and exits at EOF (our Python helpers do): it
    /// gets the pipe directly instead of the `sh` watchdog.
    pub stdin_aware: bool,
}

impl Service {
    pub fn spawn(spec: Spec<'_>) -> Result<Service> {
        let log = spec.cwd.join(format!("{}.log", spec.name));
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let mut cmd = if spec.stdin_aware {
            let mut c = Command::new(spec.program);
            c.args(&spec.args);
            c
        } else {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(WATCHDOG)
                .arg("watchdog")
                .arg(spec.program)
                .args(&spec.args);
            c
        };
        cmd.current_dir(spec.cwd)
            .envs(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err);
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {} ({})", spec.name, spec.program.display()))?;
        let watchdog = child.stdin.take();
        Ok(Service {
            name: spec.name.to_string(),
            child,
            watchdog,
            direct: spec.stdin_aware,
            log,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The program's output so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `Some(status)` once the program has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits until `addr` accepts TCP connections. Fails at once, quoting the log, if
    /// the program ends first, and after `timeout` otherwise.
    pub fn wait_for_port(&mut self, addr: SocketAddr, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                bail!(
                    "{} exited ({status}) before listening on {addr}; its output:\n{}",
                    self.name,
                    self.log()
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not listen on {addr} within {timeout:?}; its output:\n{}",
                    self.name,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for an output line that `pick` accepts and returns what it made of it.
    pub fn wait_for_line<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = self.log().lines().find_map(&mut pick) {
                return Ok(found);
            }
            if let Some(status) = self.exited() {
                bail!(
                    "{} exited ({status}); its output:\n{}",
                    self.name,
                    self.log()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{} printed no expected line within {timeout:?}; its output:\n{}",
                    self.name,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the program (SIGKILL, as a crash would) and waits for it to be gone.
    pub fn kill(&mut self) {
        if self.watchdog.take().is_none() {
            return;
        }
        // With the watchdog, closing the pipe makes it kill the program and exit.
        if self.direct {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    /// Starts a service on a fresh free port, retrying with another port when the one
    /// picked was taken before the program could bind it.
    pub fn start_on_free_port<T>(
        attempts: usize,
        mut start: impl FnMut(u16) -> Result<T>,
    ) -> Result<T> {
        let mut last = None;
        for _ in 0..attempts {
            let port = crate::free_port()?;
            match start(port) {
                Ok(t) => return Ok(t),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("no attempt made")))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill();
    }
}
