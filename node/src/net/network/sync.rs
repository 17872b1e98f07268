//! Sync events: requests of peers (admitted by the serving limiter, answered by a store job) and
//! answers to this node's requests (heads compared, claims about the own feed sent for proof, pages
//! queued for the writer), failures and timeouts (offences, with backoff).

use std::time::Instant;

use certnet_protocol::sync::{SyncRequest, SyncResponse};
use libp2p::PeerId;
use libp2p::request_response::{self, InboundFailure, OutboundFailure, ResponseChannel};
use tracing::{debug, error};

use super::super::jobs::{self, Gap, PagePart, SyncPage};
use super::super::metrics::{MemberLabels, SyncLabels, Via, ViaLabels};
use super::super::scheduler::{Failure, Want};
use super::super::serving::Admission;
use super::{JobKind, Network};
use crate::store::StoreError;

impl Network {
    pub(super) fn on_sync(&mut self, event: request_response::Event<SyncRequest, SyncResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.serve(peer, request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => self.on_response(request_id, response),
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                let failure = match &error {
                    OutboundFailure::Timeout => Failure::Timeout,
                    OutboundFailure::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                        Failure::Invalid
                    }
                    _ => Failure::Other,
                };
                let Some((_, want)) = self.sync.failed(&request_id, failure, Instant::now()) else {
                    return;
                };
                if let Want::Proof { .. } = want {
                    self.own_feed.proof(peer, None);
                }
                match failure {
                    Failure::Invalid => {
                        self.metrics.sync_request(want.kind(), "invalid");
                        self.offend(peer, "protocol", &error.to_string());
                    }
                    // A peer that does not answer holds a slot for the whole timeout: an offence,
                    // and it is backed off while another candidate serves.
                    Failure::Timeout => {
                        self.metrics.sync_request(want.kind(), "timeout");
                        self.offend(
                            peer,
                            "timeout",
                            &format!("did not answer a {} request in time", want.kind()),
                        );
                    }
                    Failure::Other => {
                        self.metrics.sync_request(want.kind(), "failed");
                        debug!(peer = %peer, kind = want.kind(), error = %error, "sync request failed");
                    }
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => match &error {
                InboundFailure::Io(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    self.offend(peer, "protocol", &error.to_string());
                }
                _ => debug!(peer = %peer, error = %error, "serving a sync request failed"),
            },
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn serve(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        channel: ResponseChannel<SyncResponse>,
    ) {
        let kind = match request {
            SyncRequest::Heads => "heads",
            SyncRequest::Range { .. } => "range",
        };
        let now = Instant::now();
        let refused = match self.serving.admit(peer, &request, now) {
            Admission::Serve(permit) => {
                let store = self.store.clone();
                self.spawn(JobKind::Serve, move || {
                    jobs::serve(&store, peer, request, channel, permit)
                });
                return;
            }
            Admission::Busy => "busy",
            Admission::OverBudget => "over_budget",
        };
        // Dropping the channel tells the peer; it asks again later.
        self.metrics.sync_served(kind, "refused");
        self.metrics
            .serve_refused
            .get_or_create(&SyncLabels {
                kind,
                result: refused,
            })
            .inc();
        if let Some(count) = self.denials.deny((peer, refused), now) {
            let member = self.member_name(&peer);
            debug!(peer = %peer, member = member.as_deref().unwrap_or("-"), kind, reason = refused, count, "sync requests refused");
        }
    }

    pub(super) fn on_served(
        &mut self,
        peer: PeerId,
        kind: &'static str,
        channel: ResponseChannel<SyncResponse>,
        result: Result<SyncResponse, StoreError>,
    ) {
        match result {
            Ok(response) => {
                let sent = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response)
                    .is_ok();
                self.metrics
                    .sync_served(kind, if sent { "ok" } else { "failed" });
            }
            Err(e) => {
                self.metrics.sync_served(kind, "failed");
                error!(peer = %peer, error = %e, "cannot read the store to answer a sync request");
            }
        }
    }

    fn on_response(&mut self, id: request_response::OutboundRequestId, response: SyncResponse) {
        let Some(done) = self.sync.answered(&id) else {
            return;
        };
        let peer = done.peer;
        match (done.want, response) {
            (Want::Heads, SyncResponse::Heads(heads)) => {
                self.metrics.sync_request("heads", "ok");
                drop(done.permit);
                let roster = self.roster.get();
                self.peers.set_heads(
                    &peer,
                    heads
                        .iter()
                        .filter(|h| roster.member_by_author(&h.author).is_some())
                        .map(|h| (h.author, h.seq))
                        .collect(),
                );
                // What it claims of this node's own feed is proven before it counts.
                let claimed = heads.iter().find(|h| h.author == self.own).map(|h| h.seq);
                let local = self.store.head(&self.own).map_or(0, |(s, _)| s);
                if let Some(seq) = self.own_feed.answered(peer, claimed, local, Instant::now()) {
                    debug!(peer = %peer, seq, local, "peer claims this node's own feed is ahead: asking it for the record");
                    self.sync.want_proof(peer, seq);
                }
                let store = self.store.clone();
                let own = self.own;
                self.spawn(JobKind::Compare, move || {
                    let others = heads.into_iter().filter(|h| h.author != own).collect();
                    jobs::compare(&store, &roster, peer, others)
                });
            }
            (want @ (Want::Range { .. } | Want::Proof { .. }), SyncResponse::Records(records)) => {
                self.metrics.sync_request(want.kind(), "ok");
                self.metrics
                    .records_received
                    .get_or_create(&ViaLabels { via: Via::Sync })
                    .inc_by(records.len() as u64);
                let (author, from_seq, target, proof) = match want {
                    Want::Range {
                        author,
                        from_seq,
                        target,
                    } => (author, from_seq, Some(target), false),
                    Want::Proof { seq } => (self.own, seq, Some(seq), true),
                    Want::Heads => return,
                };
                // The slot stays taken until the page is ingested: memory stays bounded.
                self.intake.offer_page(SyncPage {
                    part: PagePart::whole(peer, author, from_seq, target, proof),
                    records,
                    permit: Some(done.permit),
                });
            }
            (want, _) => {
                if let Want::Range {
                    author, from_seq, ..
                } = &want
                {
                    self.sync.page_done(peer, *author, *from_seq, 0, true);
                }
                if let Want::Proof { .. } = want {
                    self.own_feed.proof(peer, None);
                }
                self.metrics.sync_request(want.kind(), "invalid");
                self.offend(
                    peer,
                    "protocol",
                    &format!("answered a {} request with the wrong message", want.kind()),
                );
            }
        }
    }

    pub(super) fn on_compared(&mut self, peer: PeerId, gaps: Vec<Gap>) {
        for gap in gaps {
            let lag = gap.theirs.saturating_sub(gap.ours);
            self.metrics
                .sync_lag
                .get_or_create(&MemberLabels {
                    member: gap.member.to_string(),
                })
                .set(i64::try_from(lag).unwrap_or(i64::MAX));
            if !self.peers.is_connected(&peer) {
                continue;
            }
            if gap.theirs > gap.ours {
                debug!(peer = %peer, member = %gap.member, ours = gap.ours, theirs = gap.theirs, "peer claims more: fetching, up to what it serves");
                self.sync.claim(peer, gap.author, gap.theirs, gap.ours);
            } else if gap.conflict {
                debug!(peer = %peer, member = %gap.member, seq = gap.ours, "peer holds a different record at our head seq: fetching it to check for a fork");
                self.sync.claim(peer, gap.author, gap.ours, gap.ours - 1);
            }
        }
    }
}
