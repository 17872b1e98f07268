//! CPU accounting from `/proc`: how busy the whole machine was during a measurement, and how much
//! CPU time the node processes used — to tell a slow path from an overloaded machine.

use std::time::Instant;

/// A snapshot of the machine's and some processes' CPU time.
#[derive(Debug, Clone)]
pub struct CpuSnapshot {
    at: Instant,
    /// Busy and total jiffies of all CPUs (`/proc/stat`, first line).
    machine: Option<(u64, u64)>,
    /// utime + stime of each process, in clock ticks (`/proc/PID/stat` fields 14 and 15).
    processes: u64,
}

/// What happened between two snapshots.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CpuUse {
    /// Share of all CPUs busy (user, system, irq…; not idle or iowait), in percent.
    pub machine_busy_pct: Option<f64>,
    /// CPU seconds the processes used.
    pub process_cpu_s: f64,
    /// Wall-clock seconds between the snapshots.
    pub wall_s: f64,
}

impl CpuSnapshot {
    /// Reads the machine's counters and those of `pids` now.
    pub fn take(pids: &[u32]) -> Self {
        Self {
            at: Instant::now(),
            machine: std::fs::read_to_string("/proc/stat")
                .ok()
                .and_then(|t| parse_machine(&t)),
            processes: pids.iter().filter_map(|&p| process_ticks(p)).sum(),
        }
    }

    /// The use from `self` to `later` (same processes).
    pub fn until(&self, later: &Self) -> CpuUse {
        let ticks = rustix::param::clock_ticks_per_second().max(1) as f64;
        let machine_busy_pct = match (self.machine, later.machine) {
            (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
                Some(100.0 * b1.saturating_sub(b0) as f64 / (t1 - t0) as f64)
            }
            _ => None,
        };
        CpuUse {
            machine_busy_pct,
            process_cpu_s: later.processes.saturating_sub(self.processes) as f64 / ticks,
            wall_s: later.at.duration_since(self.at).as_secs_f64(),
        }
    }
}

/// Busy and total jiffies from the `cpu` line of `/proc/stat`.
fn parse_machine(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal [guest guest_nice: already in user]
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied()? + fields.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// utime + stime of a process in clock ticks.
fn process_ticks(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_process(&text)
}

fn parse_process(text: &str) -> Option<u64> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the comm, field 3 (state) is index 0: utime (14) is index 11, stime (15) index 12.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A process's resident memory now and at its peak (`VmRSS`, `VmHWM` of `/proc/PID/status`), in
/// KiB.
pub fn memory_kib(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn proc_lines_are_parsed() {
        let stat = "cpu  100 5 50 800 20 3 2 0 0 0\ncpu0 1 2 3 4 5 6 7 8\n";
        assert_eq!(parse_machine(stat), Some((160, 980)));
        let line = "42 (certnet run) S 1 42 42 0 -1 4194560 100 0 0 0 250 70 0 0 20 0 8 0 1000";
        assert_eq!(parse_process(line), Some(320));
        let me = CpuSnapshot::take(&[std::process::id()]);
        let later = CpuSnapshot::take(&[std::process::id()]);
        let used = me.until(&later);
        assert!(used.wall_s >= 0.0);
        assert!(
            used.machine_busy_pct
                .is_none_or(|p| (0.0..=100.0).contains(&p))
        );
    }
}
