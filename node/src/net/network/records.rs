//! Records in: gossip messages offered to the intake (size checked before queuing), and the outcomes
//! of ingest jobs — gossip validation results, sync pages (next page, unbacked claims, proofs of
//! claims about this node's own feed), metrics and logs.

use std::time::Instant;

use certnet_protocol::record::peek_author;
use libp2p::PeerId;
use libp2p::gossipsub::{self, MessageAcceptance};
use tracing::{debug, error, warn};

use super::super::gossip;
use super::super::intake::Refused;
use super::super::jobs::{Batch, Facts, GossipItem, Ingested, PagePart};
use super::super::metrics::{ReasonLabels, Via, ViaLabels};
use super::super::own_feed::Verdict;
use super::super::scheduler::PageVerdict;
use super::{Network, now_ms};
use crate::ingest::Outcome;
use crate::store::{Ingest, StoreError};

impl Network {
    pub(super) fn on_gossip(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                self.metrics
                    .records_received
                    .get_or_create(&ViaLabels { via: Via::Gossip })
                    .inc();
                if message.topic != self.topic_hash {
                    self.report(&message_id, &propagation_source, MessageAcceptance::Ignore);
                    return;
                }
                let author = peek_author(&message.data);
                let item = GossipItem {
                    id: message_id.clone(),
                    source: propagation_source,
                    data: message.data,
                };
                let (id, source) = (message_id, propagation_source);
                let now = Instant::now();
                if let Some(author) = &author
                    && self.is_authors_own_node(&source, author)
                    && self.author_rates.allowance(author, now) == 0
                {
                    // The author's node pushes its feed faster than this node takes it: sync
                    // fetches the rest as the budget refills.
                    self.metrics.gossip_over_budget.inc();
                    if let Some(count) = self.denials.deny((source, "over_budget"), now) {
                        debug!(peer = %source, count, "an author's records come faster than its budget: gossip ignored (sync fetches them)");
                    }
                    self.report(&id, &source, MessageAcceptance::Ignore);
                    if self.author_rates.over_budget_from(source, now) {
                        self.offend(
                            source,
                            "flood",
                            "sends an author's records far faster than [p2p] author_rate",
                        );
                    }
                    return;
                }
                match self.intake.offer(item, author) {
                    Ok(()) => {}
                    Err(Refused::TooLarge) => {
                        // No record is this large: invalid on every node.
                        self.metrics
                            .records_rejected
                            .get_or_create(&ReasonLabels {
                                via: Via::Gossip,
                                reason: "oversize".to_owned(),
                            })
                            .inc();
                        // Rejected: gossipsub's invalid-message penalty (P4) lowers the sender's score.
                        self.report(&id, &source, MessageAcceptance::Reject);
                    }
                    Err(Refused::Full) => {
                        self.metrics.gossip_dropped.inc();
                        if let Some(count) =
                            self.denials.deny((source, "intake_full"), Instant::now())
                        {
                            debug!(peer = %source, count, "gossip lane full: messages ignored (sync delivers them)");
                        }
                        self.report(&id, &source, MessageAcceptance::Ignore);
                    }
                }
            }
            gossipsub::Event::Subscribed { peer_id, .. } => {
                debug!(peer = %peer_id, "peer subscribed to records");
            }
            gossipsub::Event::GossipsubNotSupported { peer_id } => {
                warn!(peer = %peer_id, "peer does not speak gossipsub: it gets records by sync only");
            }
            _ => {}
        }
    }

    /// Reports one gossip message's validation result.
    pub(super) fn report(
        &mut self,
        id: &gossipsub::MessageId,
        source: &PeerId,
        acceptance: MessageAcceptance,
    ) {
        self.swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(id, source, acceptance);
    }

    pub(super) fn on_ingested(&mut self, batch: Batch, result: Ingested) {
        match batch {
            Batch::Gossip(meta) => {
                let outcomes = match result {
                    Ingested::Done(outcomes) => outcomes,
                    Ingested::Failed(StoreError::DiskLow { .. } | StoreError::DiskFull { .. }) => {
                        // The disk state is logged when it changes (tick); peers deliver these
                        // again by sync once space returns.
                        Vec::new()
                    }
                    Ingested::Failed(e) => {
                        error!(error = %e, "the store refused gossip records: they are ignored (sync fetches them once the store works)");
                        Vec::new()
                    }
                    Ingested::Violation(_) => Vec::new(),
                };
                let mut outcomes = outcomes.into_iter();
                for (id, source) in meta {
                    let acceptance = match outcomes.next() {
                        Some((outcome, facts)) => {
                            self.account(Via::Gossip, source, &outcome, facts);
                            if let (Outcome::Stored(Ingest::Orphan { need_from }), Some(f)) =
                                (&outcome, facts)
                            {
                                // A node relays only records it appended, so the sender claims
                                // the records before this one: ask it for them (and count it
                                // against it if it does not serve them).
                                self.sync.claim(
                                    source,
                                    f.author,
                                    f.seq.saturating_sub(1),
                                    need_from.saturating_sub(1),
                                );
                            }

                            gossip::acceptance(&outcome)
                        }
                        None => MessageAcceptance::Ignore,
                    };
                    self.report(&id, &source, acceptance);
                }
            }
            Batch::Sync(part) => self.on_page(part, result),
        }
    }

    /// A part of a sync page was ingested. A part that broke a rule or that the store refused ends
    /// its page (the parts still waiting are dropped); the page's last part settles the fetch.
    fn on_page(&mut self, part: PagePart, result: Ingested) {
        let PagePart {
            peer,
            author,
            from_seq,
            page_from,
            last,
            target,
            proof,
        } = part;
        let end_page = |net: &mut Self, stop: bool| {
            if !last {
                net.intake.drop_page(&peer, &author, page_from);
            }
            let held = net.store.head(&author).map_or(0, |(seq, _)| seq);
            net.sync.page_done(peer, author, page_from, held, stop)
        };
        let outcomes = match result {
            Ingested::Violation(why) => {
                self.metrics.sync_request("range", "invalid");
                if proof {
                    self.own_feed.proof(peer, None);
                }
                end_page(self, true);
                self.offend(peer, "protocol", &why);
                return;
            }
            Ingested::Failed(e) => {
                if !matches!(e, StoreError::DiskLow { .. } | StoreError::DiskFull { .. }) {
                    error!(error = %e, "the store refused synced records");
                }
                if proof {
                    self.own_feed.proof(peer, None);
                }
                end_page(self, true);
                return;
            }
            Ingested::Done(outcomes) => outcomes,
        };
        let count = outcomes.len() as u64;
        let mut rejected = 0u64;
        let mut stop = false;
        let mut proven_seq = None;
        for (outcome, facts) in &outcomes {
            self.account(Via::Sync, peer, outcome, *facts);
            match outcome {
                Outcome::Rejected(_) => rejected += 1,
                Outcome::Stored(Ingest::Fork { .. } | Ingest::Frozen) | Outcome::NotMember(_) => {
                    stop = true;
                }
                Outcome::Stored(_) => {
                    if let Some(f) = facts
                        && f.author == self.own
                    {
                        proven_seq = Some(f.seq);
                    }
                }
            }
        }
        if rejected > 0 {
            stop = true;
            self.offend(
                peer,
                "invalid_record",
                &format!("{rejected} invalid records in a range of {author} from seq {from_seq}"),
            );
        }
        if proof {
            self.on_proof(peer, proven_seq.filter(|_| count == 1));
            return;
        }
        if !last && !stop {
            return;
        }
        match end_page(self, stop) {
            PageVerdict::Ok => {}
            PageVerdict::Unbacked { claimed, served_to } => self.offend(
                peer,
                "unbacked_claim",
                &format!(
                    "claimed {author} up to seq {claimed} (target {target:?}) but serves nothing after seq {served_to}"
                ),
            ),
        }
    }

    /// A proof of a claim about this node's own feed came back (`record_seq`: the seq of the own
    /// record it held, if it held one).
    fn on_proof(&mut self, peer: PeerId, record_seq: Option<u64>) {
        match self.own_feed.proof(peer, record_seq) {
            Verdict::Proven(seq) => {
                let have = self.store.head(&self.own).map_or(0, |(s, _)| s);
                warn!(peer = %peer, seq, have, "a peer holds this node's own records beyond its store (a restored backup or a lost disk): fetching them before the next publish");
                self.sync.claim(peer, self.own, seq, have);
            }
            Verdict::Unbacked(seq) => self.offend(
                peer,
                "unbacked_claim",
                &format!(
                    "claimed this node's own feed up to seq {seq} but did not hand over that record"
                ),
            ),
            Verdict::Stale => {}
        }
    }

    /// Logs and counts one record's outcome.
    fn account(&mut self, via: Via, peer: PeerId, outcome: &Outcome, facts: Option<Facts>) {
        if let (Outcome::Stored(Ingest::Appended { .. } | Ingest::Orphan { .. }), Some(f)) =
            (outcome, facts)
            && self.is_authors_own_node(&peer, &f.author)
        {
            self.author_rates.spend(&f.author, 1, Instant::now());
        }
        match outcome {
            Outcome::Stored(Ingest::Appended { unblocked, .. }) => {
                self.metrics
                    .records_accepted
                    .get_or_create(&ViaLabels { via })
                    .inc_by(1 + unblocked);
                if let Some(f) = facts {
                    let now = now_ms();
                    if f.time > now {
                        self.metrics.records_ahead_of_clock.inc();
                    } else {
                        self.metrics
                            .record_latency
                            .get_or_create(&ViaLabels { via })
                            .observe((now - f.time) as f64 / 1000.0);
                    }
                    debug!(peer = %peer, via = via.as_str(), author = %f.author, seq = f.seq, unblocked, "record accepted");
                }
            }
            Outcome::Stored(Ingest::Fork { author, seq }) => {
                self.metrics.forks_detected.inc();
                let member = self
                    .roster
                    .get()
                    .member_by_author(author)
                    .map(|m| m.name().to_string());
                error!(member = member.as_deref().unwrap_or("-"), author = %author, seq, peer = %peer, via = via.as_str(), "fork: this author signed two different records at one seq; author frozen, both records kept as proof (see /v1/forks)");
            }
            Outcome::Rejected(e) => {
                self.metrics
                    .records_rejected
                    .get_or_create(&ReasonLabels {
                        via,
                        reason: e.reason().to_owned(),
                    })
                    .inc();
                if let Some(count) = self
                    .denials
                    .deny((peer, "invalid_record"), std::time::Instant::now())
                {
                    warn!(peer = %peer, via = via.as_str(), reason = e.reason(), error = %e, count, "invalid records from peer");
                }
            }
            other => {
                if matches!(other, Outcome::Stored(Ingest::Orphan { .. })) {
                    self.metrics.records_orphaned.inc();
                }
                self.metrics
                    .records_ignored
                    .get_or_create(&ReasonLabels {
                        via,
                        reason: other.label().to_owned(),
                    })
                    .inc();
                debug!(peer = %peer, via = via.as_str(), outcome = other.label(), "record ignored");
            }
        }
    }
}
