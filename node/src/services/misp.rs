//! Importing mapped MISP events (`crate::misp`): idempotent and incremental. The store remembers, per
//! MISP event UUID, the incident it became and a digest of what was published; per MISP sighting UUID,
//! the sighting record. Importing the same event again publishes nothing; a changed event becomes an
//! `update` of the same incident (an attribute deleted in MISP leaves the update without it, so
//! deletions propagate), or, when its TLP got tighter (which an update may not do), a new incident
//! that supersedes the old one, revoked.

use certnet_protocol::id::RecordId;
use certnet_protocol::record::{Content, Draft, Kind, Revoke, Update};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::{NodeServices, PublishError, Published};
use crate::misp::Mapped;

/// What importing one event did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventOutcome {
    /// First import: a new incident.
    New,
    /// Changed since the last import: an update of the same incident.
    Updated,
    /// Its TLP got tighter: a new incident, the old one revoked.
    Superseded,
    /// Unchanged since the last import: nothing published for the event itself.
    Unchanged,
}

/// The result of importing one event.
#[derive(Debug)]
pub struct Imported {
    /// What happened to the event.
    pub outcome: EventOutcome,
    /// The incident the event is now.
    pub incident: RecordId,
    /// Sighting records published now (those imported before are not again).
    pub sightings: u32,
    /// Every record published, for gossip.
    pub published: Vec<Published>,
}

/// What the store keeps per MISP event.
#[derive(Debug, Serialize, Deserialize)]
struct EventState {
    incident: String,
    digest: String,
    timestamp: Option<u64>,
    /// The feed that listed it (see [`Mapped::source`]).
    #[serde(default)]
    source: Option<String>,
    /// Revoked because its source no longer lists it.
    #[serde(default)]
    withdrawn: bool,
}

fn event_key(uuid: &str) -> Vec<u8> {
    let mut k = b"e".to_vec();
    k.extend_from_slice(uuid.trim().to_ascii_lowercase().as_bytes());
    k
}

fn sighting_key(uuid: &str) -> Vec<u8> {
    let mut k = b"s".to_vec();
    k.extend_from_slice(uuid.trim().to_ascii_lowercase().as_bytes());
    k
}

/// What a re-import compares: the incident's TLP, audience and content as mapped.
fn digest_of(m: &Mapped) -> String {
    let bytes = serde_json::to_vec(&(&m.tlp, &m.to, &m.incident)).unwrap_or_default();
    hex::encode(Sha256::digest(bytes))
}

impl NodeServices {
    /// Publishes what the event `m` asks for that was not published yet (see the module docs).
    pub fn import_misp(
        &self,
        m: &Mapped,
        now_ms: u64,
        peers_have: Option<u64>,
    ) -> Result<Imported, PublishError> {
        let digest = digest_of(m);
        // A withdrawn event that comes back is a new incident.
        let state: Option<EventState> = self
            .store
            .misp_get(&event_key(&m.uuid))?
            .and_then(|v| serde_json::from_slice::<EventState>(&v).ok())
            .filter(|s| !s.withdrawn);
        let to = (!m.to.is_empty()).then_some(m.to.as_slice());
        let mut published = Vec::new();
        let incident_draft = Draft {
            kind: Kind::Incident,
            tlp: m.tlp,
            refs: vec![],
            content: Content::Incident(m.incident.clone()),
        };
        let known = state
            .as_ref()
            .and_then(|s| s.incident.parse::<RecordId>().ok());
        let (outcome, incident) = match (state, known) {
            (Some(s), Some(id)) if s.digest == digest => (EventOutcome::Unchanged, id),
            (Some(_), Some(old)) => {
                let update = Draft {
                    kind: Kind::Update,
                    tlp: m.tlp,
                    refs: vec![old],
                    content: Content::Update(Update::Incident(m.incident.clone())),
                };
                match self.publish_to(update, None, true, now_ms, peers_have) {
                    Ok(p) => {
                        published.push(p);
                        (EventOutcome::Updated, old)
                    }
                    // Tighter TLP, or the incident was revoked here: a new incident.
                    Err(PublishError::NoEffect { .. }) => {
                        let p = self.publish_new(incident_draft, to, now_ms, peers_have)?;
                        let new = p.id;
                        published.push(p);
                        let revoke = Draft {
                            kind: Kind::Revoke,
                            // At the old incident's current TLP: all who could read it learn
                            // it is withdrawn.
                            tlp: self.current_tlp(&old)?.unwrap_or(m.tlp),
                            refs: vec![old],
                            content: Content::Revoke(Revoke {
                                reason: format!(
                                    "superseded by {new} (MISP event {} changed its TLP)",
                                    m.uuid
                                ),
                            }),
                        };
                        match self.publish_to(revoke, None, true, now_ms, peers_have) {
                            Ok(p) => published.push(p),
                            Err(PublishError::NoEffect { .. }) => {} // already revoked
                            Err(e) => return Err(e),
                        }
                        (EventOutcome::Superseded, new)
                    }
                    Err(e) => return Err(e),
                }
            }
            _ => {
                let p = self.publish_new(incident_draft, to, now_ms, peers_have)?;
                let id = p.id;
                published.push(p);
                (EventOutcome::New, id)
            }
        };
        // The event's state first: a sighting that fails below does not make the event new again.
        let state = EventState {
            incident: incident.to_string(),
            digest,
            timestamp: m.timestamp,
            source: m.source.clone(),
            withdrawn: false,
        };
        self.store.misp_put(
            &event_key(&m.uuid),
            &serde_json::to_vec(&state).unwrap_or_default(),
        )?;
        let mut sightings = 0;
        for s in &m.sightings {
            let key = sighting_key(&s.uuid);
            if self.store.misp_get(&key)?.is_some() {
                continue;
            }
            let draft = Draft {
                kind: Kind::Sighting,
                tlp: m.tlp,
                refs: vec![incident],
                content: Content::Sighting(s.content.clone()),
            };
            let p = self.publish_new(draft, to, now_ms, peers_have)?;
            self.store.misp_put(&key, p.id.to_string().as_bytes())?;
            published.push(p);
            sightings += 1;
        }
        Ok(Imported {
            outcome,
            incident,
            sightings,
            published,
        })
    }

    /// Revokes the incident of every event imported from `source` that `present` (the UUIDs the
    /// source lists now) leaves out: the event was deleted in MISP. Returns their UUIDs and what was
    /// published.
    pub fn withdraw_misp(
        &self,
        source: &str,
        present: &std::collections::HashSet<String>,
        now_ms: u64,
        peers_have: Option<u64>,
    ) -> Result<(Vec<String>, Vec<Published>), PublishError> {
        let mut withdrawn = Vec::new();
        let mut published = Vec::new();
        for (key, value) in self.store.misp_scan(b"e")? {
            let Ok(mut state) = serde_json::from_slice::<EventState>(&value) else {
                continue;
            };
            let uuid = String::from_utf8_lossy(&key[1..]).into_owned();
            if state.withdrawn || state.source.as_deref() != Some(source) || present.contains(&uuid)
            {
                continue;
            }
            let Ok(incident) = state.incident.parse::<RecordId>() else {
                continue;
            };
            let revoke = Draft {
                kind: Kind::Revoke,
                tlp: self
                    .current_tlp(&incident)?
                    .unwrap_or(certnet_protocol::record::Tlp::Amber),
                refs: vec![incident],
                content: Content::Revoke(Revoke {
                    reason: format!("deleted in MISP: event {uuid} is no longer in {source}"),
                }),
            };
            match self.publish_to(revoke, None, true, now_ms, peers_have) {
                Ok(p) => published.push(p),
                Err(PublishError::NoEffect { .. }) => {} // revoked here already
                Err(e) => return Err(e),
            }
            state.withdrawn = true;
            self.store
                .misp_put(&key, &serde_json::to_vec(&state).unwrap_or_default())?;
            withdrawn.push(uuid);
        }
        Ok((withdrawn, published))
    }

    /// Publishes `draft`; if an identical live record of this node exists (an import interrupted
    /// after publishing, before remembering it), that record stands for it.
    fn publish_new(
        &self,
        draft: Draft,
        to: Option<&[String]>,
        now_ms: u64,
        peers_have: Option<u64>,
    ) -> Result<Published, PublishError> {
        match self.publish_to(draft, to, false, now_ms, peers_have) {
            Err(PublishError::Duplicate { existing, .. }) => {
                let bytes = self
                    .store
                    .get(&existing)?
                    .ok_or(PublishError::UnknownTarget { target: existing })?;
                let record = self.read_stored(&bytes)?;
                Ok(Published {
                    id: existing,
                    seq: record.payload().seq,
                    index: self.store.position(&existing)?.unwrap_or(0),
                    bytes,
                })
            }
            other => other,
        }
    }

    /// The current TLP (after updates) of a record this node holds, as it reads it.
    fn current_tlp(
        &self,
        id: &RecordId,
    ) -> Result<Option<certnet_protocol::record::Tlp>, PublishError> {
        Ok(match self.store.get(id)? {
            Some(bytes) => Some(self.current_of(&self.read_stored(&bytes)?)?.tlp),
            None => None,
        })
    }
}
