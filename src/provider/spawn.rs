//! Starting child processes that die with this one.
//!
//! On Linux every child gets `PR_SET_PDEATHSIG(SIGKILL)`, so even a child that is busy (a worker
//! in a long compile, a command that ignores its stdin) is killed the moment this process dies,
//! `kill -9` included. The kernel sends that signal when the *thread* that forked the child
//! exits, not the process: children are therefore forked by one thread of our own that lives as
//! long as the process. Forking from a tokio thread would tie a child to a thread the runtime may
//! retire (blocking-pool threads exit after 10 s idle; a worker thread that enters
//! `block_in_place` is replaced), which would kill a healthy child.

use std::io;

use tokio::process::{Child, Command};

/// Spawns `command` so that the child is killed when this process dies (Linux); elsewhere a plain
/// spawn. Must be called within a tokio runtime.
#[cfg(target_os = "linux")]
pub async fn spawn_tied(mut command: Command) -> io::Result<Child> {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: runs in the forked child before exec; prctl, getppid and raise are
    // async-signal-safe and touch no memory of the parent.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent died between fork and prctl: nobody will send the signal.
            if libc::getppid() != parent {
                libc::raise(libc::SIGKILL);
            }
            Ok(())
        });
    }
    linux::spawn_on_own_thread(command).await
}

#[cfg(not(target_os = "linux"))]
pub async fn spawn_tied(mut command: Command) -> io::Result<Child> {
    command.spawn()
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::sync::mpsc;
    use std::sync::{Mutex, OnceLock};

    use tokio::process::{Child, Command};
    use tokio::sync::oneshot;

    struct Request {
        command: Command,
        /// The runtime the child's pipes and exit status are driven by.
        runtime: tokio::runtime::Handle,
        reply: oneshot::Sender<io::Result<Child>>,
    }

    /// The spawning thread's queue. The thread runs until the process exits: the sender lives in
    /// a static and is never dropped.
    fn spawner() -> io::Result<&'static Mutex<mpsc::Sender<Request>>> {
        static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
        if let Some(s) = SPAWNER.get() {
            return Ok(s);
        }
        let (tx, rx) = mpsc::channel::<Request>();
        let started = std::thread::Builder::new()
            .name("promethean-spawner".into())
            .spawn(move || {
                for mut req in rx {
                    let _context = req.runtime.enter();
                    let _ = req.reply.send(req.command.spawn());
                }
            });
        match started {
            // Two first callers at once: the loser's thread ends when its sender drops here.
            Ok(_) => Ok(SPAWNER.get_or_init(|| Mutex::new(tx))),
            Err(e) => SPAWNER.get().ok_or(e),
        }
    }

    pub async fn spawn_on_own_thread(command: Command) -> io::Result<Child> {
        let gone = || io::Error::other("the process-spawning thread is gone");
        let (reply, answer) = oneshot::channel();
        let request = Request {
            command,
            runtime: tokio::runtime::Handle::current(),
            reply,
        };
        spawner()?
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(request)
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::time::Duration;

    use super::*;

    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit_once(") ")
                .is_some_and(|(_, rest)| !rest.starts_with(['Z', 'X']))
        })
    }

    /// The death signal follows the thread that forked: a child asked for by a short-lived
    /// thread (as tokio's blocking threads are) must not die with that thread.
    #[test]
    fn a_child_outlives_the_thread_that_asked_for_it() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let handle = rt.handle().clone();
        let mut child = std::thread::spawn(move || {
            handle.block_on(async {
                let mut cmd = Command::new("sleep");
                cmd.arg("30").kill_on_drop(true);
                spawn_tied(cmd).await.unwrap()
            })
        })
        .join()
        .unwrap();
        let pid = child.id().unwrap();
        // The kernel sends the death signal as the thread exits; give it ample time to arrive.
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            alive(pid),
            "the child died with the thread that asked for it"
        );
        rt.block_on(async { child.kill().await.unwrap() });
    }
}
