//! # peerfx-net
//!
//! The peer-to-peer layer of peerfx, on libp2p. One task, the [`event_loop`],
//! owns the Swarm and does nothing else; the rest of the node talks to it through
//! a cloneable [`NetHandle`] (commands over a bounded channel, answers on
//! oneshots) and hears from it through [`NetEvents`], as in
//! rust-libp2p's file-sharing example.
//!
//! The loop never does application work. A gossiped offer goes out as a
//! [`Gossip`] with a token; the node validates it and reports the
//! verdict with [`NetHandle::report`], and only then does gossipsub forward it
//! (Accept), drop it and penalise the sender (Reject), or drop it (Ignore).
//!
//! What runs (see [`behaviour`]): TCP and QUIC with noise and yamux, DNS,
//! identify, ping, Kademlia (`/peerfx/kad/1.0.0`, server mode), gossipsub with
//! application validation and peer scoring tuned for quiet topics, mDNS behind a
//! toggle, `/peerfx/sync/3`, `/peerfx/digest/1` and `/peerfx/trade/3`,
//! circuit relay v2 client (and server, when
//! configured), DCUtR hole punching, AutoNAT, connection, memory and block-list
//! limits. All tuning is in [`NetConfig`].
//!
//! libp2p types stay inside this crate, except [`PeerId`] and [`Multiaddr`],
//! which are the vocabulary of any libp2p application.

pub mod behaviour;
pub mod codec;
mod commands;
pub mod config;
mod discovery;
mod error;
mod event_loop;
mod events;
mod locate;
mod pause;
mod police;
pub mod reach;
mod rpc;
pub mod scoring;
pub mod wake;

use std::collections::HashSet;

use peerfx_core::protocol::{
    DigestRequest, DigestResponse, MailboxRequest, MailboxResponse, SyncRequest, SyncResponse,
    TradeRequest, TradeResponse,
};
use peerfx_core::{Market, WireLimits};
use tokio::sync::{mpsc, oneshot};

pub use config::NetConfig;
pub use error::{Misbehaviour, NetError, RequestFailure};
pub use events::{Acceptance, Gossip, GossipToken, NetEvent, NetEvents, Request, ResponseToken};
pub use libp2p::{multiaddr, Multiaddr, PeerId};
pub use reach::{Nat, Reachability};
pub use wake::Wakeups;

/// A snapshot of the network's state.
#[derive(Clone, Debug, Default)]
pub struct NetInfo {
    /// This node.
    pub peer_id: Option<PeerId>,
    /// Addresses it listens on.
    pub listen_addrs: Vec<Multiaddr>,
    /// Connected peers, each with the address of one connection: a direct
    /// one if there is one (a relayed address has `/p2p-circuit`).
    pub connected: Vec<(PeerId, Multiaddr)>,
    /// Whether peers can dial this node, its relays, and hole punching.
    pub reachability: Reachability,
    /// Topics this node is subscribed to.
    pub topics: Vec<String>,
    /// Gossip messages ignored because the node was not keeping up.
    pub dropped_gossip: u64,
    /// Control events dropped because the node stopped reading them.
    pub dropped_control: u64,
    /// Peers banned now for a graylisted score.
    pub banned: usize,
    /// Peers banned so far.
    pub banned_total: u64,
    /// DHT provider announcements started (each a query to ~20 peers): one
    /// per market provided, and one per market every 12 hours.
    pub provide_queries: u64,
    /// Markets this node announces itself a provider of, sorted.
    pub providing: Vec<Market>,
}

pub(crate) enum Command {
    Listen(Multiaddr, oneshot::Sender<Result<(), NetError>>),
    Dial(Multiaddr, oneshot::Sender<Result<(), NetError>>),
    Subscribe(Market, oneshot::Sender<Result<(), NetError>>),
    Publish(Market, Vec<u8>, oneshot::Sender<Result<(), NetError>>),
    Report(GossipToken, Acceptance),
    Penalize(PeerId, Misbehaviour),
    PeersOn(Market, oneshot::Sender<Vec<PeerId>>),
    Provide(Market),
    StopProviding(Market),
    FindProviders(Market, oneshot::Sender<HashSet<PeerId>>),
    Sync(
        PeerId,
        SyncRequest,
        oneshot::Sender<Result<SyncResponse, NetError>>,
    ),
    RespondSync(ResponseToken, SyncResponse),
    Digest(
        PeerId,
        DigestRequest,
        oneshot::Sender<Result<DigestResponse, NetError>>,
    ),
    RespondDigest(ResponseToken, DigestResponse),
    Mailbox(
        PeerId,
        MailboxRequest,
        oneshot::Sender<Result<MailboxResponse, NetError>>,
    ),
    RespondMailbox(ResponseToken, MailboxResponse),
    Relays(oneshot::Sender<Vec<PeerId>>),
    Trade(
        PeerId,
        TradeRequest,
        oneshot::Sender<Result<TradeResponse, NetError>>,
    ),
    RespondTrade(ResponseToken, TradeResponse),
    Info(oneshot::Sender<NetInfo>),
    Metrics(oneshot::Sender<String>),
    PeerScore(PeerId, oneshot::Sender<Option<f64>>),
    Block(PeerId, bool),
    Pause(oneshot::Sender<()>),
    Resume(oneshot::Sender<()>),
    Shutdown(oneshot::Sender<()>),
}

/// A cloneable handle to the network task.
#[derive(Clone)]
pub struct NetHandle {
    tx: mpsc::Sender<Command>,
    peer_id: PeerId,
    wakeups: Wakeups,
}

/// Capacity of the command channel.
const COMMAND_BUFFER: usize = 256;

/// Starts the network for identity `key`: builds the Swarm, listens, dials the
/// bootstrap peers, and spawns the event loop on the current tokio runtime.
/// Returns the handle and the event stream.
pub async fn start(
    key: libp2p::identity::Keypair,
    config: NetConfig,
    limits: &WireLimits,
) -> Result<(NetHandle, NetEvents), NetError> {
    let peer_id = key.public().to_peer_id();
    let mut registry = libp2p::metrics::Registry::default();
    let scoring = scoring::Scoring::new(config.scoring.clone());
    let swarm = behaviour::build_swarm(key, &config, limits, &scoring, &mut registry)?;
    let (tx, rx) = mpsc::channel(COMMAND_BUFFER);
    let (gossip_tx, gossip) = mpsc::channel(config.event_buffer);
    let (requests_tx, requests) = mpsc::channel(config.event_buffer);
    let (control_tx, control) = mpsc::channel(config.event_buffer);
    let outbox = event_loop::Outbox {
        gossip: gossip_tx,
        requests: requests_tx,
        control: control_tx,
    };
    let listen = config.listen.clone();
    let bootstrap = config.bootstrap.clone();
    let mut swarm = swarm;
    for addr in &config.external_addresses {
        swarm.add_external_address(addr.clone());
    }
    let wakeups = Wakeups::default();
    event_loop::EventLoop::new(
        swarm,
        registry,
        rx,
        outbox,
        config,
        scoring,
        wakeups.clone(),
    )
    .spawn();
    let handle = NetHandle {
        tx,
        peer_id,
        wakeups,
    };
    for addr in listen {
        handle.listen(addr).await?;
    }
    for addr in bootstrap {
        // A bootstrap peer that is down is not fatal: others may be up, and the
        // routing refresh retries.
        if let Err(e) = handle.dial(addr).await {
            tracing::warn!("bootstrap: {e}");
        }
    }
    Ok((
        handle,
        NetEvents {
            gossip,
            requests,
            control,
        },
    ))
}

impl NetHandle {
    /// This node's PeerId.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    async fn tell(&self, cmd: Command) -> Result<(), NetError> {
        self.tx.send(cmd).await.map_err(|_| NetError::Stopped)
    }

    /// Listens on `addr` (including `/p2p-circuit` addresses through a relay).
    pub async fn listen(&self, addr: Multiaddr) -> Result<(), NetError> {
        self.call(|r| Command::Listen(addr, r)).await?
    }

    /// Dials `addr` (with `/p2p/<peer id>` if known). Returns once the dial has
    /// started; the connection shows up as [`NetEvent::PeerConnected`].
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetError> {
        self.call(|r| Command::Dial(addr, r)).await?
    }

    /// Subscribes to a market's topic.
    pub async fn subscribe(&self, market: Market) -> Result<(), NetError> {
        self.call(|r| Command::Subscribe(market, r)).await?
    }

    /// Publishes `data` on a market's topic. Having no peers on the topic yet is
    /// not an error: sync and re-announcement cover it.
    pub async fn publish(&self, market: Market, data: Vec<u8>) -> Result<(), NetError> {
        self.call(|r| Command::Publish(market, data, r)).await?
    }

    /// Reports the verdict on a gossiped message.
    pub async fn report(&self, token: GossipToken, acceptance: Acceptance) -> Result<(), NetError> {
        self.tell(Command::Report(token, acceptance)).await
    }

    /// Lowers a peer's score for something gossipsub cannot see.
    pub async fn penalize(&self, peer: PeerId, what: Misbehaviour) -> Result<(), NetError> {
        self.tell(Command::Penalize(peer, what)).await
    }

    /// Connected peers subscribed to `market`'s topic, as gossipsub knows
    /// them: the one record of who follows what.
    pub async fn peers_on(&self, market: Market) -> Result<Vec<PeerId>, NetError> {
        self.call(|r| Command::PeersOn(market, r)).await
    }

    /// Announces in the DHT that this node has offers in `market`. Asking again
    /// costs nothing: the event loop announces each market once, then again
    /// every 12 hours until [`NetHandle::stop_providing`].
    pub async fn provide(&self, market: Market) -> Result<(), NetError> {
        self.tell(Command::Provide(market)).await
    }

    /// Stops announcing this node as a provider of `market`. Records already
    /// on other peers are not withdrawn (Kademlia has no such message); they
    /// expire with their TTL.
    pub async fn stop_providing(&self, market: Market) -> Result<(), NetError> {
        self.tell(Command::StopProviding(market)).await
    }

    /// Peers that announced offers in `market` in the DHT.
    pub async fn find_providers(&self, market: Market) -> Result<HashSet<PeerId>, NetError> {
        self.call(|r| Command::FindProviders(market, r)).await
    }

    /// Asks `peer` for a page of a market.
    pub async fn sync(&self, peer: PeerId, request: SyncRequest) -> Result<SyncResponse, NetError> {
        self.call(|r| Command::Sync(peer, request, r)).await?
    }

    /// Compares our digest of a market with `peer`'s (a connected peer:
    /// the check is no reason to look one up).
    pub async fn digest(
        &self,
        peer: PeerId,
        request: DigestRequest,
    ) -> Result<DigestResponse, NetError> {
        self.call(|r| Command::Digest(peer, request, r)).await?
    }

    /// Sends a mailbox request to `peer` (a host), reaching it as any
    /// request does.
    pub async fn mailbox(
        &self,
        peer: PeerId,
        request: MailboxRequest,
    ) -> Result<MailboxResponse, NetError> {
        self.call(|r| Command::Mailbox(peer, request, r)).await?
    }

    /// Answers an inbound mailbox request.
    pub async fn respond_mailbox(
        &self,
        token: ResponseToken,
        response: MailboxResponse,
    ) -> Result<(), NetError> {
        self.tell(Command::RespondMailbox(token, response)).await
    }

    /// The relays this node knows (by identify, or from the DHT), sorted:
    /// where mailboxes are kept.
    pub async fn relays(&self) -> Result<Vec<PeerId>, NetError> {
        self.call(Command::Relays).await
    }

    /// Answers an inbound digest request.
    pub async fn respond_digest(
        &self,
        token: ResponseToken,
        response: DigestResponse,
    ) -> Result<(), NetError> {
        self.tell(Command::RespondDigest(token, response)).await
    }

    /// Answers an inbound sync request.
    pub async fn respond_sync(
        &self,
        token: ResponseToken,
        response: SyncResponse,
    ) -> Result<(), NetError> {
        self.tell(Command::RespondSync(token, response)).await
    }

    /// Sends a negotiation or trade message to `peer` and waits for the answer.
    pub async fn trade(
        &self,
        peer: PeerId,
        request: TradeRequest,
    ) -> Result<TradeResponse, NetError> {
        self.call(|r| Command::Trade(peer, request, r)).await?
    }

    /// Answers an inbound trade request.
    pub async fn respond_trade(
        &self,
        token: ResponseToken,
        response: TradeResponse,
    ) -> Result<(), NetError> {
        self.tell(Command::RespondTrade(token, response)).await
    }

    /// The network's state.
    pub async fn info(&self) -> Result<NetInfo, NetError> {
        self.call(Command::Info).await
    }

    /// libp2p's metrics (swarm, gossipsub, kad, identify, ping, relay, dcutr) in
    /// the OpenMetrics text format, without the final `# EOF` line so that the
    /// caller can append its own.
    pub async fn metrics_text(&self) -> Result<String, NetError> {
        self.call(Command::Metrics).await
    }

    /// A peer's gossipsub score (`None` if unknown).
    pub async fn peer_score(&self, peer: PeerId) -> Result<Option<f64>, NetError> {
        self.call(|r| Command::PeerScore(peer, r)).await
    }

    /// Blocks a peer (closes its connections and refuses new ones), or unblocks it.
    pub async fn set_blocked(&self, peer: PeerId, blocked: bool) -> Result<(), NetError> {
        self.tell(Command::Block(peer, blocked)).await
    }

    /// The wake-ups of the event loop's task, which the node's own tasks
    /// add theirs to.
    pub fn wakeups(&self) -> &Wakeups {
        &self.wakeups
    }

    /// Pauses the network for an app going to the background: closes every
    /// connection and listener and stops every timer, then returns. Until
    /// [`NetHandle::resume`], dials, listens and requests fail with
    /// [`NetError::Paused`]. Pausing a paused network does nothing.
    pub async fn pause(&self) -> Result<(), NetError> {
        self.call(Command::Pause).await
    }

    /// Resumes a paused network: listens again (on the same ports where they
    /// are free), re-arms relay circuits and dials the bootstrap peers.
    /// Resuming a running network does nothing.
    pub async fn resume(&self) -> Result<(), NetError> {
        self.call(Command::Resume).await
    }

    /// Stops the network: closes every connection and ends the event loop.
    pub async fn shutdown(&self) -> Result<(), NetError> {
        self.call(Command::Shutdown).await
    }
}
