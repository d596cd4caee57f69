//! The libp2p behaviours a peerfx node runs, and how the Swarm is built.

use std::num::NonZeroUsize;
use std::time::Duration;

use libp2p::{
    allow_block_list, autonat, connection_limits, dcutr, gossipsub, identify, kad, mdns,
    memory_connection_limits, noise, ping, relay, request_response,
    swarm::behaviour::toggle::Toggle, swarm::NetworkBehaviour, tcp, yamux, StreamProtocol, Swarm,
    SwarmBuilder,
};
use peerfx_core::protocol::{
    DigestRequest, DigestResponse, MailboxRequest, MailboxResponse, SyncRequest, SyncResponse,
    TradeRequest, TradeResponse, DIGEST_PROTOCOL, IDENTIFY_PROTOCOL, KAD_PROTOCOL,
    MAILBOX_PROTOCOL, MAX_DIGEST_MESSAGE_BYTES, MAX_MAILBOX_REQUEST_BYTES,
    MAX_MAILBOX_RESPONSE_BYTES, SYNC_PROTOCOL, TRADE_PROTOCOL,
};
use peerfx_core::{Market, WireLimits};
use sha2::{Digest, Sha256};

use crate::codec::Codec;
use crate::config::NetConfig;
use crate::scoring::{Scoring, THRESHOLDS};
use crate::NetError;

/// The codec of `/peerfx/sync`.
pub type SyncCodec = Codec<SyncRequest, SyncResponse>;

/// The codec of `/peerfx/digest`.
pub type DigestCodec = Codec<DigestRequest, DigestResponse>;

/// The codec of `/peerfx/mailbox`.
pub type MailboxCodec = Codec<MailboxRequest, MailboxResponse>;

/// The codec of `/peerfx/trade`.
pub type TradeCodec = Codec<TradeRequest, TradeResponse>;

/// Everything a node speaks. Limits come first so they can refuse a connection
/// before any other behaviour spends anything on it.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    pub(crate) limits: connection_limits::Behaviour,
    pub(crate) memory: memory_connection_limits::Behaviour,
    pub(crate) blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    pub(crate) identify: identify::Behaviour,
    pub(crate) ping: ping::Behaviour,
    pub(crate) kad: kad::Behaviour<kad::store::MemoryStore>,
    pub(crate) gossipsub: gossipsub::Behaviour<gossipsub::IdentityTransform, TopicFilter>,
    pub(crate) mdns: Toggle<mdns::tokio::Behaviour>,
    pub(crate) sync: request_response::Behaviour<SyncCodec>,
    pub(crate) digest: request_response::Behaviour<DigestCodec>,
    pub(crate) mailbox: request_response::Behaviour<MailboxCodec>,
    pub(crate) trade: request_response::Behaviour<TradeCodec>,
    pub(crate) relay_client: relay::client::Behaviour,
    pub(crate) relay_server: Toggle<relay::Behaviour>,
    pub(crate) dcutr: dcutr::Behaviour,
    pub(crate) autonat: autonat::Behaviour,
}

/// Gossipsub's subscription filter: only market topics, at most
/// [`NetConfig::max_peer_topics`] per peer. A peer's subscriptions to
/// anything else are not tracked at all, so they cost nothing.
pub type TopicFilter = gossipsub::MaxCountSubscriptionFilter<
    gossipsub::CallbackSubscriptionFilter<fn(&gossipsub::TopicHash) -> bool>,
>;

fn is_market_topic(topic: &gossipsub::TopicHash) -> bool {
    Market::from_topic(topic.as_str()).is_some()
}

fn gossipsub_config(
    config: &NetConfig,
    limits: &WireLimits,
) -> Result<gossipsub::Config, NetError> {
    gossipsub::ConfigBuilder::default()
        .heartbeat_interval(config.gossip_heartbeat)
        .heartbeat_initial_delay(config.gossip_heartbeat.min(Duration::from_millis(500)))
        // Small nets must form a mesh: with libp2p's mesh_n_low of 4, three nodes
        // never would.
        .mesh_n(6)
        .mesh_n_low(1)
        .mesh_n_high(12)
        .mesh_outbound_min(1)
        // The frame limit bounds whole RPCs, control messages included, not
        // just offers: an IHAVE lists up to `max_control_messages_sent` ids
        // of ~22 bytes each (5 000 in go-libp2p and js-libp2p, ~110 KB). A
        // peer whose frame is over the limit gets its stream closed, and every
        // message behind it on that stream is lost until it reconnects, so
        // the limit must hold the largest frame any peer sends. Offers are
        // held to `WireLimits::max_gossip_bytes` by the node (Reject).
        .max_transmit_size(MAX_FRAME_BYTES.max(limits.max_gossip_bytes()))
        .max_control_messages_sent(MAX_IHAVE_IDS)
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        // Content-addressed ids: identical bytes are one message wherever they come
        // from, which is what makes IHAVE/IWANT work across implementations.
        .message_id_fn(|m: &gossipsub::Message| {
            gossipsub::MessageId::from(&Sha256::digest(&m.data)[..20])
        })
        .build()
        .map_err(config_err("gossipsub"))
}

/// Largest gossipsub frame read or sent (see `gossipsub_config`).
pub const MAX_FRAME_BYTES: usize = 256 * 1024;

/// Most message ids this node puts in one IHAVE or IWANT: ~22 KB.
const MAX_IHAVE_IDS: usize = 1000;

/// Wraps a setup error of `what` in [`NetError::Config`].
fn config_err<E: std::error::Error + Send + Sync + 'static>(
    what: &'static str,
) -> impl FnOnce(E) -> NetError {
    move |e| NetError::Config {
        what,
        source: Box::new(e),
    }
}

/// The DNS resolver for `/dns` addresses: the system's where it can be read
/// without help, else Cloudflare's public resolvers. On Android, reading the
/// system's takes a JVM context that a library embedded through the FFI
/// does not have (hickory would panic), so Android always uses the public
/// ones.
fn resolver() -> (
    hickory_resolver::config::ResolverConfig,
    hickory_resolver::config::ResolverOpts,
) {
    #[cfg(not(target_os = "android"))]
    match hickory_resolver::system_conf::read_system_conf() {
        Ok(system) => return system,
        Err(e) => tracing::info!("no system DNS configuration ({e}): using Cloudflare's resolvers"),
    }
    (
        hickory_resolver::config::ResolverConfig::udp_and_tcp(
            &hickory_resolver::config::CLOUDFLARE,
        ),
        hickory_resolver::config::ResolverOpts::default(),
    )
}

/// Builds the Swarm for `key` with `config`.
pub fn build_swarm(
    key: libp2p::identity::Keypair,
    config: &NetConfig,
    limits: &WireLimits,
    scoring: &Scoring,
    registry: &mut libp2p::metrics::Registry,
) -> Result<Swarm<Behaviour>, NetError> {
    let (dns, dns_options) = resolver();
    let swarm = SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(config_err("TCP transport"))?
        .with_quic()
        .with_dns_config(dns, dns_options)
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(config_err("relay client"))?
        // Bytes in and out by transport: what a phone's data plan pays.
        .with_bandwidth_metrics(registry)
        .with_behaviour(|key, relay_client| {
            let peer_id = key.public().to_peer_id();
            let filter = gossipsub::MaxCountSubscriptionFilter {
                filter: gossipsub::CallbackSubscriptionFilter(
                    is_market_topic as fn(&gossipsub::TopicHash) -> bool,
                ),
                max_subscribed_topics: config.max_peer_topics,
                max_subscriptions_per_request: config.max_peer_topics,
            };
            let mut gossipsub = gossipsub::Behaviour::new_with_subscription_filter(
                gossipsub::MessageAuthenticity::Signed(key.clone()),
                gossipsub_config(config, limits)?,
                filter,
            )?;
            gossipsub.with_peer_score(scoring.peer_params(), THRESHOLDS)?;
            // Gossipsub's own metrics: duplicates, IDONTWANTs, mesh sizes, and
            // the peer-score histogram at our thresholds.
            let mut metrics_config = gossipsub::MetricsConfig::default();
            metrics_config.buckets_using_scoring_thresholds(&THRESHOLDS);
            let gossipsub = gossipsub.with_metrics(
                registry.sub_registry_with_prefix("libp2p_gossipsub"),
                metrics_config,
            );

            let mut kad_config = kad::Config::new(StreamProtocol::new(KAD_PROTOCOL));
            kad_config.set_query_timeout(Duration::from_secs(30));
            // The event loop refreshes the routing table on its own interval
            // (`kad_bootstrap_interval`), which a pause stops; Kademlia's
            // timer would be a second refresh that a pause cannot.
            kad_config.set_periodic_bootstrap_interval(None);
            let store_config = kad::store::MemoryStoreConfig {
                max_providers_per_key: config.kad_max_providers_per_key,
                ..Default::default()
            };
            let mut kad = kad::Behaviour::with_config(
                peer_id,
                kad::store::MemoryStore::with_config(peer_id, store_config),
                kad_config,
            );
            // Client mode until an external address is confirmed would mean nothing
            // gets stored on loopback or a LAN; every node serves the DHT unless
            // told it cannot be reached.
            kad.set_mode(Some(if config.kad_server {
                kad::Mode::Server
            } else {
                kad::Mode::Client
            }));

            let mdns = if config.mdns {
                Some(mdns::tokio::Behaviour::new(
                    mdns::Config::default(),
                    peer_id,
                )?)
            } else {
                None
            };
            let relay_server = config.relay_server.then(|| {
                let mut relay = relay::Behaviour::new(
                    peer_id,
                    relay::Config {
                        max_circuit_duration: config.relay_max_circuit_duration,
                        max_circuit_bytes: config.relay_max_circuit_bytes,
                        max_circuits: config.relay_max_circuits,
                        // A peer behind NAT relays to each peer it trades
                        // or gossips with (libp2p's default is 4).
                        max_circuits_per_peer: 32,
                        ..Default::default()
                    },
                );
                // libp2p only serves once an external address is confirmed; an
                // operator who configures a relay server has declared it reachable.
                relay.set_status(Some(relay::Status::Enable));
                relay
            });
            let connection_limits = connection_limits::ConnectionLimits::default()
                .with_max_established(Some(config.max_connections))
                .with_max_established_per_peer(Some(config.max_connections_per_peer))
                .with_max_pending_incoming(Some(config.max_pending_connections))
                .with_max_pending_outgoing(Some(config.max_pending_connections));
            let sync = request_response::Behaviour::with_codec(
                SyncCodec::new(
                    limits.max_sync_request_bytes(),
                    limits.max_sync_response_bytes,
                ),
                [(
                    StreamProtocol::new(SYNC_PROTOCOL),
                    request_response::ProtocolSupport::Full,
                )],
                request_response::Config::default()
                    .with_request_timeout(config.request_timeout)
                    .with_max_concurrent_streams(16),
            );
            let digest = request_response::Behaviour::with_codec(
                DigestCodec::new(MAX_DIGEST_MESSAGE_BYTES, MAX_DIGEST_MESSAGE_BYTES),
                [(
                    StreamProtocol::new(DIGEST_PROTOCOL),
                    request_response::ProtocolSupport::Full,
                )],
                request_response::Config::default()
                    .with_request_timeout(config.request_timeout)
                    .with_max_concurrent_streams(8),
            );
            let mailbox = request_response::Behaviour::with_codec(
                MailboxCodec::new(MAX_MAILBOX_REQUEST_BYTES, MAX_MAILBOX_RESPONSE_BYTES),
                [(
                    StreamProtocol::new(MAILBOX_PROTOCOL),
                    request_response::ProtocolSupport::Full,
                )],
                request_response::Config::default()
                    .with_request_timeout(config.request_timeout)
                    .with_max_concurrent_streams(16),
            );
            let trade = request_response::Behaviour::with_codec(
                TradeCodec::new(limits.max_trade_bytes(), limits.max_trade_bytes()),
                [(
                    StreamProtocol::new(TRADE_PROTOCOL),
                    request_response::ProtocolSupport::Full,
                )],
                request_response::Config::default()
                    .with_request_timeout(config.request_timeout)
                    .with_max_concurrent_streams(32),
            );
            Ok(Behaviour {
                trade,
                limits: connection_limits::Behaviour::new(connection_limits),
                memory: memory_connection_limits::Behaviour::with_max_bytes(
                    config.max_memory_bytes,
                ),
                blocked: allow_block_list::Behaviour::default(),
                identify: identify::Behaviour::new(
                    identify::Config::new(IDENTIFY_PROTOCOL.to_string(), key.public())
                        .with_agent_version(format!("peerfx/{}", env!("CARGO_PKG_VERSION")))
                        .with_cache_size(NonZeroUsize::new(256).map_or(0, NonZeroUsize::get))
                        // A circuit address appears once a relay accepts
                        // our reservation, after the first identify: peers
                        // (the relay first, which tells the DHT) must hear.
                        .with_push_listen_addr_updates(true),
                ),
                // A ping unanswered for half the interval fails; libp2p reports
                // the second failure in a row, so a link that is down is
                // noticed within two intervals (see the event loop).
                ping: ping::Behaviour::new(
                    ping::Config::new()
                        .with_interval(config.ping_interval)
                        .with_timeout(config.ping_interval / 2),
                ),
                kad,
                gossipsub,
                mdns: mdns.into(),
                sync,
                digest,
                mailbox,
                relay_client,
                relay_server: relay_server.into(),
                dcutr: dcutr::Behaviour::new(peer_id),
                autonat: autonat::Behaviour::new(
                    peer_id,
                    autonat::Config {
                        // A phone wants to know soon whether it needs a
                        // relay; 5 s leaves time for the bootstrap
                        // connections AutoNAT probes through.
                        boot_delay: Duration::from_secs(5),
                        retry_interval: Duration::from_secs(30),
                        only_global_ips: !config.autonat_any_ip,
                        ..Default::default()
                    },
                ),
            })
        })
        .map_err(|e| NetError::Config {
            what: "behaviours",
            source: e.into(),
        })?
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_connection_timeout))
        .build();
    Ok(swarm)
}
