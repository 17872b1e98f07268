//! One `certnet run` process: spawned with its output appended to a log file, signalled by pid, and
//! counted alive only while `/proc` shows the same process (pid *and* start time), so a recycled pid
//! is never mistaken for a node and never signalled.

use std::fs::File;
use std::io::{self, Write as _};
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rustix::process::{Pid, Signal};
use serde::{Deserialize, Serialize};

/// Pause between polls while waiting for a process to exit.
const POLL: Duration = Duration::from_millis(20);

/// A process as the kernel knows it: its pid and its start time (clock ticks after boot, field 22 of
/// `/proc/PID/stat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessId {
    /// The pid.
    pub pid: u32,
    /// Start time in clock ticks since boot.
    pub start_time: u64,
}

/// What `/proc/PID/stat` says about a pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    state: char,
    start_time: u64,
}

fn read_stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Parses `pid (comm) state ppid ...`; `comm` may hold spaces and parentheses, so fields are counted
/// from the last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the comm: field 3 (state) is index 0, so field 22 (starttime) is index 19.
    let state = fields.first()?.chars().next()?;
    let start_time = fields.get(19)?.parse().ok()?;
    Some(Stat { state, start_time })
}

impl ProcessId {
    /// The running process with this pid.
    pub fn of(pid: u32) -> io::Result<Self> {
        let stat = read_stat(pid)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no process {pid}")))?;
        Ok(Self {
            pid,
            start_time: stat.start_time,
        })
    }

    /// Whether this very process still runs. A zombie (exited, not yet reaped by its parent) does
    /// not: it holds no resources but its pid, and can do nothing.
    pub fn is_alive(&self) -> bool {
        read_stat(self.pid)
            .is_some_and(|s| s.start_time == self.start_time && !matches!(s.state, 'Z' | 'X'))
    }

    /// Sends `signal` if the process is still this one; `Ok(false)` if it is gone already.
    pub fn signal(&self, signal: Signal) -> io::Result<bool> {
        if !self.is_alive() {
            return Ok(false);
        }
        let pid = i32::try_from(self.pid)
            .ok()
            .and_then(Pid::from_raw)
            .ok_or_else(|| io::Error::other(format!("pid {} out of range", self.pid)))?;
        match rustix::process::kill_process(pid, signal) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::SRCH) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }
}

/// How a process is started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spawn {
    /// Owned by this process: killed (SIGKILL) when the [`Federation`](crate::Federation) drops.
    /// For tests.
    Owned,
    /// Detached in its own process group, outliving this process (the CLI). `down` stops it.
    Detached,
}

/// A node process this program knows: spawned by it (with the [`Child`] to reap), or found running
/// from the state file.
#[derive(Debug)]
pub(crate) struct NodeProcess {
    id: ProcessId,
    child: Option<Child>,
}

/// What to start.
#[derive(Debug)]
pub(crate) struct Launch<'a> {
    pub(crate) bin: &'a Path,
    pub(crate) data_dir: &'a Path,
    pub(crate) log: &'a Path,
    pub(crate) rust_log: Option<&'a str>,
    pub(crate) spawn: Spawn,
}

impl NodeProcess {
    /// Starts `certnet run --data-dir D`, stdout and stderr appended to the log file (after a line
    /// saying when it started), RUST_LOG as given (else unset: the node's default).
    pub(crate) fn spawn(launch: &Launch<'_>) -> io::Result<Self> {
        let mut log = File::options().create(true).append(true).open(launch.log)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        writeln!(
            log,
            "--- certnet-testnet: starting `{} run --data-dir {}` at unix time {now}",
            launch.bin.display(),
            launch.data_dir.display()
        )?;
        let mut command = Command::new(launch.bin);
        command
            .arg("run")
            .arg("--data-dir")
            .arg(launch.data_dir)
            .env_remove("CERTNET_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        match launch.rust_log {
            Some(filter) => command.env("RUST_LOG", filter),
            None => command.env_remove("RUST_LOG"),
        };
        if launch.spawn == Spawn::Detached {
            // Its own process group: a Ctrl-C at the terminal that ran the CLI does not reach it.
            command.process_group(0);
        }
        let child = command.spawn()?;
        // The child cannot be reaped before we wait for it, so its /proc entry is there.
        let id = ProcessId::of(child.id())?;
        Ok(Self {
            id,
            child: Some(child),
        })
    }

    /// A process found running from the state file (not a child of this program).
    pub(crate) fn found(id: ProcessId) -> Self {
        Self { id, child: None }
    }

    pub(crate) fn id(&self) -> ProcessId {
        self.id
    }

    /// Whether the process still runs (reaping it if it is our child and has exited).
    pub(crate) fn is_running(&mut self) -> bool {
        if let Some(child) = &mut self.child {
            return matches!(child.try_wait(), Ok(None));
        }
        self.id.is_alive()
    }

    /// The exit status, if the process is our child and has exited.
    pub(crate) fn try_exit_status(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    pub(crate) fn signal(&self, signal: Signal) -> io::Result<bool> {
        self.id.signal(signal)
    }

    /// Waits until the process has exited, at most `timeout`; `Ok(Some(status))` when it was our
    /// child, `Ok(None)` when it was not (its status goes to its parent); `Err(())` on timeout.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> Result<Option<ExitStatus>, ()> {
        let start = Instant::now();
        loop {
            if let Some(child) = &mut self.child {
                if let Ok(Some(status)) = child.try_wait() {
                    return Ok(Some(status));
                }
            } else if !self.id.is_alive() {
                return Ok(None);
            }
            if start.elapsed() >= timeout {
                return Err(());
            }
            std::thread::sleep(POLL);
        }
    }

    /// SIGKILL and reap: what an owned process gets when its federation drops.
    pub(crate) fn kill_now(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        } else {
            let _ = self.id.signal(Signal::KILL);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        let line =
            "4242 (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                state: 'S',
                start_time: 987_654
            })
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = ProcessId::of(std::process::id()).unwrap();
        assert!(me.is_alive());
        let other = ProcessId {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!other.is_alive());
        assert!(!other.signal(Signal::TERM).unwrap());
    }
}
