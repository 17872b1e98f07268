//! Admission control in one place: every limit a peer meets, and the small tools that enforce them
//! (token buckets for request budgets, a log that reports repeated denials once a minute).
//!
//! | what | limit |
//! |---|---|
//! | connections | 1 per peer, 16 incoming still handshaking, 64 established incoming, 128 in all; none while the process holds more than [`MAX_PROCESS_MEMORY`] |
//! | gossip intake | messages over [`certnet_protocol::record::MAX_RECORD`] refused before queuing; [`MAX_INTAKE_BYTES`] queued in all, [`MAX_LANE_BYTES`] per peer and author; records per author and second from the author's own node, gossip and sync together ([`DEFAULT_AUTHOR_BURST`], [`DEFAULT_AUTHOR_RATE`]; beyond it, they wait); batches of [`MAX_GOSSIP_BATCH`], [`MAX_LANE_BATCH`] per lane; sync pages ingested in parts of [`MAX_LANE_BATCH`] |
//! | sync responses | one frame of `MAX_RESPONSE_BYTES`, decoded without allocating before its counts are checked |
//! | sync requests served | [`SERVE_PER_PEER`] at once per peer, [`SERVE_TOTAL`] in all; Heads and Range budgets per peer ([`HEADS_BUDGET`], [`RANGE_BUDGET`]) |
//! | sync requests sent | [`FETCH_PER_PEER`] per peer, [`FETCH_TOTAL`] in all; a timeout is an offence and backs the peer off |
//! | orphans | per author (`store`), expiring |
//! | offences | a peer reaching [`BAN_OFFENCES`] recent offences (invalid records, protocol violations, unbacked claims, timeouts) or a gossip score below the graylist threshold is disconnected and refused for [`BAN_BASE`], doubling up to [`BAN_MAX`] |

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Incoming connections still in their handshake.
pub(crate) const MAX_PENDING_INCOMING: u32 = 16;
/// Outgoing dials in progress.
pub(crate) const MAX_PENDING_OUTGOING: u32 = 64;
/// Established incoming connections.
pub(crate) const MAX_ESTABLISHED_INCOMING: u32 = 64;
/// Established connections in all (a federation has a few dozen members).
pub(crate) const MAX_ESTABLISHED: u32 = 128;
/// Process memory above which new connections are refused.
pub(crate) const MAX_PROCESS_MEMORY: usize = 2 * 1024 * 1024 * 1024;

/// Bytes of gossip waiting for validation, all peers together.
pub(crate) const MAX_INTAKE_BYTES: usize = 32 * 1024 * 1024;
/// Bytes of gossip waiting per (peer, author) lane.
pub(crate) const MAX_LANE_BYTES: usize = 2 * 1024 * 1024;
/// How fast a member's own node may push its records to this node, gossip and sync together
/// ([`super::author_rate`]): a burst of this many records, above a day of a CERT's publishing
/// (`[p2p] author_burst`)...
pub const DEFAULT_AUTHOR_BURST: u64 = 500;
/// ...then this many a second (`[p2p] author_rate`); beyond it the records wait (sync fetches them
/// as the budget refills), so one member's full-rate flood of valid records costs every node a
/// bounded share of its CPU and disk.
pub const DEFAULT_AUTHOR_RATE: u64 = 100;
/// Most gossip messages in one ingest batch.
pub(crate) const MAX_GOSSIP_BATCH: usize = 512;
/// Most messages one (peer, author) lane adds to one batch: a batch is verified and stored as a
/// unit, and every other lane's next message waits for the batch in progress, so while one lane
/// floods, batches stay short (this many of its records, plus one round of everyone else's).
pub(crate) const MAX_LANE_BATCH: usize = 32;

/// Sync requests served at once for one peer.
pub(crate) const SERVE_PER_PEER: usize = 4;
/// Sync requests served at once, all peers together.
pub(crate) const SERVE_TOTAL: usize = 16;
/// Heads requests a peer may make: a burst of 4, then one every 5 s.
pub(crate) const HEADS_BUDGET: Budget = Budget {
    burst: 4.0,
    per_sec: 0.2,
};
/// Range requests a peer may make: a burst of 64, then 16 a second.
pub(crate) const RANGE_BUDGET: Budget = Budget {
    burst: 64.0,
    per_sec: 16.0,
};

/// Sync requests in flight (sent, or answered and waiting for ingest) to one peer.
pub(crate) const FETCH_PER_PEER: usize = 2;
/// Sync requests in flight, all peers together.
pub(crate) const FETCH_TOTAL: usize = 8;
/// How long a peer that timed out is not asked again, at first (doubling per timeout).
pub(crate) const FETCH_BACKOFF: Duration = Duration::from_secs(10);
/// Longest backoff.
pub(crate) const FETCH_BACKOFF_MAX: Duration = Duration::from_secs(5 * 60);

/// How long a claim about this node's own feed may stay unproven before it counts as unbacked.
pub(crate) const PROOF_DEADLINE: Duration = Duration::from_secs(10);

/// Recent offences that get a peer disconnected and refused for a while: three strikes. At three,
/// the offences have also taken the peer's gossip score below the graylist threshold
/// (`gossip::member_score`), so gossip ignores it anyway; the ban makes that explicit and frees its
/// connection.
pub(crate) const BAN_OFFENCES: u32 = 3;
/// First ban; each later one doubles.
pub(crate) const BAN_BASE: Duration = Duration::from_secs(60);
/// Longest ban.
pub(crate) const BAN_MAX: Duration = Duration::from_secs(60 * 60);

/// Repeated denials of one kind for one peer are logged at most this often, with a count.
pub(crate) const DENIAL_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// A token bucket's shape: how many at once, and how fast it refills.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Capacity.
    pub burst: f64,
    /// Refill per second.
    pub per_sec: f64,
}

/// A token bucket.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    budget: Budget,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket.
    pub(crate) fn new(budget: Budget, now: Instant) -> Self {
        Self {
            budget,
            tokens: budget.burst,
            at: now,
        }
    }

    /// Whether the bucket is full at `now` (then it is the same as a new one).
    pub(crate) fn is_full(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens + elapsed * self.budget.per_sec >= self.budget.burst
    }

    /// Tokens available now (none while a debt is being repaid).
    pub(crate) fn available(&mut self, now: Instant) -> f64 {
        self.refill(now);
        self.tokens.max(0.0)
    }

    /// Spends `count` tokens, going into debt (at most one burst) if there are fewer: what was
    /// already taken is paid back before anything more is allowed.
    pub(crate) fn spend(&mut self, count: f64, now: Instant) {
        self.refill(now);
        self.tokens = (self.tokens - count).max(-self.budget.burst);
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.budget.per_sec).min(self.budget.burst);
        self.at = now;
    }

    /// Takes one token if there is one.
    pub(crate) fn take(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Says when a repeated denial should be logged: the first time, then at most once per
/// [`DENIAL_LOG_INTERVAL`] with the number of denials since the last line.
#[derive(Debug)]
pub(crate) struct DenialLog<K: Hash + Eq> {
    seen: HashMap<K, (Instant, u64)>,
}

impl<K: Hash + Eq> Default for DenialLog<K> {
    fn default() -> Self {
        Self {
            seen: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq> DenialLog<K> {
    /// Counts one denial for `key`; `Some(n)` when a line is due, `n` the denials it reports.
    pub(crate) fn deny(&mut self, key: K, now: Instant) -> Option<u64> {
        if self.seen.len() > 10_000 {
            self.seen
                .retain(|_, (at, _)| now.saturating_duration_since(*at) < DENIAL_LOG_INTERVAL);
        }
        match self.seen.get_mut(&key) {
            Some((at, count)) if now.saturating_duration_since(*at) < DENIAL_LOG_INTERVAL => {
                *count += 1;
                None
            }
            Some((at, count)) => {
                let n = *count + 1;
                *at = now;
                *count = 0;
                Some(n)
            }
            None => {
                self.seen.insert(key, (now, 0));
                Some(1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_allow_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(
            Budget {
                burst: 2.0,
                per_sec: 1.0,
            },
            t0,
        );
        assert!(b.take(t0) && b.take(t0));
        assert!(!b.take(t0));
        assert!(!b.take(t0 + Duration::from_millis(500)));
        assert!(b.take(t0 + Duration::from_millis(1100)));
        assert!(b.take(t0 + Duration::from_secs(60)) && b.take(t0 + Duration::from_secs(60)));
        assert!(!b.take(t0 + Duration::from_secs(60)), "capped at the burst");
    }

    #[test]
    fn denials_are_logged_once_a_minute_with_a_count() {
        let t0 = Instant::now();
        let mut log = DenialLog::default();
        assert_eq!(log.deny("p", t0), Some(1));
        for i in 1..100 {
            assert_eq!(log.deny("p", t0 + Duration::from_millis(i)), None);
        }
        assert_eq!(log.deny("q", t0), Some(1), "another key has its own line");
        assert_eq!(log.deny("p", t0 + DENIAL_LOG_INTERVAL), Some(100));
        assert_eq!(log.deny("p", t0 + DENIAL_LOG_INTERVAL), None);
    }
}
