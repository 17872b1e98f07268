//! Free disk space as a state, not a failure. Below the watermark the store takes no more records
//! from others (peers get them again by sync once space returns); below the floor it takes none at
//! all, this node's own publishes included. Reads go on. The state is read from the file system
//! (statvfs) at most once a second and before every write, so the store refuses a write before
//! sled could run out of space in the middle of it; when space returns, the state goes back to `Ok`
//! by itself.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How much free space the store keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskLimits {
    /// Below this many free bytes, records from others are refused.
    pub watermark: u64,
    /// Below this many free bytes, every write is refused.
    pub floor: u64,
}

impl DiskLimits {
    /// The defaults for a file system of `total` bytes: the watermark the larger of 1% and 256 MiB,
    /// the floor a quarter of it.
    pub fn default_for(total: u64) -> Self {
        let watermark = (total / 100).max(256 * 1024 * 1024);
        Self {
            watermark,
            floor: watermark / 4,
        }
    }
}

/// Where the store stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskState {
    /// Enough space.
    Ok,
    /// Below the watermark: only this node's own records are written.
    Low,
    /// Below the floor: nothing is written.
    Full,
}

impl DiskState {
    /// `ok`, `low` or `full`.
    pub fn as_str(self) -> &'static str {
        match self {
            DiskState::Ok => "ok",
            DiskState::Low => "low",
            DiskState::Full => "full",
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            1 => DiskState::Low,
            2 => DiskState::Full,
            _ => DiskState::Ok,
        }
    }
}

/// How often the file system is asked at most.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// The store's view of its disk.
#[derive(Debug)]
pub(super) struct Disk {
    path: PathBuf,
    limits: Option<DiskLimits>,
    state: AtomicU8,
    /// The state last handed to [`Disk::transition`] (the network loop, which logs changes and
    /// acts on recovery); reads for writes, status and metrics never consume a change.
    reported: AtomicU8,
    free: AtomicU64,
    checked: Mutex<Option<Instant>>,
}

/// Free and total bytes of the file system holding `path`, for an unprivileged user.
fn statvfs(path: &std::path::Path) -> std::io::Result<(u64, u64)> {
    let s = rustix::fs::statvfs(path)?;
    let unit = s.f_frsize.max(1);
    Ok((
        s.f_bavail.saturating_mul(unit),
        s.f_blocks.saturating_mul(unit),
    ))
}

impl Disk {
    /// The disk of the store at `path`, with these limits (`None`: the defaults for its file
    /// system).
    pub(super) fn new(path: PathBuf, limits: Option<DiskLimits>) -> Self {
        let limits = limits.or_else(|| {
            statvfs(&path)
                .ok()
                .map(|(_, total)| DiskLimits::default_for(total))
        });
        Self {
            path,
            limits,
            state: AtomicU8::new(0),
            reported: AtomicU8::new(0),
            free: AtomicU64::new(u64::MAX),
            checked: Mutex::new(None),
        }
    }

    /// The limits in force (`None` if the file system could not be asked at open).
    pub(super) fn limits(&self) -> Option<DiskLimits> {
        self.limits
    }

    /// The state now and the free bytes, asking the file system if the last answer is older than
    /// a second (or `force`).
    pub(super) fn check(&self, force: bool) -> (DiskState, u64) {
        let Some(limits) = self.limits else {
            return (DiskState::Ok, u64::MAX);
        };
        {
            let mut checked = self.checked.lock().unwrap_or_else(|e| e.into_inner());
            let fresh = checked.is_some_and(|at| at.elapsed() < CHECK_EVERY);
            if fresh && !force {
                return (self.state(), self.free.load(Ordering::SeqCst));
            }
            *checked = Some(Instant::now());
        }
        let Ok((free, _)) = statvfs(&self.path) else {
            return (self.state(), self.free.load(Ordering::SeqCst));
        };
        let state = if free < limits.floor {
            DiskState::Full
        } else if free < limits.watermark {
            DiskState::Low
        } else {
            DiskState::Ok
        };
        self.free.store(free, Ordering::SeqCst);
        self.state.store(state as u8, Ordering::SeqCst);
        (state, free)
    }

    /// The state before, if the state changed since the last call (for one consumer: the network
    /// loop).
    pub(super) fn transition(&self) -> Option<DiskState> {
        let now = self.state.load(Ordering::SeqCst);
        let before = self.reported.swap(now, Ordering::SeqCst);
        (before != now).then(|| DiskState::from_u8(before))
    }

    /// The last state seen.
    pub(super) fn state(&self) -> DiskState {
        DiskState::from_u8(self.state.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_scale_with_the_file_system() {
        let small = DiskLimits::default_for(10 * 1024 * 1024 * 1024);
        assert_eq!(small.watermark, 256 * 1024 * 1024);
        assert_eq!(small.floor, 64 * 1024 * 1024);
        let big = DiskLimits::default_for(1 << 40);
        assert_eq!(big.watermark, (1 << 40) / 100);
    }

    #[test]
    fn the_state_follows_free_space() {
        let dir = tempfile::tempdir().unwrap();
        let (free, _) = statvfs(dir.path()).unwrap();
        let roomy = Disk::new(
            dir.path().to_owned(),
            Some(DiskLimits {
                watermark: 0,
                floor: 0,
            }),
        );
        assert_eq!(roomy.check(true).0, DiskState::Ok);
        assert_eq!(roomy.transition(), None);
        let tight = Disk::new(
            dir.path().to_owned(),
            Some(DiskLimits {
                watermark: u64::MAX,
                floor: 0,
            }),
        );
        let (state, seen) = tight.check(true);
        assert_eq!(state, DiskState::Low);
        // Other readers do not consume the change; the one consumer sees it once.
        assert_eq!(tight.check(false).0, DiskState::Low);
        assert_eq!(tight.transition(), Some(DiskState::Ok));
        assert_eq!(tight.transition(), None);
        assert!(seen > 0 && seen <= free.saturating_mul(2));
        let full = Disk::new(
            dir.path().to_owned(),
            Some(DiskLimits {
                watermark: u64::MAX,
                floor: u64::MAX,
            }),
        );
        assert_eq!(full.check(true).0, DiskState::Full);
        assert_eq!(full.transition(), Some(DiskState::Ok));
        assert_eq!(full.check(false).0, DiskState::Full);
        assert_eq!(full.transition(), None, "no change, no transition");
    }
}
