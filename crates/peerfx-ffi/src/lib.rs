//! # peerfx-ffi
//!
//! The peerfx node inside an app: a [UniFFI](https://mozilla.github.io/uniffi-rs/)
//! binding of [`peerfx_node`] for Kotlin (Android), Swift (iOS) and Python.
//! `scripts/bindings OUT_DIR` generates the three from the built library.
//!
//! An app starts a node with [`start_node`] and holds the [`PeerfxNode`] it
//! returns. Every call that may wait on the network or the disk is `async`
//! (a Kotlin `suspend fun`, a Swift `async` method, a Python coroutine); the
//! rest are quick reads of the local store. Money crosses as decimal strings
//! in major units, and as integers in minor units where an app computes with
//! it; never as a float. Errors are one enum, [`PeerfxError`], with the
//! machine code and the sentence the CLI prints. Events reach the app
//! through [`EventListener`], which the app implements.
//!
//! The node runs on a tokio runtime of its own, inside the library, so the
//! app's threads only ever wait for answers: an async call hands its work to
//! that runtime and awaits the result.
//!
//! A phone's lifecycle maps onto [`PeerfxNode::pause`] (the app goes to the
//! background: no connection, no timer, store flushed) and
//! [`PeerfxNode::resume`] (it comes back: reconnect and catch up).

mod error;
mod events;
mod inputs;
mod types;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use peerfx_core::{Market, PublicKey};
use peerfx_net::{Multiaddr, PeerId};
use peerfx_node::{input, Node, NodeConfig, NodeError, PageRequest};

pub use error::PeerfxError;
pub use events::{Event, EventListener};
pub use inputs::{BookFilter, OfferInput};
pub use types::{
    Identity, Imported, NodeOptions, Offer, OfferPage, PeerProfile, Profile, Status, Trade,
    TradeMessage, TradePage, TradeStep,
};

uniffi::setup_scaffolding!();

/// Threads of the node's runtime: two keep a phone's cores mostly free and
/// still verify gossip while a call is served.
const RUNTIME_THREADS: usize = 2;

/// Starts a node: opens (or creates) the data directory, loads (or
/// creates) the identity, starts the network. Fails if another node uses the
/// directory.
#[uniffi::export]
pub async fn start_node(options: NodeOptions) -> Result<Arc<PeerfxNode>, PeerfxError> {
    let config = config_of(&options)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(RUNTIME_THREADS)
        .thread_name("peerfx")
        .enable_all()
        .build()
        .map_err(|e| PeerfxError::internal(format!("cannot start the node's runtime: {e}")))?;
    let node = spawn_on(runtime.handle(), Node::start(config)).await?;
    Ok(Arc::new(PeerfxNode {
        runtime: Some(runtime),
        node,
        listening: Mutex::new(None),
    }))
}

/// Restores a backup into `options.data_dir`, whose node must not be
/// running: its identity (if the directory has none yet; a different one is
/// refused), and every own offer, trade and trade message it lacks. Nothing
/// is overwritten.
#[uniffi::export]
pub async fn import_backup(options: NodeOptions, backup: Vec<u8>) -> Result<Imported, PeerfxError> {
    let config = config_of(&options)?;
    // The store runs its writer on a tokio runtime: a small one for the
    // import alone.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| PeerfxError::internal(format!("cannot start a runtime: {e}")))?;
    let stats = std::thread::spawn(move || runtime.block_on(Node::import_backup(&config, &backup)))
        .join()
        .map_err(|_| PeerfxError::internal("the import panicked"))??;
    Ok(stats.into())
}

fn config_of(o: &NodeOptions) -> Result<NodeConfig, PeerfxError> {
    let profile = match o.profile {
        Profile::Default => peerfx_node::Profile::Default,
        Profile::Mobile => peerfx_node::Profile::Mobile,
    };
    let mut c = NodeConfig::with_profile(PathBuf::from(&o.data_dir), profile);
    if !o.listen.is_empty() {
        c.net.listen = parse_all::<Multiaddr>("listen address", &o.listen)?;
    }
    c.net.bootstrap = parse_all::<Multiaddr>("bootstrap address", &o.bootstrap)?;
    c.markets = parse_all::<Market>("market", &o.markets)?;
    if let Some(mdns) = o.mdns {
        c.net.mdns = mdns;
    }
    if let Some(server) = o.dht_server {
        c.net.kad_server = server;
    }
    Ok(c)
}

fn parse_all<T: std::str::FromStr>(
    what: &'static str,
    all: &[String],
) -> Result<Vec<T>, PeerfxError>
where
    T::Err: std::fmt::Display,
{
    Ok(all
        .iter()
        .map(|s| input::parse(what, s))
        .collect::<Result<_, NodeError>>()?)
}

/// Runs `work` on the node's runtime and awaits it from whatever executor
/// the app's binding uses.
async fn spawn_on<T, F>(runtime: &tokio::runtime::Handle, work: F) -> Result<T, PeerfxError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, NodeError>> + Send + 'static,
{
    match runtime.spawn(work).await {
        Ok(result) => Ok(result?),
        Err(e) => Err(PeerfxError::internal(format!("the call failed: {e}"))),
    }
}

/// A running node. Dropping the last reference stops it as
/// [`PeerfxNode::shutdown`] would, without waiting.
#[derive(uniffi::Object)]
pub struct PeerfxNode {
    /// `Some` until dropped: a runtime must not be dropped on one of its own
    /// threads, so `Drop` shuts it down in the background.
    runtime: Option<tokio::runtime::Runtime>,
    node: Node,
    listening: Mutex<Option<events::Listening>>,
}

impl Drop for PeerfxNode {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl PeerfxNode {
    async fn run<T, F, Fut>(&self, work: F) -> Result<T, PeerfxError>
    where
        T: Send + 'static,
        F: FnOnce(Node) -> Fut,
        Fut: Future<Output = Result<T, NodeError>> + Send + 'static,
    {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| PeerfxError::internal("the node was dropped"))?;
        spawn_on(runtime.handle(), work(self.node.clone())).await
    }
}

/// One of the node's own offers, as the app sees it.
fn own(node: &Node, id: peerfx_core::OfferId) -> Result<Offer, NodeError> {
    let view = node.own_offer(&id)?.ok_or(NodeError::UnknownOffer(id))?;
    Ok(Offer::from(&view))
}

fn page(after: Option<String>, limit: u32) -> PageRequest {
    PageRequest {
        after,
        limit: limit as usize,
    }
}

fn peer_key(peer: &str) -> Result<(PeerId, PublicKey), PeerfxError> {
    let id: PeerId = input::parse("peer id", peer)?;
    let key = peerfx_node::public_key_of(&id).ok_or_else(|| NodeError::Input {
        what: "peer id",
        message: format!("{peer} is not an ed25519 peer id"),
    })?;
    Ok((id, key))
}

#[uniffi::export]
impl PeerfxNode {
    /// This node's identity.
    pub fn identity(&self) -> Identity {
        Identity {
            peer_id: self.node.peer_id().to_string(),
            public_key: self.node.public_key().to_hex(),
        }
    }

    /// A snapshot: addresses, peers, book size, paused or not.
    pub async fn status(&self) -> Result<Status, PeerfxError> {
        let s = self.run(|n| async move { n.status().await }).await?;
        Ok(Status::from(&s))
    }

    /// Dials a peer ("/ip4/…/tcp/…/p2p/12D3…").
    pub async fn dial(&self, addr: String) -> Result<(), PeerfxError> {
        let addr: Multiaddr = input::parse("address", &addr)?;
        self.run(|n| async move { n.dial(addr).await }).await
    }

    /// Connected peers that follow `market`: who an offer posted now
    /// reaches at once (others get it when they sync).
    pub async fn market_peers(&self, market: String) -> Result<Vec<String>, PeerfxError> {
        let market: Market = input::parse("market", &market)?;
        let peers = self
            .run(|n| async move { n.market_peers(market).await })
            .await?;
        Ok(peers.iter().map(|p| p.to_string()).collect())
    }

    /// Follows a market ("EUR-USD"): its offers come into the book.
    pub async fn follow_market(&self, market: String) -> Result<(), PeerfxError> {
        let market: Market = input::parse("market", &market)?;
        self.run(|n| async move { n.follow_market(market).await })
            .await
    }

    /// Signs, stores (durably) and publishes a new offer.
    pub async fn post_offer(&self, offer: OfferInput) -> Result<Offer, PeerfxError> {
        let spec = input::OfferText::from(offer).to_spec()?;
        self.run(|n| async move {
            let id = n.post_offer(spec).await?.id();
            own(&n, id)
        })
        .await
    }

    /// Cancels one of this node's offers (hex id).
    pub async fn cancel_offer(&self, id: String) -> Result<(), PeerfxError> {
        let id = input::parse("offer id", &id)?;
        self.run(|n| async move { n.cancel_offer(id).await }).await
    }

    /// Publishes what remains of an offer again, with a new expiry.
    pub async fn republish(&self, id: String) -> Result<Offer, PeerfxError> {
        let id = input::parse("offer id", &id)?;
        self.run(|n| async move {
            let id = n.republish(id).await?.id();
            own(&n, id)
        })
        .await
    }

    /// This node's own offers, newest first, `limit` at a time (0: 50).
    pub fn own_offers(&self, after: Option<String>, limit: u32) -> Result<OfferPage, PeerfxError> {
        let p = self.node.own_offers(&page(after, limit))?;
        Ok(OfferPage {
            items: p.items.iter().map(Offer::from).collect(),
            next: p.next,
        })
    }

    /// Offers in the book matching `filter`, best first. A market not
    /// followed yet is followed, and its first sync awaited briefly.
    pub async fn book(&self, filter: BookFilter) -> Result<Vec<Offer>, PeerfxError> {
        let query = input::BookFilter::from(filter).to_query()?;
        self.run(|n| async move {
            let entries = n.book(&query).await?;
            let makers: Vec<PublicKey> = entries.iter().map(|e| e.offer.maker).collect();
            let profiles = n.peer_profiles(&makers)?;
            let presence = n.presence(&entries).await?;
            Ok(entries
                .iter()
                .zip(profiles)
                .zip(presence)
                .map(|((e, p), seen)| Offer::in_book(e, &p, seen))
                .collect())
        })
        .await
    }

    /// Takes `amount` (major units of the offer's `give` currency) of an
    /// offer in the book, at its rate or at `rate`, paying with `pay` (or
    /// the offer's first method). Returns the trade, signed by both.
    pub async fn take(
        &self,
        offer_id: String,
        amount: String,
        rate: Option<String>,
        pay: Option<String>,
    ) -> Result<Trade, PeerfxError> {
        let text = input::TakeText {
            offer_id,
            amount,
            rate,
            pay,
        };
        let view = self
            .run(|n| async move { n.take_text(&text).await })
            .await?;
        Ok(Trade::from(&view))
    }

    /// Signs and sends a step of a trade, or a chat line. When the peer is
    /// not reachable the step is kept and resent (`undelivered` > 0).
    pub async fn trade_step(
        &self,
        trade_id: String,
        step: TradeStep,
    ) -> Result<Trade, PeerfxError> {
        let id = input::parse("trade id", &trade_id)?;
        let view = self
            .run(|n| async move { n.trade_step(id, step.into()).await })
            .await?;
        Ok(Trade::from(&view))
    }

    /// This node's trades, newest first, without their logs.
    pub fn trades(&self, after: Option<String>, limit: u32) -> Result<TradePage, PeerfxError> {
        let p = self.node.trades(&page(after, limit))?;
        Ok(TradePage {
            items: p.items.iter().map(Trade::from).collect(),
            next: p.next,
        })
    }

    /// One trade, with its signed log (steps and chat).
    pub fn trade(&self, trade_id: String) -> Result<Trade, PeerfxError> {
        let id = input::parse("trade id", &trade_id)?;
        Ok(Trade::from(&self.node.trade(&id)?))
    }

    /// Rates the counterparty of an ended trade, 1 to 5, with a short
    /// comment; the rating is signed and gossiped.
    pub async fn rate_trade(
        &self,
        trade_id: String,
        score: u8,
        comment: String,
    ) -> Result<(), PeerfxError> {
        let id = input::parse("trade id", &trade_id)?;
        self.run(|n| async move { n.rate_trade(id, score, comment).await.map(drop) })
            .await
    }

    /// What this node thinks of a peer, from the ratings it holds.
    pub fn peer_profile(&self, peer: String) -> Result<PeerProfile, PeerfxError> {
        let (_, key) = peer_key(&peer)?;
        Ok(PeerProfile::new(&key, &self.node.peer_profile(&key)?))
    }

    /// Blocks a peer (its offers hidden, its takes refused, its connections
    /// closed), or unblocks it.
    pub async fn set_blocked(&self, peer: String, blocked: bool) -> Result<(), PeerfxError> {
        let (id, _) = peer_key(&peer)?;
        self.run(|n| async move { n.set_blocked(id, blocked).await })
            .await
    }

    /// A backup of this node: identity, own offers, trades. It holds the
    /// secret key: keep it where only the user can read it.
    pub fn export_backup(&self) -> Result<Vec<u8>, PeerfxError> {
        Ok(self.node.export_backup()?)
    }

    /// Hands every event from now on to `listener`, replacing any earlier
    /// one.
    pub fn set_listener(&self, listener: Arc<dyn EventListener>) -> Result<(), PeerfxError> {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| PeerfxError::internal("the node was dropped"))?;
        let started = events::listen(runtime.handle(), self.node.events(), listener)
            .map_err(|e| PeerfxError::internal(format!("cannot start the event thread: {e}")))?;
        let mut slot = self
            .listening
            .lock()
            .map_err(|_| PeerfxError::internal("the event listener lock is poisoned"))?;
        *slot = Some(started);
        Ok(())
    }

    /// The app goes to the background: closes every connection and
    /// listener, stops every timer, flushes the store. Until
    /// [`PeerfxNode::resume`], reads and posts work; what needs a peer now
    /// (a take) fails with [`PeerfxError::Paused`].
    pub async fn pause(&self) -> Result<(), PeerfxError> {
        self.run(|n| async move { n.pause().await }).await
    }

    /// The app is back: listens and dials again; peers sync the book both
    /// ways, and undelivered trade steps are sent.
    pub async fn resume(&self) -> Result<(), PeerfxError> {
        self.run(|n| async move { n.resume().await }).await
    }

    /// Whether the node is paused.
    pub fn is_paused(&self) -> bool {
        self.node.is_paused()
    }

    /// Stops the node and flushes its store; the data directory is free
    /// once the app drops its last reference.
    pub async fn shutdown(&self) -> Result<(), PeerfxError> {
        if let Ok(mut slot) = self.listening.lock() {
            slot.take();
        }
        self.run(|n| async move {
            n.shutdown().await;
            Ok(())
        })
        .await
    }
}
