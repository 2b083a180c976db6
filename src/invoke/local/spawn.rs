//! Starting handler processes so that they die with kafka-esm, even when kafka-esm is
//! killed with `kill -9` and has no chance to kill them itself.
//!
//! On Linux each handler asks the kernel for `SIGKILL` when its parent goes
//! (`PR_SET_PDEATHSIG`, set between fork and exec). The kernel sends it when the *thread*
//! that forked the handler exits, not the process: tokio's `Command::spawn` forks on the
//! calling thread (a runtime worker, a `block_on` thread, or a blocking-pool thread,
//! which exits after 10 s idle), so a handler forked from a thread that later exits
//! would be killed in the middle of its work. Every handler is therefore forked by one
//! dedicated thread that never exits ([`spawn`]): the signal comes only when the whole
//! process is gone.
//!
//! Each handler also leads its own process group (`setpgid(0, 0)`), so that the Runtime
//! API can tell its requests from any other local process's (see [`super::peer`]), so
//! that the terminal's Ctrl-C reaches kafka-esm alone, which stops its handlers itself,
//! and so that killing a handler kills whatever it started too ([`kill_group`]). The
//! parent-death signal reaches the handler alone: what it started outlives a `kill -9`
//! of kafka-esm unless it asks for the signal too.
//!
//! Elsewhere than on Linux there is no parent-death signal: handlers outlive a killed
//! kafka-esm there (kafka-esm kills them on every other way out).

use std::io;
use std::sync::OnceLock;
use std::sync::mpsc;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

struct Request {
    command: Command,
    runtime: tokio::runtime::Handle,
    reply: oneshot::Sender<io::Result<Child>>,
}

/// The spawner thread's queue; the thread lives as long as the process (its receiver
/// never sees the sender dropped: the sender is static).
static SPAWNER: OnceLock<io::Result<mpsc::Sender<Request>>> = OnceLock::new();

fn spawner() -> io::Result<&'static mpsc::Sender<Request>> {
    let started = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("kafka-esm-spawner".into())
            .spawn(move || {
                for mut request in rx {
                    // Registers the child with the caller's runtime (its SIGCHLD reaper).
                    let _runtime = request.runtime.enter();
                    let _ = request.reply.send(request.command.spawn());
                }
            })
            .map(|_| tx)
    });
    started
        .as_ref()
        .map_err(|e| io::Error::new(e.kind(), format!("starting the spawner thread: {e}")))
}

/// Spawns `command` (a handler) from the spawner thread, as one that dies with kafka-esm
/// and leads its own process group. Must be called inside a tokio runtime.
pub(super) async fn spawn(mut command: Command) -> io::Result<Child> {
    die_with_parent(&mut command);
    command.process_group(0);
    let (reply, answer) = oneshot::channel();
    let request = Request {
        command,
        runtime: tokio::runtime::Handle::current(),
        reply,
    };
    spawner()?
        .send(request)
        .map_err(|_| io::Error::other("the spawner thread is gone"))?;
    answer
        .await
        .map_err(|_| io::Error::other("the spawner thread dropped the request"))?
}

/// Kills process group `group` (a handler and whatever it started: a wrapper's child, a
/// worker pool) with `SIGKILL`; a group already gone is no error. Never signals every
/// process (`kill(-1)`) or kafka-esm's own group (`kill(0)`): groups 0 and 1 are refused.
#[cfg(unix)]
#[allow(unsafe_code)]
pub(super) fn kill_group(group: u32) {
    let Ok(group) = libc::pid_t::try_from(group) else {
        return;
    };
    if group <= 1 {
        return;
    }
    // SAFETY: kill(2) takes two integers and touches no memory of this process; its only
    // effect is the signal. The group is one a handler leads (its pid, given by the
    // kernel at spawn), signalled when the handler is to go: it reaches that handler and
    // what it started.
    // Covered by `tests/local_runtime.rs::a_timeout_kills_what_the_handler_started_too`.
    unsafe {
        libc::kill(-group, libc::SIGKILL);
    }
}

#[cfg(not(unix))]
pub(super) fn kill_group(_group: u32) {}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn die_with_parent(command: &mut Command) {
    // Recorded before the fork: the child compares it with its parent after asking for
    // the signal, in case kafka-esm died in between (the signal would never come).
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe functions may be called (the parent is multi-threaded: another
    // thread may have held the allocator's or any other lock at the fork). It calls
    // `prctl` and `getppid`, both async-signal-safe system calls, reads `errno` through
    // `io::Error::last_os_error` and builds errors with `from_raw_os_error` (neither
    // allocates), and captures only a `pid_t` (Copy, no destructor runs in the child). It
    // touches no memory shared with other threads. Covered by
    // `tests/local_invoke_api.rs::handlers_die_with_a_killed_kafka_esm` and the unit test
    // below.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            ) == -1
            {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                // kafka-esm is already gone: don't start a handler nobody will stop.
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_command: &mut Command) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::process::Stdio;

    /// The fields of `/proc/PID/stat` after the command name: state, ppid, pgrp, ...
    fn stat_fields(stat: &str) -> Vec<String> {
        let rest = stat.rsplit_once(')').unwrap().1;
        rest.split_whitespace().map(str::to_string).collect()
    }

    /// A handler leads its own process group, and keeps running when the thread (and
    /// runtime) that asked for it exits: the parent-death signal follows the spawner
    /// thread, which never exits. (That the signal comes when kafka-esm dies is
    /// `tests/local_invoke_api.rs::handlers_die_with_a_killed_kafka_esm`.)
    #[test]
    fn handlers_lead_their_group_and_outlive_the_thread_that_asked() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut command = Command::new("cat");
            command.arg("/proc/self/stat").stdout(Stdio::piped());
            let child = spawn(command).await.unwrap();
            let pid = child.id().unwrap().to_string();
            let out = child.wait_with_output().await.unwrap();
            let fields = stat_fields(&String::from_utf8(out.stdout).unwrap());
            assert_eq!(fields[2], pid, "not its own process group's leader");
        });
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let child = runtime.block_on(async {
                let mut command = Command::new("sleep");
                command.arg("30");
                spawn(command).await.unwrap()
            });
            tx.send(child.id().unwrap()).unwrap();
            // Not waited for, not killed (kill_on_drop is off): the thread and its
            // runtime just go.
            drop(child);
        })
        .join()
        .unwrap();
        let pid = rx.recv().unwrap();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        // Alive is any state but zombie or dead (a loaded machine shows it in D, in
        // uninterruptible sleep, as often as in S or R).
        assert!(
            !matches!(stat_fields(&stat)[0].as_str(), "Z" | "X" | "x"),
            "the handler died with the thread that asked for it: {stat}"
        );
    }
}
