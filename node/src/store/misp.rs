//! What this node remembers of the MISP events it imported (tree `misp`, outside the log): per MISP
//! event UUID the incident it became and a digest of what was published (`e ‖ uuid`), per MISP
//! sighting UUID the sighting record (`s ‖ uuid`). Written by `services::misp` only; losing it makes
//! the next import publish the events again (the duplicate check then names the live records).

use super::{Store, StoreError, sled_err};

/// A key and its value.
pub type StateEntry = (Vec<u8>, Vec<u8>);

impl Store {
    /// The MISP import state under `key`.
    pub fn misp_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .misp
            .get(key)
            .map_err(sled_err("read misp state"))?
            .map(|v| v.to_vec()))
    }

    /// Every MISP import state whose key starts with `prefix`.
    pub fn misp_scan(&self, prefix: &[u8]) -> Result<Vec<StateEntry>, StoreError> {
        self.misp
            .scan_prefix(prefix)
            .map(|item| {
                item.map(|(k, v)| (k.to_vec(), v.to_vec()))
                    .map_err(sled_err("read misp state"))
            })
            .collect()
    }

    /// Sets the MISP import state under `key` (durable when this returns).
    pub fn misp_put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.check_writable()?;
        if let Err(e) = self.misp.insert(key, value) {
            return self.poison(StoreError::Sled {
                context: "write misp state",
                error: e,
            });
        }
        self.flush()
    }
}
