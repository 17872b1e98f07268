//! The roster a running node uses, replaceable without a restart (SIGHUP, `POST /v1/roster/reload`).
//!
//! Readers take a snapshot ([`RosterCell::get`]) and use it for one whole operation (an ingest batch,
//! a publish), so a reload never changes the rules halfway through. The event loop is the only
//! writer: it swaps the roster and updates the allow-list in the same step.

use std::sync::{Arc, PoisonError, RwLock};

use crate::membership::Roster;

/// A shared, replaceable roster. Clones share the same cell.
#[derive(Debug, Clone)]
pub struct RosterCell(Arc<RwLock<Arc<Roster>>>);

impl RosterCell {
    /// A cell holding `roster`.
    pub fn new(roster: Roster) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(roster))))
    }

    /// The current roster: a snapshot that later reloads do not change.
    pub fn get(&self) -> Arc<Roster> {
        // The lock only guards an `Arc` swap, which cannot leave it half-written: a poisoned lock
        // still holds a whole roster.
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the roster and returns the previous one.
    pub fn replace(&self, roster: Roster) -> Arc<Roster> {
        let mut slot = self.0.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *slot, Arc::new(roster))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::membership::NetworkId;

    #[test]
    fn snapshots_survive_a_replace() {
        let cell = RosterCell::new(Roster::new(NetworkId::dev()));
        let before = cell.get();
        let other = cell.clone();
        let old = other.replace(Roster::new("other-net".parse().unwrap()));
        assert_eq!(old.network(), &NetworkId::dev());
        assert_eq!(before.network(), &NetworkId::dev());
        assert_eq!(cell.get().network().as_str(), "other-net");
    }
}
