//! Publishing this node's records: the current-view check of updates and revokes, sealing to named
//! members (PROTOCOL.md §20), signing under the store's writer lock.

use certnet_protocol::id::RecordId;
use certnet_protocol::keys::AuthorKey;
use certnet_protocol::record::{
    Draft, FeedPosition, Kind, Payload, Record, RecordError, Tlp, sign_record,
};
use certnet_protocol::sealed::{Recipient, SealContext, SealError, seal};
use certnet_protocol::view::{Effect, HistoryEntry, current_view};
use tracing::error;

use super::recent;
use super::{CLOCK_MAX_MS, CLOCK_MIN_MS, NodeServices};

/// Most of this node's newest records a publish is compared with (duplicate check).
const MAX_DUPLICATE_SCAN: usize = 10_000;
use crate::sealed::AudienceError;
use crate::store::StoreError;

/// Why this node did not publish a record.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The local clock is clearly wrong: the node refuses to sign.
    #[error(
        "this node's clock reads {now_ms} ms since the Unix epoch, which is before 2025 or after 2100: fix the system clock (NTP) first; records are never signed with a wrong time"
    )]
    ClockWrong {
        /// What the clock read.
        now_ms: u64,
    },
    /// Peers hold later records of this node's own feed (a restored backup or a lost disk): signing
    /// now would sign a seq twice. Sync is fetching them.
    #[error(
        "peers hold this node's own records up to seq {peers_have}, this store only up to seq {have} (restored from an old backup?): they are being fetched by sync, publish again in a few seconds"
    )]
    Behind {
        /// This store's head seq of the own feed.
        have: u64,
        /// The highest seq of the own feed a peer announced.
        peers_have: u64,
    },
    /// The draft breaks a record rule.
    #[error(transparent)]
    Invalid(RecordError),
    /// An update or revoke whose target is not in this node's log (a node updates only its own
    /// records, which it always holds).
    #[error(
        "the target {target} is not in this node's log: an update or revoke names one of this node's own records (see `certnet records --author` with this node's name)"
    )]
    UnknownTarget {
        /// The `refs[0]` of the draft.
        target: RecordId,
    },
    /// An update or revoke that every node would ignore (PROTOCOL.md §8): nothing is signed.
    #[error("this {kind} would change nothing and is not signed: {rule}")]
    NoEffect {
        /// `update` or `revoke`.
        kind: String,
        /// The rule, with what to do instead.
        rule: &'static str,
    },
    /// The audience of a sealed record cannot be reached.
    #[error(transparent)]
    Audience(AudienceError),
    /// `to` on an update or revoke of a record published in clear.
    #[error(
        "the target was published in clear, so every member holds it: its update or revoke is published in clear too (leave `to` out); to restrict it, revoke it and publish a sealed record"
    )]
    SealedUpdateOfClear,
    /// Sealing failed.
    #[error("sealing failed: {0}")]
    Seal(String),
    /// The same record (kind, TLP, refs, content, audience) is live already, signed a moment ago.
    #[error(
        "identical to record {existing}, which this node signed {age_secs} s ago and which is live: nothing was signed (to publish it again anyway, pass \"force\": true, or --force)"
    )]
    Duplicate {
        /// The live record's id.
        existing: RecordId,
        /// Its age in seconds.
        age_secs: u64,
    },
    /// The store could not take the record.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for PublishError {
    fn from(e: StoreError) -> Self {
        PublishError::Store(e)
    }
}

/// A view rule (`certnet_protocol::view`), with what the operator should do instead.
fn fix_for(rule: &'static str) -> &'static str {
    match rule {
        "target already revoked" => {
            "the target is already revoked (a revoked record takes no update or second revoke): publish a new record instead"
        }
        "an update may not tighten the tlp (revoke and publish anew)" => {
            "an update may not tighten the TLP, because peers may already hold the looser version: revoke the record and publish it anew with the tighter TLP"
        }
        "not by the target's author" => {
            "only the target's author can update or revoke it: publish a sighting or a new record that refers to it"
        }
        "target cannot be updated or revoked" => {
            "only incidents, indicators, advisories and sightings can be updated or revoked"
        }
        "update content is not of the target's kind" => {
            "the update's content must be of the target's kind (e.g. {\"incident\": {...}} for an incident)"
        }
        other => other,
    }
}

/// What the duplicate check found: a live identical record (id, age in ms), and the draft's key.
#[derive(Debug, Default)]
struct DuplicateCheck {
    existing: Option<(RecordId, u64)>,
    key: Option<recent::Key>,
}

/// A record this node signed and stored durably.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// Its id.
    pub id: RecordId,
    /// Its seq in this node's feed.
    pub seq: u64,
    /// Its index in the log.
    pub index: u64,
    /// The signed COSE bytes.
    pub bytes: Vec<u8>,
}

impl NodeServices {
    /// Runs the current view's rules (PROTOCOL.md §8) on an update or revoke before it is signed:
    /// one that every node would ignore — tightening the TLP, a second revoke, an update of a revoked
    /// record, another author's target — is refused, so a write either takes effect or fails.
    fn check_effect(&self, draft: &Draft, now_ms: u64) -> Result<(), PublishError> {
        if !matches!(draft.kind, Kind::Update | Kind::Revoke) {
            return Ok(());
        }
        let Some(target_id) = draft.refs.first() else {
            return Ok(()); // sign_record refuses it, naming the rule
        };
        // Sealed records as this node reads them (it reads all of its own).
        let target = match self.store.get(target_id)? {
            Some(bytes) => self.read_stored(&bytes)?,
            None => return Err(PublishError::UnknownTarget { target: *target_id }),
        };
        let referrers = self.referrers(target_id)?;
        let mut pairs: Vec<(RecordId, &Payload)> =
            referrers.iter().map(|r| (r.id(), r.payload())).collect();
        // The draft as it would be signed: after everything this author signed so far.
        let next = Payload {
            net: self.net.clone(),
            author: self.author.public(),
            seq: u64::MAX,
            prev: None,
            time: now_ms,
            kind: draft.kind.clone(),
            tlp: draft.tlp,
            refs: draft.refs.clone(),
            content: draft.content.clone(),
        };
        let draft_id = RecordId::from_bytes([0xff; 32]);
        pairs.push((draft_id, &next));
        let view = current_view(target.payload(), &pairs);
        match view.history.iter().find(|h| h.id == draft_id) {
            Some(HistoryEntry {
                effect: Effect::Ignored(rule),
                ..
            }) => Err(PublishError::NoEffect {
                kind: draft.kind.to_string(),
                rule: fix_for(rule),
            }),
            _ => Ok(()),
        }
    }

    /// Signs `draft` as this node's next record at time `now_ms` and stores it durably (flushed before
    /// this returns). A seq is never signed twice: head lookup, signing and append happen under the
    /// store's writer lock.
    /// An update or revoke that would not take effect is refused first ([`PublishError::NoEffect`]).
    pub fn publish(
        &self,
        draft: Draft,
        now_ms: u64,
        peers_have: Option<u64>,
    ) -> Result<Published, PublishError> {
        self.publish_to(draft, None, false, now_ms, peers_have)
    }

    /// [`NodeServices::publish`], sealed to the roster members named in `to` (and this node) when
    /// `to` is given (PROTOCOL.md §20). An update or revoke of a sealed record is sealed to its
    /// target's audience, plus the members `to` adds; one of a clear record stays clear. A `red`
    /// record needs an audience. Unless `force`, a draft identical to a live record this node signed
    /// within the duplicate window is refused ([`PublishError::Duplicate`]).
    pub fn publish_to(
        &self,
        draft: Draft,
        to: Option<&[String]>,
        force: bool,
        now_ms: u64,
        peers_have: Option<u64>,
    ) -> Result<Published, PublishError> {
        if !(CLOCK_MIN_MS..CLOCK_MAX_MS).contains(&now_ms) {
            error!(
                now_ms,
                "refusing to sign: the system clock is clearly wrong"
            );
            return Err(PublishError::ClockWrong { now_ms });
        }
        self.check_effect(&draft, now_ms)?;
        let audience = self.audience(&draft, to)?;
        let DuplicateCheck {
            existing: duplicate,
            key,
        } = self.duplicate_of(&draft, audience.as_deref(), now_ms)?;
        if !force && let Some((existing, age_ms)) = duplicate {
            return Err(PublishError::Duplicate {
                existing,
                age_secs: age_ms / 1000,
            });
        }
        let refs = draft.refs.clone();
        let appended = self.store.append_own(self.author.public(), |head| {
            let have = head.map_or(0, |(seq, _)| seq);
            // Checked under the store's writer lock, against the head the record will extend.
            if let Some(peers_have) = peers_have
                && have < peers_have
            {
                return Err(PublishError::Behind { have, peers_have });
            }
            let at = FeedPosition {
                seq: have + 1,
                prev: head.map(|(_, id)| id),
                time: now_ms,
            };
            let draft = match &audience {
                None => draft,
                Some(recipients) => self.seal(&draft, recipients, at.seq)?,
            };
            sign_record(&self.net, draft, at, &self.author).map_err(PublishError::Invalid)
        });
        let (record, index) = match appended {
            Ok(Ok(done)) => done,
            Ok(Err(refused)) => return Err(refused),
            Err(err) => return Err(PublishError::Store(self.store_write_failed(err))),
        };
        if audience.is_some() && !refs.is_empty() {
            self.store
                .put_sealed_refs(&record.id(), &refs)
                .map_err(|e| PublishError::Store(self.store_write_failed(e)))?;
        }
        if let (Some(key), Some(since)) = (key, self.window_start(now_ms)) {
            self.recent
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key, record.id(), now_ms, since, MAX_DUPLICATE_SCAN);
        }
        self.metrics.record_published();
        self.own_feed_checked
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(Published {
            id: record.id(),
            seq: record.seq(),
            index,
            bytes: record.into_bytes(),
        })
    }

    /// Who a draft is sealed to: `None` to publish it in clear.
    fn audience(
        &self,
        draft: &Draft,
        to: Option<&[String]>,
    ) -> Result<Option<Vec<Recipient>>, PublishError> {
        let roster = self.roster();
        // An update or revoke goes to whoever could read its target.
        let target_audience = match (&draft.kind, draft.refs.first()) {
            (Kind::Update | Kind::Revoke, Some(target)) => match self.store.get(target)? {
                Some(bytes) => Record::decode(&bytes)
                    .ok()
                    .map(|r| (r.payload().kind == Kind::Sealed, self.present(r))),
                None => None,
            },
            _ => None,
        };
        let mut authors: Vec<AuthorKey> = Vec::new();
        match target_audience {
            Some((true, opened)) => match opened.audience() {
                Some(keys) => {
                    authors.extend(keys.iter().filter_map(|k| AuthorKey::from_bytes(*k).ok()))
                }
                None => return Err(PublishError::Audience(AudienceError::NoOwnKey)),
            },
            Some((false, _)) if to.is_some() => return Err(PublishError::SealedUpdateOfClear),
            _ => {}
        }
        if let Some(names) = to {
            let named = self
                .keyring
                .recipients_by_name(&roster, names)
                .map_err(PublishError::Audience)?;
            authors.extend(named.iter().map(|r| r.author));
        }
        if authors.is_empty() {
            return if draft.tlp == Tlp::Red {
                Err(PublishError::Invalid(RecordError::TlpRed))
            } else {
                Ok(None)
            };
        }
        self.keyring
            .recipients(&roster, &authors)
            .map(Some)
            .map_err(PublishError::Audience)
    }

    /// A live record this node signed within the duplicate window with the same kind, TLP, refs,
    /// content and audience as `draft`: its id and age; and the draft's key, to remember it by once
    /// published (`recent.rs`). `None` for both when the window is zero.
    fn duplicate_of(
        &self,
        draft: &Draft,
        audience: Option<&[Recipient]>,
        now_ms: u64,
    ) -> Result<DuplicateCheck, PublishError> {
        let Some(since) = self.window_start(now_ms) else {
            return Ok(DuplicateCheck::default());
        };
        let want: Option<Vec<[u8; 32]>> = audience.map(|rs| {
            let mut keys: Vec<[u8; 32]> = rs.iter().map(|r| *r.author.as_bytes()).collect();
            keys.sort_unstable();
            keys.dedup();
            keys
        });
        let key = recent::key_of(
            &draft.kind,
            draft.tlp,
            &draft.refs,
            &draft.content,
            want.as_deref(),
        );
        let found = {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            if !recent.is_loaded() {
                self.load_recent(&mut recent, since)?;
            }
            recent.get(&key, since)
        };
        if let Some((id, time)) = found
            && let Some(bytes) = self.store.get(&id)?
            && self
                .current_of(&self.read_stored(&bytes)?)?
                .revoked
                .is_none()
        {
            return Ok(DuplicateCheck {
                existing: Some((id, now_ms.saturating_sub(time))),
                key: Some(key),
            });
        }
        Ok(DuplicateCheck {
            existing: None,
            key: Some(key),
        })
    }

    /// The start of the duplicate window at `now_ms`; `None` when there is no window.
    fn window_start(&self, now_ms: u64) -> Option<u64> {
        let window_ms = u64::try_from(self.duplicate_window.as_millis()).unwrap_or(u64::MAX);
        (window_ms > 0).then(|| now_ms.saturating_sub(window_ms))
    }

    /// Reads the newest own records signed since `since` (at most [`MAX_DUPLICATE_SCAN`]) into
    /// `recent`, once after a start.
    fn load_recent(&self, recent: &mut recent::Recent, since: u64) -> Result<(), PublishError> {
        let own = self.author.public();
        if let Some((head, _)) = self.store.head(&own) {
            for seq in (1..=head).rev().take(MAX_DUPLICATE_SCAN) {
                let Some(bytes) = self
                    .store
                    .range(&own, seq, 1, usize::MAX)?
                    .into_iter()
                    .next()
                else {
                    break;
                };
                let record = self.read_stored(&bytes)?;
                let p = record.payload();
                if p.time < since {
                    break;
                }
                let key = recent::key_of(&p.kind, p.tlp, &p.refs, &p.content, record.audience());
                recent.insert(key, record.id(), p.time, since, usize::MAX);
            }
        }
        recent.set_loaded();
        Ok(())
    }

    /// `draft` sealed to `recipients` as this node's record at `seq`.
    fn seal(
        &self,
        draft: &Draft,
        recipients: &[Recipient],
        seq: u64,
    ) -> Result<Draft, PublishError> {
        let author = self.author.public();
        let ctx = SealContext {
            net: &self.net,
            author: &author,
            seq,
        };
        // The operating system's generator, as hpke's own defaults use it.
        let mut rng = rand_core::UnwrapErr(getrandom::SysRng);
        let sealed = seal(draft, recipients, &ctx, &mut rng).map_err(|e| match e {
            SealError::Body(e) => PublishError::Invalid(e),
            other => PublishError::Seal(other.to_string()),
        })?;
        Ok(Draft::sealed(draft.tlp, sealed))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use certnet_protocol::keys::AuthorSecret;
    use certnet_protocol::record::{Content, sample};
    use certnet_protocol::sealed::EncryptionSecret;

    use super::*;
    use crate::membership::{Member, NetworkId, Roster, RosterCell};
    use crate::metrics::Metrics;
    use crate::sealed::Keyring;
    use crate::services::testing::{NOW, services};

    #[test]
    fn publish_chains_records_and_refuses_a_wrong_clock() {
        let dir = tempfile::tempdir().unwrap();
        let s = services(dir.path());
        let a = s.publish(sample::incident(1), NOW, None).unwrap();
        let b = s.publish(sample::incident(2), NOW + 1, None).unwrap();
        assert_eq!((a.seq, a.index, b.seq, b.index), (1, 0, 2, 1));
        assert_eq!(s.store().head(&s.author_key()), Some((2, b.id)));

        for bad in [0, CLOCK_MIN_MS - 1, CLOCK_MAX_MS] {
            let err = s.publish(sample::incident(3), bad, None).unwrap_err();
            assert!(matches!(err, PublishError::ClockWrong { now_ms } if now_ms == bad));
        }
        let mut red = sample::incident(3);
        red.tlp = Tlp::Red;
        let err = s.publish(red, NOW, None).unwrap_err();
        assert!(matches!(err, PublishError::Invalid(RecordError::TlpRed)));
        assert_eq!(s.store().log_size(), 2);
    }

    /// A node (CERT-T) whose roster also lists CERT-K (with an encryption key) and CERT-N (without).
    fn sealing_services(dir: &std::path::Path) -> (NodeServices, EncryptionSecret) {
        let author = AuthorSecret::from_seed(&[7; 32]);
        let own = EncryptionSecret::from_bytes([70; 32]);
        let partner = EncryptionSecret::from_bytes([71; 32]);
        let mut roster = Roster::new(NetworkId::dev());
        let member = |name: &str, seed: u8, keys| {
            Member::new(
                name.parse().unwrap(),
                AuthorSecret::from_seed(&[seed; 32]).public(),
                vec![],
                vec![],
            )
            .with_encryption_keys(keys)
        };
        roster
            .add_member(member("CERT-T", 7, vec![own.public()]))
            .unwrap();
        roster
            .add_member(member("CERT-K", 8, vec![partner.public()]))
            .unwrap();
        roster.add_member(member("CERT-N", 9, vec![])).unwrap();
        let plain = services(dir);
        let s = NodeServices::new(
            plain.store.clone(),
            RosterCell::new(roster),
            author,
            Arc::new(Metrics::new()),
        )
        .unwrap()
        .with_encryption(vec![own]);
        (s, partner)
    }

    #[test]
    fn sealing_names_each_audience_problem_and_updates_keep_the_audience() {
        let dir = tempfile::tempdir().unwrap();
        let (s, partner) = sealing_services(dir.path());
        let names = |n: &[&str]| n.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let audience_err = |to: &[&str]| {
            let err = s
                .publish_to(sample::incident(1), Some(&names(to)), false, NOW, None)
                .unwrap_err();
            assert!(matches!(err, PublishError::Audience(_)), "{err}");
            err.to_string()
        };
        assert!(audience_err(&[]).contains("`to` is empty"));
        assert!(audience_err(&["CERT-X"]).contains("`CERT-X` is not a member"));
        let no_key = audience_err(&["CERT-N"]);
        assert!(
            no_key.contains("CERT-N") && no_key.contains("encryption key"),
            "{no_key}"
        );
        assert_eq!(s.store().log_size(), 0, "nothing was signed");

        let mut red = sample::incident(1);
        red.tlp = Tlp::Red;
        let sealed = s
            .publish_to(red.clone(), Some(&names(&["CERT-K"])), false, NOW, None)
            .unwrap();
        let stored = Record::decode(&s.store().get(&sealed.id).unwrap().unwrap()).unwrap();
        assert_eq!(stored.payload().kind, Kind::Sealed);
        assert!(stored.payload().refs.is_empty());
        // This node reads its own sealed record; so does CERT-K with its key.
        let mine = s.present(stored.clone());
        assert_eq!(mine.payload().content, red.content);
        let k_key = AuthorSecret::from_seed(&[8; 32]).public();
        let k = Keyring::new(k_key, vec![partner]);
        assert!(matches!(
            k.read(&s.roster(), stored.payload()),
            crate::sealed::Reading::Opened(_)
        ));

        // An update without `to` is sealed to the target's audience.
        let Content::Incident(mut changed) = red.content.clone() else {
            unreachable!()
        };
        changed.status = certnet_protocol::record::Status::Resolved;
        let update = Draft {
            kind: Kind::Update,
            tlp: Tlp::Red,
            refs: vec![sealed.id],
            content: Content::Update(certnet_protocol::record::Update::Incident(changed)),
        };
        let updated = s.publish(update, NOW + 1, None).unwrap();
        let stored = Record::decode(&updated.bytes).unwrap();
        assert_eq!(stored.payload().kind, Kind::Sealed);
        assert!(matches!(
            k.read(&s.roster(), stored.payload()),
            crate::sealed::Reading::Opened(o) if o.payload.kind == Kind::Update
        ));
        // The update counts in the target's view at once (a second identical revoke is refused).
        let revoke = |n| Draft {
            kind: Kind::Revoke,
            tlp: Tlp::Red,
            refs: vec![sealed.id],
            content: Content::Revoke(certnet_protocol::record::Revoke {
                reason: format!("withdrawn {n}"),
            }),
        };
        s.publish(revoke(1), NOW + 2, None).unwrap();
        let again = s.publish(revoke(2), NOW + 3, None).unwrap_err();
        assert!(matches!(again, PublishError::NoEffect { .. }), "{again}");

        // `to` on an update of a clear record is refused: everyone holds the target.
        let clear = s.publish(sample::incident(2), NOW + 4, None).unwrap();
        let mut up = sample::incident(2);
        up.tlp = Tlp::Amber;
        let Content::Incident(c) = up.content else {
            unreachable!()
        };
        let err = s
            .publish_to(
                Draft {
                    kind: Kind::Update,
                    tlp: Tlp::Amber,
                    refs: vec![clear.id],
                    content: Content::Update(certnet_protocol::record::Update::Incident(c)),
                },
                Some(&names(&["CERT-K"])),
                false,
                NOW + 5,
                None,
            )
            .unwrap_err();
        assert!(matches!(err, PublishError::SealedUpdateOfClear), "{err}");
    }
}
