//! Follows the log and opens every sealed record addressed to this node as it arrives, whatever
//! brought it (gossip, sync, import, an own publish): the refs of opened bodies go into the store's
//! `opened` index (so an opened update counts in its target's view), a record addressed to this node
//! that does not open is flagged (logged, counted, shown by the API; never dropped). A progress mark
//! stored with each batch makes it resume where it stopped.

use std::sync::Arc;

use certnet_protocol::record::Record;
use prometheus_client::metrics::counter::Counter;
use tracing::{debug, warn};

use super::{Reading, may_be_sealed};
use crate::services::NodeServices;
use crate::store::{OpenedOutcome, StoreError, lookup_values};

/// Log entries looked at per store batch.
const BATCH: u64 = 1_000;

/// The follower's counters.
#[derive(Debug, Clone, Default)]
struct SealedMetrics {
    opened: Counter,
    unopenable: Counter,
}

/// Looks at the log entries not yet looked at, at most [`BATCH`]; whether more remain.
fn step(services: &NodeServices, metrics: &SealedMetrics) -> Result<bool, StoreError> {
    let store = services.store();
    let from = store.opened_upto()?;
    let size = store.log_size();
    if from >= size {
        return Ok(false);
    }
    let to = size.min(from + BATCH);
    let roster = services.roster();
    let mut outcomes = Vec::new();
    for entry in store.log_iter(from).take((to - from) as usize) {
        let entry = entry?;
        if !may_be_sealed(&entry.bytes) {
            continue;
        }
        let Ok(record) = Record::decode(&entry.bytes) else {
            continue;
        };
        match services.keyring().read(&roster, record.payload()) {
            Reading::Opened(opened) => {
                metrics.opened.inc();
                debug!(id = %record.id(), index = entry.index, "opened a sealed record addressed to this node");
                let digests: Vec<[u8; 8]> = lookup_values(&opened.payload)
                    .iter()
                    .filter_map(|v| services.keyring().index_digest(v))
                    .collect();
                if !opened.payload.refs.is_empty() || !digests.is_empty() {
                    outcomes.push((
                        record.id(),
                        OpenedOutcome::Opened {
                            index: entry.index,
                            refs: opened.payload.refs,
                            digests,
                        },
                    ));
                }
            }
            Reading::Unopenable(why) => {
                metrics.unopenable.inc();
                warn!(
                    id = %record.id(),
                    index = entry.index,
                    author = %record.payload().author,
                    error = %why,
                    "a sealed record addressed to this node does not open: it stays in the log (its signature is valid), flagged"
                );
                outcomes.push((record.id(), OpenedOutcome::Flag(why.to_string())));
            }
            Reading::NotForUs | Reading::Clear => {}
        }
    }
    store.put_opened(to, &outcomes)?;
    Ok(to < size)
}

/// Runs until `stop` resolves: catches up, then waits for the log to grow.
pub async fn follow(services: Arc<NodeServices>, stop: impl std::future::Future<Output = ()>) {
    let metrics = SealedMetrics::default();
    services.metrics().register(
        "sealed_opened",
        "Sealed records addressed to this node that it opened (since start)",
        metrics.opened.clone(),
    );
    services.metrics().register(
        "sealed_unopenable",
        "Sealed records addressed to this node that do not open (flagged; since start)",
        metrics.unopenable.clone(),
    );
    let mut appended = services.store().subscribe();
    tokio::pin!(stop);
    // The index entries of opened records are keyed by the newest encryption key: after a rotation
    // the tree is emptied and refilled from the log.
    let s = services.clone();
    let fingerprint = s.keyring().index_key_fingerprint();
    match tokio::task::spawn_blocking(move || s.store().reset_opened_unless_keyed_by(fingerprint))
        .await
    {
        Ok(Ok(true)) => debug!("opening the sealed records of the log afresh (new index key)"),
        Ok(Ok(false)) => {}
        Ok(Err(e)) => warn!(error = %e, "cannot check the sealed-record index key"),
        Err(_) => return,
    }
    loop {
        let (s, m) = (services.clone(), metrics.clone());
        let more = match tokio::task::spawn_blocking(move || step(&s, &m)).await {
            Ok(Ok(more)) => more,
            Ok(Err(e)) => {
                warn!(error = %e, "opening sealed records paused: the store failed; retrying in 5 s");
                tokio::select! {
                    () = &mut stop => return,
                    () = tokio::time::sleep(std::time::Duration::from_secs(5)) => continue,
                }
            }
            Err(_) => return,
        };
        if more {
            continue;
        }
        tokio::select! {
            () = &mut stop => return,
            changed = appended.changed() => if changed.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use certnet_protocol::keys::AuthorSecret;
    use certnet_protocol::record::{Draft, FeedPosition, Tlp, sample, sign_record};
    use certnet_protocol::sealed::seeded::SeededRng;
    use certnet_protocol::sealed::{EncryptionSecret, Recipient, SealContext, Sealed, seal};

    use super::*;
    use crate::membership::{Member, NetworkId, Roster, RosterCell};
    use crate::metrics::Metrics;
    use crate::store::{Store, StoreConfig};

    #[test]
    fn a_sealed_record_that_does_not_open_is_logged_and_flagged() {
        let dir = tempfile::tempdir().unwrap();
        let (x, b) = (
            AuthorSecret::from_seed(&[1; 32]),
            AuthorSecret::from_seed(&[2; 32]),
        );
        let (x_enc, b_enc) = (
            EncryptionSecret::from_bytes([11; 32]),
            EncryptionSecret::from_bytes([12; 32]),
        );
        let net = NetworkId::dev();
        let mut roster = Roster::new(net.clone());
        for (name, a, e) in [("CERT-X", &x, &x_enc), ("CERT-B", &b, &b_enc)] {
            roster
                .add_member(
                    Member::new(name.parse().unwrap(), a.public(), vec![], vec![])
                        .with_encryption_keys(vec![e.public()]),
                )
                .unwrap();
        }
        let store = Arc::new(
            Store::open(&StoreConfig {
                path: dir.path().join("store"),
                cache_capacity: 8 << 20,
                net: net.as_str().to_owned(),
                max_orphans: 100,
                disk: None,
            })
            .unwrap(),
        );
        let services = NodeServices::new(
            store,
            RosterCell::new(roster),
            b.clone(),
            Arc::new(Metrics::new()),
        )
        .unwrap()
        .with_encryption(vec![b_enc.clone()]);

        // X seals two records to B; the second with one ciphertext byte flipped, then signed: the
        // signature is valid, the content is not what B can read.
        let mut prev = None;
        let mut records = Vec::new();
        for seq in 1..=2u64 {
            let author = x.public();
            let ctx = SealContext {
                net: net.as_str(),
                author: &author,
                seq,
            };
            let to = [
                Recipient::new(x.public(), x_enc.public(), &x_enc),
                Recipient::new(b.public(), b_enc.public(), &x_enc),
            ];
            let mut body = sample::incident(seq);
            body.tlp = Tlp::Red;
            let mut sealed = seal(&body, &to, &ctx, &mut SeededRng::new([seq as u8; 32])).unwrap();
            if seq == 2 {
                let mut envelope = sealed.envelope().clone();
                envelope.ciphertext[0] ^= 1;
                sealed = Sealed::from_bytes(envelope.to_cbor()).unwrap();
            }
            let draft = Draft::sealed(Tlp::Red, sealed);
            let at = FeedPosition {
                seq,
                prev,
                time: 1_795_000_000_000 + seq,
            };
            let r = sign_record(net.as_str(), draft, at, &x).unwrap();
            prev = Some(r.id());
            records.push(r);
        }
        let ids: Vec<_> = records.iter().map(|r| r.id()).collect();
        services.store().ingest_batch(records).unwrap();
        let metrics = SealedMetrics::default();
        assert!(!step(&services, &metrics).unwrap());
        assert_eq!(services.store().log_size(), 2, "both stay in the log");
        assert_eq!(services.store().opened_upto().unwrap(), 2);
        assert_eq!(metrics.opened.get(), 1);
        assert_eq!(metrics.unopenable.get(), 1);
        assert_eq!(services.store().sealed_flag(&ids[0]).unwrap(), None);
        let flag = services.store().sealed_flag(&ids[1]).unwrap().unwrap();
        assert!(flag.contains("does not decrypt"), "{flag}");

        // The opened record's indicators are found, under the keyed digest only: the store alone
        // does not say which values the sealed record holds.
        let value = "tax-refund-1.example";
        let keyed = services.keyring().index_digest(value);
        assert!(keyed.is_some());
        let store = services.store();
        assert_eq!(
            store.indicator_entries(value, keyed, 10).unwrap().indexes,
            [0]
        );
        assert!(
            store
                .indicator_entries(value, None, 10)
                .unwrap()
                .indexes
                .is_empty()
        );
        let lookup = services
            .lookup_indicator(
                &certnet_protocol::record::normalize::detect(value).unwrap(),
                10,
                true,
                |_| true,
            )
            .unwrap();
        assert_eq!(lookup.hits.len(), 1);
        assert_eq!(lookup.hits[0].record.id(), ids[0]);
        // The tree is keyed once (emptied then, as the follower does at start), kept while the key
        // stays, and emptied again by another key (a rotation): the follower then opens afresh.
        let fingerprint = services.keyring().index_key_fingerprint();
        assert!(store.reset_opened_unless_keyed_by(fingerprint).unwrap());
        assert!(!step(&services, &metrics).unwrap());
        assert!(!store.reset_opened_unless_keyed_by(fingerprint).unwrap());
        assert_eq!(store.opened_upto().unwrap(), 2);
        assert!(store.reset_opened_unless_keyed_by([9; 8]).unwrap());
        assert_eq!(store.opened_upto().unwrap(), 0);
    }
}
