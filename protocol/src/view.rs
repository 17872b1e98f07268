//! The current view of a record after its author's updates and revocations (PROTOCOL.md §8):
//! a pure function of the target and the records that refer to it, so every node computes the same.

use crate::id::RecordId;
use crate::record::{Content, Kind, Payload, Tlp, Update};

/// What a referring record did to the view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// An update replaced the content (and possibly loosened the TLP).
    Updated,
    /// A revocation withdrew the record.
    Revoked,
    /// A sighting or other reference: no effect on the content.
    Referenced,
    /// An update or revoke that does not apply, and why.
    Ignored(&'static str),
}

/// One entry of a record's history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// The referring record's id.
    pub id: RecordId,
    /// Its kind.
    pub kind: Kind,
    /// Its author's seq.
    pub seq: u64,
    /// What it did.
    pub effect: Effect,
}

/// A record as it stands now.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// Current content (the target's, or the last applied update's, unwrapped).
    pub content: Content,
    /// Current TLP.
    pub tlp: Tlp,
    /// The revocation reason, if withdrawn.
    pub revoked: Option<String>,
    /// Every referring record, in the order given, with its effect.
    pub history: Vec<HistoryEntry>,
}

/// Computes the view of `target` from the records referring to it. `referrers` may come in any order:
/// same-author updates and revocations are applied in seq order.
pub fn current_view(target: &Payload, referrers: &[(RecordId, &Payload)]) -> View {
    let mut view = View {
        content: target.content.clone(),
        tlp: target.tlp,
        revoked: None,
        history: vec![],
    };
    let mut ordered: Vec<&(RecordId, &Payload)> = referrers.iter().collect();
    ordered.sort_by_key(|(id, p)| (p.author != target.author, p.seq, *id));
    let targetable = matches!(
        target.kind,
        Kind::Incident | Kind::Indicator | Kind::Advisory | Kind::Sighting
    );
    for (id, p) in ordered {
        let effect = match (&p.kind, &p.content) {
            (Kind::Update | Kind::Revoke, _) if p.author != target.author => {
                Effect::Ignored("not by the target's author")
            }
            (Kind::Update | Kind::Revoke, _) if !targetable => {
                Effect::Ignored("target cannot be updated or revoked")
            }
            (Kind::Update | Kind::Revoke, _) if view.revoked.is_some() => {
                Effect::Ignored("target already revoked")
            }
            (Kind::Update, Content::Update(update)) => {
                if update.target_kind() != target.kind {
                    Effect::Ignored("update content is not of the target's kind")
                } else if p.tlp > view.tlp {
                    Effect::Ignored("an update may not tighten the tlp (revoke and publish anew)")
                } else {
                    view.content = unwrap_update(update);
                    view.tlp = p.tlp;
                    Effect::Updated
                }
            }
            (Kind::Revoke, Content::Revoke(revoke)) => {
                view.revoked = Some(revoke.reason.clone());
                Effect::Revoked
            }
            _ => Effect::Referenced,
        };
        view.history.push(HistoryEntry {
            id: *id,
            kind: p.kind.clone(),
            seq: p.seq,
            effect,
        });
    }
    view
}

fn unwrap_update(update: &Update) -> Content {
    match update {
        Update::Incident(c) => Content::Incident(c.clone()),
        Update::Indicator(c) => Content::Indicator(c.clone()),
        Update::Advisory(c) => Content::Advisory(c.clone()),
        Update::Sighting(c) => Content::Sighting(c.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::AuthorSecret;
    use crate::record::{Draft, FeedPosition, Revoke, Status, VerifiedRecord, sample, sign_record};

    const NET: &str = "certnet-test";

    struct Feed {
        secret: AuthorSecret,
        head: Option<(u64, RecordId)>,
    }

    impl Feed {
        fn new(seed: u8) -> Self {
            Self {
                secret: AuthorSecret::from_seed(&[seed; 32]),
                head: None,
            }
        }
        fn publish(&mut self, draft: Draft) -> VerifiedRecord {
            let seq = self.head.map_or(1, |h| h.0 + 1);
            let at = FeedPosition {
                seq,
                prev: self.head.map(|h| h.1),
                time: seq,
            };
            let r = sign_record(NET, draft, at, &self.secret).unwrap();
            self.head = Some((seq, r.id()));
            r
        }
    }

    fn update(target: RecordId, tlp: Tlp, status: Status) -> Draft {
        let Content::Incident(mut c) = sample::incident(1).content else {
            unreachable!()
        };
        c.status = status;
        Draft {
            kind: Kind::Update,
            tlp,
            refs: vec![target],
            content: Content::Update(Update::Incident(c)),
        }
    }

    fn revoke(target: RecordId) -> Draft {
        Draft {
            kind: Kind::Revoke,
            tlp: Tlp::Green,
            refs: vec![target],
            content: Content::Revoke(Revoke {
                reason: "dup".into(),
            }),
        }
    }

    fn view(target: &VerifiedRecord, refs: &[&VerifiedRecord]) -> View {
        let refs: Vec<(RecordId, &Payload)> = refs.iter().map(|r| (r.id(), r.payload())).collect();
        current_view(target.payload(), &refs)
    }

    fn status(v: &View) -> Status {
        let Content::Incident(c) = &v.content else {
            panic!("not an incident")
        };
        c.status
    }

    #[test]
    fn updates_apply_in_seq_order_and_only_loosen_tlp() {
        let mut a = Feed::new(1);
        let target = a.publish(sample::incident(1)); // amber
        let u1 = a.publish(update(target.id(), Tlp::Green, Status::Contained));
        let u2 = a.publish(update(target.id(), Tlp::Amber, Status::New)); // would tighten
        let u3 = a.publish(update(target.id(), Tlp::Clear, Status::Resolved));
        let v = view(&target, &[&u3, &u2, &u1]);
        assert_eq!((status(&v), v.tlp), (Status::Resolved, Tlp::Clear));
        let effects: Vec<_> = v
            .history
            .iter()
            .map(|h| (h.seq, h.effect.clone()))
            .collect();
        assert_eq!(effects[0], (2, Effect::Updated));
        assert!(matches!(effects[1], (3, Effect::Ignored(_))));
        assert_eq!(effects[2], (4, Effect::Updated));
    }

    #[test]
    fn only_the_author_updates_and_revoke_is_final() {
        let mut a = Feed::new(1);
        let mut b = Feed::new(2);
        let target = a.publish(sample::incident(1));
        let foreign = b.publish(update(target.id(), Tlp::Green, Status::Resolved));
        let r = a.publish(revoke(target.id()));
        let late = a.publish(update(target.id(), Tlp::Green, Status::Resolved));
        let v = view(&target, &[&foreign, &late, &r]);
        assert_eq!(v.revoked.as_deref(), Some("dup"));
        assert_eq!(status(&v), Status::Investigating);
        assert!(
            v.history
                .iter()
                .all(|h| h.id != foreign.id() || matches!(h.effect, Effect::Ignored(_)))
        );
        assert!(
            v.history
                .iter()
                .any(|h| h.id == late.id() && matches!(h.effect, Effect::Ignored(_)))
        );
    }
}
