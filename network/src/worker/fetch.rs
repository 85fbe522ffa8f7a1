//! Fetching a blob by hash: first from the peers suggested, then from Kademlia providers.

use std::collections::{HashSet, VecDeque};

use libp2p::PeerId;

use crate::job::ContentHash;

/// What to do next for one fetch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FetchStep {
    /// Ask this peer for the blob.
    Ask(PeerId),
    /// Ask Kademlia who provides it.
    QueryProviders,
    /// Wait for an answer already requested.
    Wait,
    /// Nobody served a blob with the right hash.
    GiveUp,
}

/// The state of one blob fetch; the event loop performs the steps it returns.
pub(crate) struct Fetch {
    pub hash: ContentHash,
    candidates: VecDeque<PeerId>,
    tried: HashSet<PeerId>,
    asking: bool,
    queried: bool,
    querying: bool,
}

impl Fetch {
    /// A fetch that first asks `first` (e.g. the coordinator that offered the job).
    pub fn new(hash: ContentHash, first: impl IntoIterator<Item = PeerId>, local: PeerId) -> Self {
        let mut fetch = Self {
            hash,
            candidates: VecDeque::new(),
            tried: HashSet::from([local]),
            asking: false,
            queried: false,
            querying: false,
        };
        fetch.add_candidates(first);
        fetch
    }

    /// Adds peers reported to hold the blob.
    pub fn add_candidates(&mut self, peers: impl IntoIterator<Item = PeerId>) {
        for peer in peers {
            if !self.tried.contains(&peer) && !self.candidates.contains(&peer) {
                self.candidates.push_back(peer);
            }
        }
    }

    /// The peer asked last answered without the blob (or with a wrong one).
    pub fn answer_failed(&mut self) {
        self.asking = false;
    }

    /// The provider query ended.
    pub fn query_done(&mut self) {
        self.querying = false;
    }

    /// The next step, updating the state as if the caller performs it.
    pub fn next_step(&mut self) -> FetchStep {
        if self.asking {
            return FetchStep::Wait;
        }
        if let Some(peer) = self.candidates.pop_front() {
            self.tried.insert(peer);
            self.asking = true;
            return FetchStep::Ask(peer);
        }
        if !self.queried {
            self.queried = true;
            self.querying = true;
            return FetchStep::QueryProviders;
        }
        if self.querying {
            FetchStep::Wait
        } else {
            FetchStep::GiveUp
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use libp2p::identity::Keypair;

    fn peer() -> PeerId {
        Keypair::generate_ed25519().public().to_peer_id()
    }

    #[test]
    fn asks_the_source_then_providers_then_gives_up() {
        let (local, source, provider) = (peer(), peer(), peer());
        let mut fetch = Fetch::new(ContentHash::of(b"x"), [source], local);
        assert_eq!(fetch.next_step(), FetchStep::Ask(source));
        assert_eq!(fetch.next_step(), FetchStep::Wait);
        fetch.answer_failed();
        assert_eq!(fetch.next_step(), FetchStep::QueryProviders);
        assert_eq!(fetch.next_step(), FetchStep::Wait);
        // Providers already tried, and the local peer, are skipped.
        fetch.add_candidates([source, local, provider]);
        assert_eq!(fetch.next_step(), FetchStep::Ask(provider));
        fetch.answer_failed();
        assert_eq!(fetch.next_step(), FetchStep::Wait);
        fetch.query_done();
        assert_eq!(fetch.next_step(), FetchStep::GiveUp);
    }
}
