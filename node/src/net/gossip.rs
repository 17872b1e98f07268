//! Gossipsub settings for `/certnet/<net>/records/1` (PROTOCOL.md §14) and the mapping from ingest
//! outcomes to validation results (§7).
//!
//! - Anonymous messages (no `from`, `seqno`, signature): the record's own signature is the authority,
//!   so the gossip layer adds nothing to trust and leaks no node identity into records.
//! - Message id = the 32 raw bytes of SHA-256(message data): every node must use the same function or
//!   IHAVE/IWANT exchanges fail. The same record published twice is a duplicate by construction.
//! - Explicit validation: every message is held until the event loop reports Accept, Ignore or Reject.
//! - Peer scoring on, tuned for a small, permissioned, low-traffic federation (see [`score_params`]).

use std::collections::HashSet;
use std::time::Duration;

use certnet_protocol::record::RecordError;
use libp2p::gossipsub::{
    self, IdentTopic, MessageAcceptance, MessageId, PeerScoreParams, PeerScoreThresholds,
    TopicScoreParams, ValidationMode, WhitelistSubscriptionFilter,
};
use sha2::{Digest as _, Sha256};

use crate::ingest::Outcome;
use crate::membership::NetworkId;
use crate::store::Ingest;

/// Largest gossip message on every node (PROTOCOL.md §14); a record (≤ 65 664 bytes) always fits.
pub const MAX_TRANSMIT_SIZE: usize = 256 * 1024;

/// How long a message id is remembered as seen (DESIGN.md: at least 5 minutes). Ten minutes covers a
/// slow path through the mesh with room to spare; ids are 32 bytes, so memory is not a concern.
pub const DUPLICATE_CACHE_TIME: Duration = Duration::from_secs(10 * 60);

/// The application-specific score a roster member starts with (P5, weight 1).
pub const MEMBER_SCORE: f64 = 10.0;

/// How much each sync offence (invalid records, protocol violations) lowers a peer's P5 score.
pub const OFFENCE_PENALTY: f64 = 40.0;

/// The gossip topic of network `net`.
pub fn topic(net: &NetworkId) -> IdentTopic {
    IdentTopic::new(format!("/certnet/{net}/records/1"))
}

/// The message id of gossip data: SHA-256 of the bytes, raw.
pub fn message_id_of(data: &[u8]) -> MessageId {
    MessageId::new(&Sha256::digest(data))
}

fn message_id(message: &gossipsub::Message) -> MessageId {
    message_id_of(&message.data)
}

/// The gossipsub configuration every certnet node uses.
pub fn config() -> Result<gossipsub::Config, gossipsub::ConfigBuilderError> {
    gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Anonymous)
        .validate_messages()
        .message_id_fn(message_id)
        .max_transmit_size(MAX_TRANSMIT_SIZE)
        .duplicate_cache_time(DUPLICATE_CACHE_TIME)
        .build()
}

/// Only our one topic is tracked: subscriptions to anything else are dropped unrecorded.
pub fn subscription_filter(net: &NetworkId) -> WhitelistSubscriptionFilter {
    WhitelistSubscriptionFilter(HashSet::from([topic(net).hash()]))
}

/// Peer-score parameters.
///
/// - P4 (invalid messages) is the main signal: each rejected message costs `-10 × count²`, and the
///   count decays by 1 % a second, so a peer that sent invalid records stays visibly penalised for
///   minutes and one that keeps doing it is graylisted (below -80).
/// - P3/P3b (mesh delivery deficits) are off: a quiet federation sends few records, and a member that
///   has nothing to relay is not misbehaving.
/// - P6 (IP colocation) is off: membership is gated by the roster, not by addresses, and a lab or a
///   testnet runs every node on one host.
/// - P5 (application score, weight 1) carries the roster: members get [`MEMBER_SCORE`], lowered by
///   [`OFFENCE_PENALTY`] per sync offence.
pub fn score_params(net: &NetworkId) -> PeerScoreParams {
    let topic_params = TopicScoreParams {
        topic_weight: 1.0,
        // P1: up to +6 for ten minutes in the mesh.
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 600.0,
        // P2: first deliveries of valid records, capped.
        first_message_deliveries_weight: 1.0,
        first_message_deliveries_decay: 0.9,
        first_message_deliveries_cap: 20.0,
        // P3, P3b: off (see above).
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        // P4.
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.99,
        ..TopicScoreParams::default()
    };
    let mut params = PeerScoreParams {
        topic_score_cap: 50.0,
        app_specific_weight: 1.0,
        ip_colocation_factor_weight: 0.0,
        ..PeerScoreParams::default()
    };
    params.topics.insert(topic(net).hash(), topic_params);
    params
}

/// Score thresholds: the libp2p defaults (gossip -10, publish -50, graylist -80).
pub fn score_thresholds() -> PeerScoreThresholds {
    PeerScoreThresholds::default()
}

/// The application score of a member with `offences` recent sync offences.
pub fn member_score(offences: u32) -> f64 {
    MEMBER_SCORE - OFFENCE_PENALTY * f64::from(offences)
}

/// The gossip validation result for an ingest outcome (PROTOCOL.md §7, §14).
pub fn acceptance(outcome: &Outcome) -> MessageAcceptance {
    match outcome {
        // New records, and the second record of a new fork so that every node builds the proof.
        Outcome::Stored(Ingest::Appended { .. } | Ingest::Fork { .. }) => MessageAcceptance::Accept,
        Outcome::Stored(
            Ingest::Duplicate | Ingest::Orphan { .. } | Ingest::OrphanLimit | Ingest::Frozen,
        )
        | Outcome::NotMember(_) => MessageAcceptance::Ignore,
        // A newer format version is not the relaying peer's fault (§7.1, §16): no penalty.
        Outcome::Rejected(RecordError::Version(_)) => MessageAcceptance::Ignore,
        Outcome::Rejected(_) => MessageAcceptance::Reject,
    }
}

#[cfg(test)]
mod tests {
    use certnet_protocol::keys::AuthorSecret;

    use super::*;

    #[test]
    fn message_id_and_topic_match_the_vector() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../protocol/tests/vectors/gossip.json"
        ))
        .unwrap();
        let vector: serde_json::Value = serde_json::from_str(&text).unwrap();
        let data = hex::decode(vector["message"].as_str().unwrap()).unwrap();
        let id = message_id_of(&data);
        assert_eq!(hex::encode(&id.0), vector["message_id"].as_str().unwrap());
        assert_eq!(
            topic(&"certnet-vectors".parse().unwrap()).to_string(),
            vector["topic"].as_str().unwrap()
        );
    }

    #[test]
    fn config_and_scores_are_valid() {
        let config = config().unwrap();
        assert_eq!(config.max_transmit_size(), MAX_TRANSMIT_SIZE);
        assert!(config.duplicate_cache_time() >= Duration::from_secs(300));
        assert!(config.validate_messages());
        score_params(&NetworkId::dev()).validate().unwrap();
        score_thresholds().validate().unwrap();
        assert!(member_score(0) > 0.0);
        assert!(member_score(1) < score_thresholds().gossip_threshold);
        // The ban at BAN_OFFENCES and the graylist agree: the offence that bans is the one that
        // graylists, and not one before.
        let ban = crate::net::limits::BAN_OFFENCES;
        assert!(member_score(ban) < score_thresholds().graylist_threshold);
        assert!(member_score(ban - 1) > score_thresholds().graylist_threshold);
    }

    #[test]
    fn outcomes_map_to_validation_results() {
        let key = AuthorSecret::from_seed(&[1; 32]).public();
        let accept = [
            Outcome::Stored(Ingest::Appended {
                index: 0,
                unblocked: 0,
            }),
            Outcome::Stored(Ingest::Fork {
                author: key,
                seq: 1,
            }),
        ];
        let ignore = [
            Outcome::Stored(Ingest::Duplicate),
            Outcome::Stored(Ingest::Orphan { need_from: 2 }),
            Outcome::Stored(Ingest::OrphanLimit),
            Outcome::Stored(Ingest::Frozen),
            Outcome::NotMember(key),
        ];
        for o in &accept {
            assert_eq!(acceptance(o), MessageAcceptance::Accept, "{o:?}");
        }
        for o in &ignore {
            assert_eq!(acceptance(o), MessageAcceptance::Ignore, "{o:?}");
        }
        assert_eq!(
            acceptance(&Outcome::Rejected(RecordError::BadSignature)),
            MessageAcceptance::Reject
        );
    }
}
