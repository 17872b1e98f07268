//! Partitions by block lists: a node blocks the nodes of the other groups through its API, and the
//! blocks are recorded in the state so a node restarted during a partition goes back to its side.

use std::collections::BTreeSet;

use serde_json::Value;

use super::Federation;
use crate::error::Error;
use crate::state::Block;

impl Federation {
    /// Node `by` blocks node `peer` (`POST /v1/peers/{peer}/block`); recorded so a restart of
    /// `by` re-applies it.
    pub fn block(&mut self, by: usize, peer: usize) -> Result<(), Error> {
        if !self.is_running(by) {
            return Err(Error::NotRunning {
                node: self.name(by).to_owned(),
            });
        }
        self.api(by, self.clients[by].block(self.peer_id(peer)))?;
        self.record_block(by, peer);
        self.save()
    }

    /// Node `by` unblocks node `peer`.
    pub fn unblock(&mut self, by: usize, peer: usize) -> Result<(), Error> {
        if !self.is_running(by) {
            return Err(Error::NotRunning {
                node: self.name(by).to_owned(),
            });
        }
        self.api(by, self.clients[by].unblock(self.peer_id(peer)))?;
        let block = self.block_of(by, peer);
        self.state.blocked.retain(|b| *b != block);
        self.save()
    }

    fn block_of(&self, by: usize, peer: usize) -> Block {
        Block {
            by: self.name(by).to_owned(),
            peer: self.name(peer).to_owned(),
        }
    }

    fn record_block(&mut self, by: usize, peer: usize) {
        let block = self.block_of(by, peer);
        if !self.state.blocked.contains(&block) {
            self.state.blocked.push(block);
        }
    }

    /// Makes node `i`'s block list (after it started again) what the state says: the node keeps
    /// its block list across restarts, so blocks lifted while it was down are lifted now, and
    /// blocks recorded for it are applied.
    pub(super) fn reapply_blocks(&mut self, i: usize) -> Result<(), Error> {
        let held: BTreeSet<String> = match self.clients[i].peers() {
            Ok(peers) => peers
                .get("blocked")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            // No networking: no block list to reconcile.
            Err(err) if err.is_not_found() => return Ok(()),
            Err(source) => {
                return Err(Error::Api {
                    node: self.name(i).to_owned(),
                    source,
                });
            }
        };
        for j in 0..self.len() {
            if j == i {
                continue;
            }
            let want = self.state.blocked.contains(&self.block_of(i, j));
            let has = held.contains(self.peer_id(j));
            if want && !has {
                self.api(i, self.clients[i].block(self.peer_id(j)))?;
            } else if !want && has {
                self.api(i, self.clients[i].unblock(self.peer_id(j)))?;
            }
        }
        Ok(())
    }

    /// Parses `A,B|C,D` (names or numbers) into groups of node indices.
    pub fn parse_groups(&self, spec: &str) -> Result<Vec<Vec<usize>>, Error> {
        spec.split('|')
            .map(|group| {
                group
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| self.find(s))
                    .collect()
            })
            .collect()
    }

    /// Splits the testnet: every node blocks every node of the other groups (both directions), after
    /// healing any earlier partition. Every node must be in exactly one group. A node that is not
    /// running gets its blocks when it starts.
    pub fn partition(&mut self, groups: &[Vec<usize>]) -> Result<(), Error> {
        self.check_groups(groups)?;
        self.heal()?;
        for (g, group) in groups.iter().enumerate() {
            for (h, other) in groups.iter().enumerate() {
                if g == h {
                    continue;
                }
                for &by in group {
                    for &peer in other {
                        if self.is_running(by) {
                            self.api(by, self.clients[by].block(self.peer_id(peer)))?;
                        }
                        self.record_block(by, peer);
                        self.save()?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks that `groups` split the testnet: two or more non-empty groups, every node in exactly
    /// one.
    pub fn check_groups(&self, groups: &[Vec<usize>]) -> Result<(), Error> {
        if groups.len() < 2 || groups.iter().any(Vec::is_empty) {
            return Err(Error::Partition(
                "give at least two non-empty groups, e.g. `1,2|3,4`".into(),
            ));
        }
        let mut seen = BTreeSet::new();
        for &i in groups.iter().flatten() {
            if i >= self.len() {
                return Err(Error::Partition(format!(
                    "node index {i} is out of range (there are {} nodes)",
                    self.len()
                )));
            }
            if !seen.insert(i) {
                return Err(Error::Partition(format!(
                    "{} is in more than one group",
                    self.name(i)
                )));
            }
        }
        let missing: Vec<String> = (0..self.len())
            .filter(|i| !seen.contains(i))
            .map(|i| self.name(i).to_owned())
            .collect();
        if !missing.is_empty() {
            return Err(Error::Partition(format!(
                "{} in no group: name every node exactly once",
                missing.join(", ")
            )));
        }
        Ok(())
    }

    /// Lifts every block: running nodes unblock their peers; blocks held by stopped nodes are
    /// dropped from the state and lifted when the node starts (it keeps its block list across
    /// restarts). Tries every block, then reports the first failure.
    pub fn heal(&mut self) -> Result<(), Error> {
        let blocks = std::mem::take(&mut self.state.blocked);
        let mut first_err = None;
        for block in blocks {
            let (by, peer) = match (self.find(&block.by), self.find(&block.peer)) {
                (Ok(by), Ok(peer)) => (by, peer),
                _ => continue,
            };
            if !self.is_running(by) {
                continue;
            }
            if let Err(err) = self.api(by, self.clients[by].unblock(self.peer_id(peer))) {
                self.state.blocked.push(block);
                first_err.get_or_insert(err);
            }
        }
        self.save()?;
        first_err.map_or(Ok(()), Err)
    }
}
