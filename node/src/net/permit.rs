//! Work slots as RAII permits: a slot is taken by [`KeyedSlots::try_take`] and given back when its
//! [`Permit`] is dropped — when the work ends, when an early return drops it, or when a blocking job
//! panics and its closure is dropped. No code path has to remember to release anything.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

#[derive(Debug)]
struct Counts<K> {
    per_key: HashMap<K, usize>,
    total: usize,
    max_per_key: usize,
    max_total: usize,
}

/// Slots limited per key (a peer) and in total.
#[derive(Debug)]
pub(crate) struct KeyedSlots<K: Hash + Eq> {
    counts: Arc<Mutex<Counts<K>>>,
}

impl<K: Hash + Eq> Clone for KeyedSlots<K> {
    fn clone(&self) -> Self {
        Self {
            counts: self.counts.clone(),
        }
    }
}

/// One taken slot of a [`KeyedSlots`]; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Permit<K: Hash + Eq + Clone> {
    counts: Arc<Mutex<Counts<K>>>,
    key: K,
}

impl<K: Hash + Eq + Clone> KeyedSlots<K> {
    /// At most `max_per_key` slots per key and `max_total` in all.
    pub(crate) fn new(max_per_key: usize, max_total: usize) -> Self {
        Self {
            counts: Arc::new(Mutex::new(Counts {
                per_key: HashMap::new(),
                total: 0,
                max_per_key,
                max_total,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts<K>> {
        // The counts stay consistent under a panic (each update is one statement).
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for `key`, if both limits allow one.
    pub(crate) fn try_take(&self, key: &K) -> Option<Permit<K>> {
        let mut c = self.lock();
        let used = c.per_key.get(key).copied().unwrap_or(0);
        if used >= c.max_per_key || c.total >= c.max_total {
            return None;
        }
        c.per_key.insert(key.clone(), used + 1);
        c.total += 1;
        Some(Permit {
            counts: self.counts.clone(),
            key: key.clone(),
        })
    }

    /// Whether `key` could take a slot now.
    pub(crate) fn has_room(&self, key: &K) -> bool {
        let c = self.lock();
        c.per_key.get(key).copied().unwrap_or(0) < c.max_per_key && c.total < c.max_total
    }

    /// Slots taken by `key`.
    #[cfg(test)]
    pub(crate) fn used_by(&self, key: &K) -> usize {
        self.lock().per_key.get(key).copied().unwrap_or(0)
    }

    /// Slots taken in all.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.lock().total
    }
}

impl<K: Hash + Eq + Clone> Permit<K> {
    /// Whose slot this is.
    #[cfg(test)]
    pub(crate) fn key(&self) -> &K {
        &self.key
    }
}

impl<K: Hash + Eq + Clone> Drop for Permit<K> {
    fn drop(&mut self) {
        let mut c = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_key.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.per_key.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_limited_per_key_and_in_total_and_freed_on_drop() {
        let slots = KeyedSlots::new(2, 3);
        let a1 = slots.try_take(&'a').unwrap();
        let _a2 = slots.try_take(&'a').unwrap();
        assert!(slots.try_take(&'a').is_none(), "per key");
        let _b1 = slots.try_take(&'b').unwrap();
        assert!(slots.try_take(&'c').is_none(), "in total");
        assert_eq!((slots.used(), slots.used_by(&'a')), (3, 2));
        drop(a1);
        assert!(slots.has_room(&'a') && slots.has_room(&'c'));
        let c = slots.try_take(&'c').unwrap();
        assert_eq!(*c.key(), 'c');
    }

    #[test]
    fn a_panicking_owner_gives_its_slot_back() {
        let slots = KeyedSlots::new(1, 1);
        let permit = slots.try_take(&1u8).unwrap();
        let result = std::thread::spawn(move || {
            let _held = permit;
            panic!("the job failed");
        })
        .join();
        assert!(result.is_err());
        assert!(slots.try_take(&1u8).is_some(), "the slot came back");
    }
}
