//! Every bound the protocol puts on what a peer may send, in one value.
//!
//! [`WireLimits`] is the one place these numbers live: validation reads the
//! message rules, the network layer reads the envelope sizes (gossip,
//! request-response), and the node reads the per-maker budgets. Sizes of
//! envelopes are *derived* from the size of one signed message rather than
//! chosen separately, so raising one limit can never leave another one below
//! what it must carry.
//!
//! Every node on the network is expected to run with the defaults: a peer
//! whose limits are tighter drops (without forwarding) what the others accept,
//! which costs the sender reach, never correctness.

/// Bounds on what a node accepts from the network, and what it sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WireLimits {
    /// Largest encoded signed message (offer, update, cancel, take, contract,
    /// trade message).
    pub max_message_bytes: usize,
    /// Longest offer note, in bytes.
    pub max_note_bytes: usize,
    /// Longest chat line, dispute reason or reject detail, in bytes.
    pub max_text_bytes: usize,
    /// Most payment methods on one offer.
    pub max_payment_methods: usize,
    /// Longest time from `created_at` to `expires_at`, in seconds.
    pub max_offer_lifetime_secs: u64,
    /// How far in the future a `created_at` may be (clock skew between peers).
    pub max_clock_skew_secs: u64,
    /// Most open offers one maker may have in a book. Offers past it are not
    /// stored or forwarded, so one key cannot flood every book; a maker's own
    /// node refuses to post past it.
    pub max_open_offers_per_maker: usize,
    /// Cancels of live offers one maker may make at once (the bucket's size).
    /// Past the budget a cancel is ignored and not forwarded, so a
    /// post-and-cancel loop cannot fill every book with tombstones.
    pub cancel_burst: u32,
    /// How many cancels a maker's budget regains per hour.
    pub cancels_per_hour: u32,
    /// Most messages (steps and chat lines together) one party may author in
    /// one trade. [`WireLimits::STEP_RESERVE`] of them are kept for steps: chat
    /// stops earlier, so a party can always still say paid, received, cancel
    /// or dispute.
    pub max_trade_messages: u32,
    /// Most offers in one sync page.
    pub max_sync_page: u16,
    /// Longest sync paging cursor.
    pub max_cursor_bytes: usize,
    /// Largest encoded sync response. A responder fills a page until either
    /// [`WireLimits::max_sync_page`] offers or this many bytes.
    pub max_sync_response_bytes: usize,
}

impl WireLimits {
    /// Default largest message: an offer with every field at its limit is < 1 KiB.
    pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024;
    /// Default note length (a tweet).
    pub const DEFAULT_MAX_NOTE_BYTES: usize = 280;
    /// Default chat line length.
    pub const DEFAULT_MAX_TEXT_BYTES: usize = 1000;
    /// Default number of payment methods.
    pub const DEFAULT_MAX_PAYMENT_METHODS: usize = 8;
    /// Default longest offer lifetime: 30 days.
    pub const DEFAULT_MAX_OFFER_LIFETIME_SECS: u64 = 30 * 24 * 3600;
    /// Default clock skew: 5 minutes.
    pub const DEFAULT_MAX_CLOCK_SKEW_SECS: u64 = 300;
    /// Default open offers per maker: plenty for a person or a small exchange
    /// office (one offer per market and direction, a few price levels each).
    pub const DEFAULT_MAX_OPEN_OFFERS_PER_MAKER: usize = 64;
    /// Default cancel burst: a maker may withdraw every offer it may have
    /// open at once.
    pub const DEFAULT_CANCEL_BURST: u32 = 64;
    /// Default cancel refill: the same again every hour. A maker that
    /// re-prices ten offers every ten minutes uses 60 an hour; a flood of
    /// post-and-cancel pairs gets 64 an hour instead of thousands a minute.
    pub const DEFAULT_CANCELS_PER_HOUR: u32 = 64;
    /// Default messages per party and trade: 128, of which at most 124 chat
    /// lines (128 KB of text at most per party and trade).
    pub const DEFAULT_MAX_TRADE_MESSAGES: u32 = 128;
    /// Messages of a party's budget kept for steps: one each of paid,
    /// received, cancel and dispute, the most the trade state machine allows.
    pub const STEP_RESERVE: u32 = 4;
    /// Default sync page: 256 offers.
    pub const DEFAULT_MAX_SYNC_PAGE: u16 = 256;
    /// Default cursor: an index key (give, want, rate, time, id) is 62 bytes.
    pub const DEFAULT_MAX_CURSOR_BYTES: usize = 80;
    /// Default sync response: 1 MiB, four times a full page of real offers.
    pub const DEFAULT_MAX_SYNC_RESPONSE_BYTES: usize = 1024 * 1024;

    /// What a gossip envelope carries besides its messages (enum tags,
    /// length prefixes, the version byte).
    const ENVELOPE_OVERHEAD: usize = 64;

    /// Largest gossip message: an offer with its latest update, each at the
    /// message limit.
    pub fn max_gossip_bytes(&self) -> usize {
        2 * self.max_message_bytes + Self::ENVELOPE_OVERHEAD
    }

    /// Largest `/peerfx/trade` request or response: one signed message (a
    /// take, a contract, a step) and a little framing; a countersignature is
    /// smaller.
    pub fn max_trade_bytes(&self) -> usize {
        self.max_message_bytes + Self::ENVELOPE_OVERHEAD
    }

    /// Largest `/peerfx/sync` request: a market, a cursor and a count.
    pub fn max_sync_request_bytes(&self) -> usize {
        self.max_cursor_bytes + Self::ENVELOPE_OVERHEAD
    }

    /// Most chat lines one party may write in one trade.
    pub fn max_chat_lines(&self) -> u32 {
        self.max_trade_messages.saturating_sub(Self::STEP_RESERVE)
    }
}

impl Default for WireLimits {
    fn default() -> Self {
        WireLimits {
            max_message_bytes: Self::DEFAULT_MAX_MESSAGE_BYTES,
            max_note_bytes: Self::DEFAULT_MAX_NOTE_BYTES,
            max_text_bytes: Self::DEFAULT_MAX_TEXT_BYTES,
            max_payment_methods: Self::DEFAULT_MAX_PAYMENT_METHODS,
            max_offer_lifetime_secs: Self::DEFAULT_MAX_OFFER_LIFETIME_SECS,
            max_clock_skew_secs: Self::DEFAULT_MAX_CLOCK_SKEW_SECS,
            max_open_offers_per_maker: Self::DEFAULT_MAX_OPEN_OFFERS_PER_MAKER,
            cancel_burst: Self::DEFAULT_CANCEL_BURST,
            cancels_per_hour: Self::DEFAULT_CANCELS_PER_HOUR,
            max_trade_messages: Self::DEFAULT_MAX_TRADE_MESSAGES,
            max_sync_page: Self::DEFAULT_MAX_SYNC_PAGE,
            max_cursor_bytes: Self::DEFAULT_MAX_CURSOR_BYTES,
            max_sync_response_bytes: Self::DEFAULT_MAX_SYNC_RESPONSE_BYTES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_grow_with_the_message_limit() {
        let mut l = WireLimits::default();
        let (gossip, trade) = (l.max_gossip_bytes(), l.max_trade_bytes());
        l.max_message_bytes *= 2;
        assert!(l.max_gossip_bytes() > gossip && l.max_trade_bytes() > trade);
        assert!(l.max_gossip_bytes() >= 2 * l.max_message_bytes);
        assert_eq!(l.max_chat_lines(), l.max_trade_messages - 4);
    }
}
