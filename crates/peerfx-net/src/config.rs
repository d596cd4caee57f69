//! All network tuning in one place, with named defaults.

use std::time::Duration;

use libp2p::Multiaddr;

use crate::scoring::ScoringConfig;

/// How a node's network behaves. `NetConfig::default()` suits a laptop;
/// [`NetConfig::mobile`] a phone; tests shorten the timers.
#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Addresses to listen on (TCP, QUIC, or `/p2p-circuit` through a relay).
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start, each with a `/p2p/<peer id>` suffix.
    pub bootstrap: Vec<Multiaddr>,
    /// Find peers on the LAN by mDNS. Off on Android, where it is blocked.
    pub mdns: bool,
    /// Serve as a circuit relay v2 for peers behind NAT. A relay must be
    /// reachable: its listen addresses are then announced as external addresses
    /// (libp2p's relay serves nothing until it has one).
    pub relay_server: bool,
    /// AutoNAT also probes, and dials back, private (RFC 1918) and shared
    /// addresses: for a lab, a LAN or a testbed of namespaces. Off by
    /// default: a public AutoNAT server that dials private addresses can be
    /// made to probe its own LAN.
    pub autonat_any_ip: bool,
    /// Addresses this node is known to be reachable at (a port forward, a public
    /// IP), announced to peers as-is.
    pub external_addresses: Vec<Multiaddr>,
    /// Most established connections in total.
    pub max_connections: u32,
    /// Most established connections to one peer.
    pub max_connections_per_peer: u32,
    /// Most connections being set up at once, each way.
    pub max_pending_connections: u32,
    /// Refuse new connections when the process uses more memory than this.
    pub max_memory_bytes: usize,
    /// Close a connection that has had nothing to do for this long.
    pub idle_connection_timeout: Duration,
    /// Gossipsub heartbeat: how often meshes are maintained.
    pub gossip_heartbeat: Duration,
    /// How often each connection is pinged (liveness and round-trip time).
    /// Each ping opens a stream on a connection that may otherwise be idle:
    /// on a phone it wakes the radio.
    pub ping_interval: Duration,
    /// Timeout of a request-response exchange.
    pub request_timeout: Duration,
    /// How often to refresh the Kademlia routing table.
    pub kad_bootstrap_interval: Duration,
    /// Whether this node serves the DHT (Kademlia server mode): others store
    /// provider records on it and find peers through it. A node others
    /// cannot dial (behind NAT, asleep) should not: peers would add it to
    /// their routing tables and time out on it. As a client it still looks
    /// markets up and announces its own.
    pub kad_server: bool,
    /// Most provider records the DHT store keeps per key (per market). Past
    /// it, new providers of that key are not stored here; they are still
    /// stored by the other peers closest to the key.
    pub kad_max_providers_per_key: usize,
    /// Relay server: longest circuit.
    pub relay_max_circuit_duration: Duration,
    /// Relay server: most bytes through one circuit.
    pub relay_max_circuit_bytes: u64,
    /// Relay server: most circuits at once. Each peer behind NAT keeps a
    /// relayed connection to every peer it talks to until hole punching
    /// replaces it (or forever, behind carrier NAT), so a relay serving a
    /// market needs many; duration and bytes bound what each costs.
    pub relay_max_circuits: usize,
    /// Capacity of each channel to the node. When the gossip channel is
    /// full, gossip is ignored (not rejected: the sender did nothing wrong)
    /// and counted; when the request channel is, requests are answered busy.
    pub event_buffer: usize,
    /// Most topics a peer may subscribe to, as this node keeps track of them
    /// (gossipsub's subscription filter also refuses every topic that is not
    /// a market's).
    pub max_peer_topics: usize,
    /// The windows and rates peer scores are derived from.
    pub scoring: ScoringConfig,
}

impl NetConfig {
    /// Default most connections.
    pub const DEFAULT_MAX_CONNECTIONS: u32 = 128;
    /// Default most connections per peer: a relayed connection, and the
    /// direct TCP and QUIC connections hole punching may open at the same
    /// moment (with 2, the later direct one is refused and the upgrade lost).
    pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: u32 = 3;
    /// Default most pending connections.
    pub const DEFAULT_MAX_PENDING_CONNECTIONS: u32 = 32;
    /// Default memory ceiling for accepting connections: 512 MiB.
    pub const DEFAULT_MAX_MEMORY_BYTES: usize = 512 * 1024 * 1024;
    /// Default idle timeout. Longer than libp2p's 10 s so that a quiet market
    /// does not churn connections between re-announcements.
    pub const DEFAULT_IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(120);
    /// Default gossipsub heartbeat.
    pub const DEFAULT_GOSSIP_HEARTBEAT: Duration = Duration::from_secs(1);
    /// Default ping interval. libp2p reports a failed ping only on the
    /// second in a row (the first is "free"), and a ping fails after half an
    /// interval here, so a link that is down is noticed within two
    /// intervals: 20 s, inside a 30 s partition (libp2p's 15 s would take
    /// 30). When it answers again the node re-syncs ([`crate::NetEvent::PeerResumed`]).
    pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(10);
    /// Default request timeout.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default routing refresh.
    pub const DEFAULT_KAD_BOOTSTRAP_INTERVAL: Duration = Duration::from_secs(300);
    /// Default providers kept per key: Kademlia's own default (its k).
    pub const DEFAULT_KAD_MAX_PROVIDERS_PER_KEY: usize = 20;
    /// Default longest relayed circuit. libp2p's 2 minutes assumes circuits only
    /// bridge to a hole-punched connection; a phone behind a symmetric NAT may
    /// have nothing else.
    pub const DEFAULT_RELAY_MAX_CIRCUIT_DURATION: Duration = Duration::from_secs(30 * 60);
    /// Default most bytes per circuit (libp2p: 128 KiB, less than one sync page).
    pub const DEFAULT_RELAY_MAX_CIRCUIT_BYTES: u64 = 8 * 1024 * 1024;
    /// Default relay server's most circuits at once (libp2p's is 16): at
    /// the byte limit above, 256 circuits are at most 2 GiB per half hour.
    pub const DEFAULT_RELAY_MAX_CIRCUITS: usize = 256;
    /// Default event buffer.
    pub const DEFAULT_EVENT_BUFFER: usize = 1024;
    /// Default topics per peer: more markets than anyone trades in.
    pub const DEFAULT_MAX_PEER_TOPICS: usize = 64;

    /// A profile for phones: fewer connections, a lower memory ceiling, slower
    /// timers (radio wake-ups cost battery), no mDNS, and a DHT client only:
    /// a phone behind NAT, often asleep, would be a dead entry in others'
    /// routing tables.
    pub fn mobile() -> NetConfig {
        NetConfig {
            mdns: false,
            kad_server: false,
            max_connections: 24,
            max_pending_connections: 8,
            max_memory_bytes: 96 * 1024 * 1024,
            gossip_heartbeat: Duration::from_secs(3),
            ping_interval: Duration::from_secs(60),
            kad_bootstrap_interval: Duration::from_secs(900),
            event_buffer: 256,
            ..NetConfig::default()
        }
    }
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            listen: vec![
                "/ip4/0.0.0.0/tcp/0".parse().expect("valid multiaddr"),
                "/ip4/0.0.0.0/udp/0/quic-v1"
                    .parse()
                    .expect("valid multiaddr"),
            ],
            bootstrap: Vec::new(),
            mdns: true,
            relay_server: false,
            autonat_any_ip: false,
            external_addresses: Vec::new(),
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
            max_connections_per_peer: Self::DEFAULT_MAX_CONNECTIONS_PER_PEER,
            max_pending_connections: Self::DEFAULT_MAX_PENDING_CONNECTIONS,
            max_memory_bytes: Self::DEFAULT_MAX_MEMORY_BYTES,
            idle_connection_timeout: Self::DEFAULT_IDLE_CONNECTION_TIMEOUT,
            gossip_heartbeat: Self::DEFAULT_GOSSIP_HEARTBEAT,
            ping_interval: Self::DEFAULT_PING_INTERVAL,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            kad_bootstrap_interval: Self::DEFAULT_KAD_BOOTSTRAP_INTERVAL,
            kad_server: true,
            kad_max_providers_per_key: Self::DEFAULT_KAD_MAX_PROVIDERS_PER_KEY,
            relay_max_circuit_duration: Self::DEFAULT_RELAY_MAX_CIRCUIT_DURATION,
            relay_max_circuit_bytes: Self::DEFAULT_RELAY_MAX_CIRCUIT_BYTES,
            relay_max_circuits: Self::DEFAULT_RELAY_MAX_CIRCUITS,
            event_buffer: Self::DEFAULT_EVENT_BUFFER,
            max_peer_topics: Self::DEFAULT_MAX_PEER_TOPICS,
            scoring: ScoringConfig::default(),
        }
    }
}
