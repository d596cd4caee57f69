//! A WAN on one Linux machine, for peerfx's tests, benchmarks and
//! `scripts/testnet up N --wan`.
//!
//! Each host is a network namespace. Public hosts sit directly on the
//! "internet" (a namespace that routes between access links); NAT'd hosts
//! sit on a LAN behind a router namespace that masquerades with nftables,
//! the home kind (port-restricted cone) or the carrier kind (symmetric). The
//! internet drops a share of what it forwards (nftables `numgen random`) and
//! delays each packet by its two access links' delays plus jitter, in
//! userspace through NFQUEUE (see [`delay`] for why).
//!
//! Everything stays inside namespaces this crate makes: nothing is
//! forwarded to the machine's own interfaces, and [`Wan`]'s drop (or
//! `peerfx-testbed down`) removes every namespace, and with them every link
//! and rule. Building one needs root, iproute2, nftables and iptables.
//!
//! [`Wan`]: wan::Wan

pub mod delay;
pub mod netns;
pub mod probe;
pub mod spec;
pub mod wan;

pub use spec::{HostKind, HostSpec, WanSpec};
pub use wan::Wan;
