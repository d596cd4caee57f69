//! # peerfx
//!
//! A fully decentralized peer-to-peer foreign-currency exchange. This crate is the
//! facade that examples, tests and the `peerfx` binary use; each layer lives in
//! its own crate:
//!
//! - [`core`] (`peerfx-core`): money, signed messages, the wire codec, validation
//!   and matching. Pure: no I/O, no clock.
//! - [`store`] (`peerfx-store`): the node's sled database: own offers and
//!   reservations, the offer book, trades.
//! - [`net`] (`peerfx-net`): libp2p: gossip, Kademlia, sync, relay.
//! - [`node`] (`peerfx-node`): the embeddable node that wires them together.

pub use peerfx_core as core;
pub use peerfx_net as net;
pub use peerfx_node as node;
pub use peerfx_store as store;
