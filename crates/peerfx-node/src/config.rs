//! How a node runs: one [`NodeConfig`], grouped by what each part tunes, with
//! named defaults and a [`Profile`] for phones. Every interval is a
//! [`Duration`].

use std::path::PathBuf;
use std::time::Duration;

use peerfx_core::{Market, PaymentMethod, WireLimits};
use peerfx_net::NetConfig;
use peerfx_store::mailbox::MailboxLimits;
use peerfx_store::ratings::RatingLimits;
use peerfx_store::StoreConfig;

/// A set of defaults for the kind of device a node runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Profile {
    /// A laptop or server.
    #[default]
    Default,
    /// A phone: a small cache and book, few connections, slow timers (each
    /// wake-up of the radio costs battery), no mDNS.
    Mobile,
}

impl std::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Profile, String> {
        match s {
            "default" => Ok(Profile::Default),
            "mobile" => Ok(Profile::Mobile),
            other => Err(format!("profile {other:?}: use default or mobile")),
        }
    }
}

/// How a node runs.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Where the identity key and the database live.
    pub data_dir: PathBuf,
    /// Network tuning.
    pub net: NetConfig,
    /// Database tuning.
    pub store: StoreConfig,
    /// What messages the node accepts and sends: the one copy of the wire
    /// limits, which the network layer reads too.
    pub limits: WireLimits,
    /// Markets to follow from the start (markets of own offers are always
    /// followed).
    pub markets: Vec<Market>,
    /// Background work.
    pub timers: Timers,
    /// Book sync.
    pub sync: SyncConfig,
    /// Negotiation and trades.
    pub trade: TradeConfig,
    /// Peer bookkeeping.
    pub peers: PeersConfig,
    /// How many ratings are kept: per rated peer, per rater, in all.
    pub ratings: RatingLimits,
    /// Store and forward: mailboxes used, and kept for others.
    pub mailbox: MailboxConfig,
}

/// Store and forward (`crate::mailbox`).
#[derive(Clone, Debug)]
pub struct MailboxConfig {
    /// How often this node asks its mailboxes for what waits for it (and
    /// purges what it keeps for others, when it is a host).
    pub fetch_interval: Duration,
    /// How long an envelope waits for its recipient.
    pub ttl: Duration,
    /// Mailboxes an envelope is left in (the relays nearest the recipient,
    /// by XOR distance); the recipient asks one more than this, so that
    /// two views of the relays that differ by one still meet.
    pub copies: usize,
    /// As a host (a relay): most envelopes kept per recipient, per author,
    /// and in all.
    pub host_limits: MailboxLimits,
    /// As a host: most requests (deposits, fetches, deletes) served to one
    /// peer per minute.
    pub host_requests_per_minute: u32,
}

impl MailboxConfig {
    /// Default fetch interval.
    pub const DEFAULT_FETCH_INTERVAL: Duration = Duration::from_secs(30);
}

impl Default for MailboxConfig {
    fn default() -> Self {
        MailboxConfig {
            fetch_interval: Self::DEFAULT_FETCH_INTERVAL,
            // The longest a host keeps one: a week.
            ttl: Duration::from_secs(peerfx_core::mailbox::MAX_ENVELOPE_TTL_SECS),
            copies: 2,
            // ~5 KB each at most: 256 per recipient is a busy trader's week;
            // 64 per author bounds one key's share; 16 384 in all is at
            // most ~80 MB of disk.
            host_limits: MailboxLimits {
                per_recipient: 256,
                per_author: 64,
                total: 16_384,
            },
            // A fetch round is a fetch and a delete per page, every 30 s;
            // a busy trader deposits a few a minute. Ten a second is
            // plenty, and a flood is cut off after it.
            host_requests_per_minute: 600,
        }
    }
}

/// How often the node does its background work.
#[derive(Clone, Debug)]
pub struct Timers {
    /// How often own open offers are re-announced.
    pub reannounce_interval: Duration,
    /// How often expired offers and reservations are purged, and DHT
    /// announcements reconciled.
    pub maintenance_interval: Duration,
    /// How often the book's changes are written to disk. The book is held in
    /// memory; a crash loses at most this much of other makers' offers, which
    /// sync brings back.
    pub book_persist_interval: Duration,
    /// How long before expiry an own offer is announced as expiring soon.
    pub expiring_soon: Duration,
    /// How long a maker may go without re-announcing (and without a
    /// connection to this node) before it counts as offline: its offers are
    /// hidden from the book unless asked for, and takes of them fail at once
    /// (see `presence`).
    pub offline_after: Duration,
}

/// Book sync over `/peerfx/sync`.
#[derive(Clone, Debug)]
pub struct SyncConfig {
    /// How many peers to sync a market from when following it.
    pub peers: usize,
    /// Least time between two syncs of one market from one peer.
    pub min_interval: Duration,
    /// Most sync pages served to one peer per minute.
    pub pages_per_minute: u32,
    /// Most pages fetched in one sync.
    pub max_pages: usize,
    /// How long a book query on a market the node did not follow yet waits
    /// for the first page of its sync.
    pub first_page_wait: Duration,
    /// First wait before looking a followed market's providers up in the DHT
    /// again, while fewer than [`SyncConfig::peers`] peers follow it; it
    /// doubles after every lookup, up to [`SyncConfig::dht_retry_max`].
    pub dht_retry_min: Duration,
    /// Longest wait between two DHT lookups of a thin market.
    pub dht_retry_max: Duration,
    /// How often each followed market's book is compared with a random
    /// peer's, by digest, to catch up what gossip lost (`crate::check`).
    pub check_interval: Duration,
}

/// Negotiation and trades.
#[derive(Clone, Debug)]
pub struct TradeConfig {
    /// How far below its offer's rate a counter rate may be and still be
    /// accepted automatically, in basis points (0: only the offer's rate or
    /// better).
    pub counter_tolerance_bps: u32,
    /// How long a maker holds a reservation for a taker to countersign.
    /// Countersigning is automatic, so seconds are enough; longer lets a
    /// taker that never countersigns hold the amount longer.
    pub take_timeout: Duration,
    /// How long a take keeps trying while the maker answers "reserved" or
    /// "too many takes" (each answer says when to come back).
    pub take_patience: Duration,
    /// As a maker: the payment window of a contract whose payment method is
    /// not in `payment_windows`: both sides pay within it, and confirm
    /// receipt within the same time again (see
    /// [`peerfx_core::Contract::settle_by`]).
    pub payment_window: Duration,
    /// As a maker: the payment window by payment method, for those that
    /// settle faster or slower than `payment_window` (cash in person within
    /// hours, a bank transfer within days). Every window must lie within
    /// `min_payment_window..=max_payment_window`.
    pub payment_windows: Vec<(PaymentMethod, Duration)>,
    /// As a taker: the shortest payment window a contract may give (a maker
    /// cannot sign one that is over before anyone can pay).
    pub min_payment_window: Duration,
    /// As a taker: the longest payment window a contract may give (a maker
    /// cannot hold a taker in a trade that never ends).
    pub max_payment_window: Duration,
    /// As a maker: takers need at least this many completed trades vouched
    /// for, from this node's point of view (0: anyone may take). Against
    /// swarms of fresh keys holding liquidity, and scams by peers with no
    /// history.
    pub min_taker_trades: u32,
    /// As a maker: takers need at least this score, in hundredths.
    pub min_taker_score: Option<u32>,
    /// How often unacknowledged trade messages are resent (with backoff per
    /// trade).
    pub retry_interval: Duration,
}

/// Peer bookkeeping.
#[derive(Clone, Debug)]
pub struct PeersConfig {
    /// Most peers remembered (address and last seen, for redialing after a
    /// restart). Past it, the least recently seen are forgotten; blocked
    /// peers are always kept.
    pub max_remembered: usize,
    /// Most remembered peers redialed at start.
    pub redial_at_start: usize,
}

impl Timers {
    /// Default re-announcement interval.
    pub const DEFAULT_REANNOUNCE_INTERVAL: Duration = Duration::from_secs(600);
    /// Default maintenance interval.
    pub const DEFAULT_MAINTENANCE_INTERVAL: Duration = Duration::from_secs(10);
    /// Default book persist interval.
    pub const DEFAULT_BOOK_PERSIST_INTERVAL: Duration = Duration::from_secs(1);
    /// Default warning before an own offer expires.
    pub const DEFAULT_EXPIRING_SOON: Duration = Duration::from_secs(15 * 60);
    /// Default silence before a maker counts as offline: three missed
    /// re-announcements (one missed can be a partition that sync heals).
    pub const DEFAULT_OFFLINE_AFTER: Duration = Duration::from_secs(3 * 600);

    /// The mobile profile's timers: each tick wakes the CPU even with
    /// nothing to do (benches/mobile_bench counts them), so a phone's
    /// maintenance runs once a minute (expiries are purged and warned of
    /// within a minute) and the book is written every 10 s (a crash loses
    /// at most that much of other makers' offers, which sync brings back).
    pub fn mobile() -> Timers {
        Timers {
            maintenance_interval: Duration::from_secs(60),
            book_persist_interval: Duration::from_secs(10),
            ..Timers::default()
        }
    }
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            reannounce_interval: Self::DEFAULT_REANNOUNCE_INTERVAL,
            maintenance_interval: Self::DEFAULT_MAINTENANCE_INTERVAL,
            book_persist_interval: Self::DEFAULT_BOOK_PERSIST_INTERVAL,
            expiring_soon: Self::DEFAULT_EXPIRING_SOON,
            offline_after: Self::DEFAULT_OFFLINE_AFTER,
        }
    }
}

impl SyncConfig {
    /// Default number of peers to sync from.
    pub const DEFAULT_PEERS: usize = 3;
    /// Default least time between syncs from one peer.
    pub const DEFAULT_MIN_INTERVAL: Duration = Duration::from_secs(30);
    /// Default sync pages served per peer per minute.
    pub const DEFAULT_PAGES_PER_MINUTE: u32 = 120;
    /// Default most pages fetched in one sync (about 50 000 offers).
    pub const DEFAULT_MAX_PAGES: usize = 200;
    /// Default wait for a first page: a page of 256 offers arrives in tens of
    /// milliseconds on a good link, a few seconds over a relay.
    pub const DEFAULT_FIRST_PAGE_WAIT: Duration = Duration::from_secs(3);
    /// Default first wait before a market's DHT lookup is retried: a
    /// provider record spreads within seconds of a maker's first post.
    pub const DEFAULT_DHT_RETRY_MIN: Duration = Duration::from_secs(5);
    /// Default longest wait between lookups: a market nobody else follows
    /// costs one lookup every five minutes.
    pub const DEFAULT_DHT_RETRY_MAX: Duration = Duration::from_secs(300);
    /// Default book check interval: a check costs ~200 bytes per market, so
    /// a 30 s round is cheap, and a healed partition converges within a
    /// minute or two.
    pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_secs(30);
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            peers: Self::DEFAULT_PEERS,
            min_interval: Self::DEFAULT_MIN_INTERVAL,
            pages_per_minute: Self::DEFAULT_PAGES_PER_MINUTE,
            max_pages: Self::DEFAULT_MAX_PAGES,
            first_page_wait: Self::DEFAULT_FIRST_PAGE_WAIT,
            dht_retry_min: Self::DEFAULT_DHT_RETRY_MIN,
            dht_retry_max: Self::DEFAULT_DHT_RETRY_MAX,
            check_interval: Self::DEFAULT_CHECK_INTERVAL,
        }
    }
}

impl TradeConfig {
    /// Default counter-rate tolerance: 0.5 %.
    pub const DEFAULT_COUNTER_TOLERANCE_BPS: u32 = 50;
    /// Default reservation lifetime: an honest taker's node countersigns in
    /// milliseconds on a good link and a few seconds over a relay.
    pub const DEFAULT_TAKE_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default patience of a take with a busy maker.
    pub const DEFAULT_TAKE_PATIENCE: Duration = Duration::from_secs(30);
    /// Default payment window for a method with no window of its own: one
    /// day, so a trade fails at the latest two days after it was agreed.
    pub const DEFAULT_PAYMENT_WINDOW: Duration = Duration::from_secs(24 * 3600);
    /// Default shortest payment window a taker accepts: five minutes (Mostro
    /// gives 300 s to pay).
    pub const DEFAULT_MIN_PAYMENT_WINDOW: Duration = Duration::from_secs(5 * 60);
    /// Default longest payment window a taker accepts: fourteen days (Bisq's
    /// longest trade period for a bank transfer is about a week; twice that
    /// leaves room).
    pub const DEFAULT_MAX_PAYMENT_WINDOW: Duration = Duration::from_secs(14 * 24 * 3600);

    /// The default windows by method. Cash in person: 4 h to meet, and the
    /// trade is over within 8 h (lnp2pbot gives 2 h to finish; a meeting
    /// takes longer to arrange). Instant transfers: 1 h. SEPA and other bank
    /// transfers: 3 days, as a transfer sent on a Friday arrives on Monday
    /// (Bisq gives SEPA 6 days in all; so does this, with confirmation).
    pub fn default_payment_windows() -> Vec<(PaymentMethod, Duration)> {
        const H: u64 = 3600;
        [
            ("cash", 4 * H),
            ("sepa-instant", H),
            ("revolut", H),
            ("wise", 24 * H),
            ("sepa", 3 * 24 * H),
            ("bank", 3 * 24 * H),
            ("swift", 7 * 24 * H),
        ]
        .into_iter()
        .filter_map(|(name, secs)| {
            let method = name.parse::<PaymentMethod>().ok()?;
            Some((method, Duration::from_secs(secs)))
        })
        .collect()
    }

    /// The payment window this maker gives a contract paid by `method`.
    pub fn payment_window_for(&self, method: &PaymentMethod) -> Duration {
        self.payment_windows
            .iter()
            .find(|(m, _)| m == method)
            .map_or(self.payment_window, |(_, w)| *w)
    }

    /// Every window a maker may give lies within what takers accept.
    pub fn check_windows(&self) -> Result<(), String> {
        let range = self.min_payment_window..=self.max_payment_window;
        let default = std::iter::once(("other methods".to_string(), self.payment_window));
        let by_method = self
            .payment_windows
            .iter()
            .map(|(m, w)| (m.to_string(), *w));
        for (what, window) in default.chain(by_method) {
            if !range.contains(&window) {
                return Err(format!(
                    "payment window for {what}: {} s is outside {}..={} s, \
                     takers would refuse every contract",
                    window.as_secs(),
                    range.start().as_secs(),
                    range.end().as_secs()
                ));
            }
        }
        Ok(())
    }
    /// Default resend interval.
    pub const DEFAULT_RETRY_INTERVAL: Duration = Duration::from_secs(2);
}

impl Default for TradeConfig {
    fn default() -> Self {
        TradeConfig {
            counter_tolerance_bps: Self::DEFAULT_COUNTER_TOLERANCE_BPS,
            take_timeout: Self::DEFAULT_TAKE_TIMEOUT,
            take_patience: Self::DEFAULT_TAKE_PATIENCE,
            payment_window: Self::DEFAULT_PAYMENT_WINDOW,
            payment_windows: Self::default_payment_windows(),
            min_payment_window: Self::DEFAULT_MIN_PAYMENT_WINDOW,
            max_payment_window: Self::DEFAULT_MAX_PAYMENT_WINDOW,
            min_taker_trades: 0,
            min_taker_score: None,
            retry_interval: Self::DEFAULT_RETRY_INTERVAL,
        }
    }
}

impl PeersConfig {
    /// Default peers remembered: enough to find the network again after any
    /// restart, small enough to read at every start.
    pub const DEFAULT_MAX_REMEMBERED: usize = 1000;
    /// Default peers redialed at start.
    pub const DEFAULT_REDIAL_AT_START: usize = 16;
}

impl Default for PeersConfig {
    fn default() -> Self {
        PeersConfig {
            max_remembered: Self::DEFAULT_MAX_REMEMBERED,
            redial_at_start: Self::DEFAULT_REDIAL_AT_START,
        }
    }
}

impl NodeConfig {
    /// Defaults, with data in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> NodeConfig {
        NodeConfig::with_profile(data_dir, Profile::Default)
    }

    /// The defaults of `profile`, with data in `data_dir`.
    pub fn with_profile(data_dir: impl Into<PathBuf>, profile: Profile) -> NodeConfig {
        let (net, store) = match profile {
            Profile::Default => (NetConfig::default(), StoreConfig::default()),
            Profile::Mobile => (NetConfig::mobile(), StoreConfig::mobile()),
        };
        let mobile = profile == Profile::Mobile;
        NodeConfig {
            data_dir: data_dir.into(),
            net,
            store,
            limits: WireLimits::default(),
            markets: Vec::new(),
            timers: if mobile {
                Timers::mobile()
            } else {
                Timers::default()
            },
            sync: SyncConfig {
                // The lookups' tick: a phone looks thin markets up at most
                // twice a minute.
                dht_retry_min: if mobile {
                    Duration::from_secs(30)
                } else {
                    SyncConfig::DEFAULT_DHT_RETRY_MIN
                },
                // A phone that was asleep syncs on resume; between, a
                // check every few minutes is enough.
                check_interval: if mobile {
                    Duration::from_secs(300)
                } else {
                    SyncConfig::DEFAULT_CHECK_INTERVAL
                },
                ..SyncConfig::default()
            },
            trade: TradeConfig {
                // Undelivered trade messages go out every 10 s rather than
                // 2 s; the tick fires whether or not any wait.
                retry_interval: if mobile {
                    Duration::from_secs(10)
                } else {
                    TradeConfig::DEFAULT_RETRY_INTERVAL
                },
                ..TradeConfig::default()
            },
            peers: PeersConfig::default(),
            ratings: match profile {
                Profile::Default => DEFAULT_RATING_LIMITS,
                Profile::Mobile => MOBILE_RATING_LIMITS,
            },
            mailbox: MailboxConfig {
                // A phone asks every 5 min while open, and at every resume.
                fetch_interval: if mobile {
                    Duration::from_secs(300)
                } else {
                    MailboxConfig::DEFAULT_FETCH_INTERVAL
                },
                ..MailboxConfig::default()
            },
        }
    }
}

/// Ratings kept by default: 50 000 in all (~35 MB on disk, ~8 MB in
/// memory), 200 about any one peer (a profile needs its recent history, not
/// all of it) and 200 by any one rater (an honest trader rates once per
/// trade; a key rating more is flooding).
pub const DEFAULT_RATING_LIMITS: RatingLimits = RatingLimits {
    per_rated: 200,
    per_rater: 200,
    total: 50_000,
};

/// Ratings kept with `--profile mobile`: a fifth of the default in all.
pub const MOBILE_RATING_LIMITS: RatingLimits = RatingLimits {
    per_rated: 100,
    per_rater: 100,
    total: 10_000,
};
