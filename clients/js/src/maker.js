// The maker's side of docs/PROTOCOL.md for the JS peer: post and cancel
// offers (section 7), answer takes and countersignatures (section 9), and
// serve the own offers over sync (section 8). Everything is in memory: a
// maker that stops loses its offers and trades, unlike the Rust node.

import { encode, narrow } from './wire.js'
import { GossipMessage } from './types.js'
import {
  compareRates, LIMITS, marketOf, messageId, nowSecs, randomNonce, sign, signingBytes, topicOf, validate,
  ValidationError, verifyBytes, wantForGive
} from './verify.js'
import { TradeState } from './trade.js'

/** How long a take holds its amount for the countersignature, as the Rust node. */
const TAKE_TIMEOUT_SECS = 10

/** Payment windows by method, as the Rust node's defaults (docs/TRADES.md). */
const HOUR = 3600
const PAYMENT_WINDOWS = {
  cash: 4 * HOUR,
  'sepa-instant': HOUR,
  revolut: HOUR,
  wise: 24 * HOUR,
  sepa: 3 * 24 * HOUR,
  bank: 3 * 24 * HOUR,
  swift: 7 * 24 * HOUR
}
const DEFAULT_WINDOW = 24 * HOUR

/**
 * How often the own open offers are re-announced, as the Rust node: other
 * nodes judge a maker's presence by it, and hide the offers of a maker silent
 * for three periods (docs/PROTOCOL.md, section 7).
 */
export const REANNOUNCE_SECS = 600

export class Maker {
  /** @param {import('./peer.js').Peer} peer */
  constructor (peer) {
    this.peer = peer
    /**
     * Own open offers: the signed offer, its latest update, what remains,
     * and the takes holding part of it until their countersignature.
     * @type {Map<string, {offer: object, update: object|null, remaining: bigint, takes: Map<string, object>}>}
     */
    this.offers = new Map()
    /** @type {Map<string, string>} trade ids by the request id they answered */
    this.stored = new Map()
  }

  /**
   * Signs and publishes an offer. `spec`: give, want (codes), minGive,
   * maxGive (minor units), rate (decimal string), paymentMethods, and
   * optionally geohash, note, lifetimeSecs (default one day).
   */
  async post ({ give, want, minGive, maxGive, rate, paymentMethods, geohash = null, note = '', lifetimeSecs = 24 * HOUR }) {
    const now = nowSecs()
    const offer = await sign('Offer', {
      maker: this.peer.publicKey,
      give,
      min_give: minGive,
      max_give: maxGive,
      want,
      rate,
      payment_methods: paymentMethods,
      geohash,
      note,
      created_at: now,
      expires_at: now + lifetimeSecs,
      nonce: randomNonce()
    }, this.peer.privateKey)
    const id = await validate('Offer', offer, now)
    const open = [...this.offers.values()].length
    if (open >= LIMITS.maxOpenOffersPerMaker) throw new ValidationError(`at most ${LIMITS.maxOpenOffersPerMaker} open offers per maker`)
    this.offers.set(id, { offer, update: null, remaining: BigInt(maxGive), takes: new Map() })
    await this.publish({ Offer: { offer, update: null } }, marketOf(give, want))
    return id
  }

  /** Withdraws an own offer: a signed cancel, final. */
  async cancel (id) {
    const entry = this.offers.get(id)
    if (!entry) throw new Error(`no open offer ${id} of this peer`)
    const cancel = await sign('OfferCancel', { offer_id: id, maker: this.peer.publicKey, created_at: nowSecs() }, this.peer.privateKey)
    this.offers.delete(id)
    const o = entry.offer.body
    await this.publish({ Cancel: cancel }, marketOf(o.give, o.want))
  }

  /** Applies a gossip message to this peer's own book and publishes it. */
  async publish (message, market) {
    await this.peer.follow(market).apply(message)
    await this.peer.node.services.pubsub.publish(topicOf(market), encode(GossipMessage, message))
  }

  /** The open own offers of `market`, as sync pages carry them. */
  page (market) {
    const now = BigInt(nowSecs())
    return [...this.offers.values()]
      .filter(({ offer, remaining }) => {
        const o = offer.body
        const [base, quote] = marketOf(o.give, o.want)
        return base === market[0] && quote === market[1] && remaining > 0n && BigInt(o.expires_at) > now
      })
      .map(({ offer, update }) => ({ offer, update }))
  }

  async reject (requestId, reason) {
    const reject = await sign('TakeReject', {
      request_id: requestId, maker: this.peer.publicKey, reason, created_at: nowSecs()
    }, this.peer.privateKey)
    return { Take: { Reject: reject } }
  }

  /** Answers a take (section 9, step 2): a signed contract, or a signed reason. */
  async onTake (take, from, peerIdOfKey) {
    const requestId = messageId('TakeRequest', take.body)
    const now = nowSecs()
    try {
      await validate('TakeRequest', take, now)
    } catch (e) {
      if (!(e instanceof ValidationError || e instanceof RangeError)) throw e
      return this.reject(requestId, { Invalid: e.message })
    }
    const t = take.body
    if (!peerIdOfKey(t.taker).equals(from)) return this.reject(requestId, { Invalid: 'the taker key is not the sender\'s' })
    if (t.taker === this.peer.publicKey) return this.reject(requestId, 'SelfTake')
    const entry = this.offers.get(t.offer_id)
    if (!entry) return this.reject(requestId, 'UnknownOffer')
    const o = entry.offer.body
    if (BigInt(o.expires_at) <= BigInt(now)) return this.reject(requestId, 'Expired')
    if (entry.remaining === 0n) return this.reject(requestId, 'Closed')
    if (!o.payment_methods.includes(t.payment_method)) return this.reject(requestId, 'PaymentMethodNotOffered')
    const amount = BigInt(t.give_amount)
    if (amount < BigInt(o.min_give) || amount > BigInt(o.max_give)) {
      return this.reject(requestId, { AmountOutOfRange: { min: o.min_give, max: o.max_give } })
    }
    this.expireTakes(entry, now)
    const held = [...entry.takes.values()].reduce((sum, r) => sum + r.amount, 0n)
    if (amount > entry.remaining) return this.reject(requestId, { InsufficientRemaining: { available: entry.remaining } })
    if (amount > entry.remaining - held) {
      const soonest = Math.min(...[...entry.takes.values()].map((r) => r.expiresAt))
      return this.reject(requestId, { Reserved: { retry_after_secs: Math.max(1, soonest - now) } })
    }
    // A counter rate is taken only if it is at least the offer's.
    if (t.counter_rate !== null && compareRates(t.counter_rate, o.rate) < 0) {
      return this.reject(requestId, { RateRefused: { maker_rate: o.rate } })
    }
    const rate = t.counter_rate ?? o.rate
    const wantAmount = wantForGive(t.give_amount, o.give, o.want, rate)
    if (wantAmount === 0n) return this.reject(requestId, { Invalid: 'the amount converts to nothing' })
    const contract = await sign('Contract', {
      offer_id: t.offer_id,
      request_id: requestId,
      maker: o.maker,
      taker: t.taker,
      give: o.give,
      want: o.want,
      give_amount: t.give_amount,
      want_amount: narrow(wantAmount),
      rate,
      payment_method: t.payment_method,
      created_at: now,
      deadline: now + (PAYMENT_WINDOWS[t.payment_method] ?? DEFAULT_WINDOW)
    }, this.peer.privateKey)
    entry.takes.set(requestId, { amount, expiresAt: now + TAKE_TIMEOUT_SECS, contract, from })
    return { Take: { Accept: contract } }
  }

  expireTakes (entry, now) {
    for (const [id, r] of entry.takes) if (r.expiresAt <= now) entry.takes.delete(id)
  }

  /** Stores the trade a countersignature completes (section 9, step 4). */
  async onCountersign ({ request_id: requestId, taker_signature: signature }, from) {
    const done = this.stored.get(requestId)
    if (done) return { Stored: done }
    const now = nowSecs()
    const found = [...this.offers.entries()].find(([, e]) => {
      this.expireTakes(e, now)
      return e.takes.has(requestId)
    })
    if (!found) return { Refused: 'UnknownTake' }
    const [offerId, entry] = found
    const take = entry.takes.get(requestId)
    if (!take.from.equals(from)) return { Refused: 'NotTheTaker' }
    const c = take.contract.body
    if (!await verifyBytes(c.taker, signingBytes('Contract', c), signature)) return { Refused: 'BadCountersignature' }
    const tradeId = messageId('Contract', c)
    entry.takes.delete(requestId)
    entry.remaining -= take.amount
    this.stored.set(requestId, tradeId)
    this.peer.trades.set(tradeId, {
      contract: { contract: take.contract, taker_signature: signature },
      log: [],
      state: new TradeState(c),
      side: 'Maker',
      pending: null
    })
    // The fill, for everyone's book.
    await this.announce(offerId, now)
    if (entry.remaining === 0n) this.offers.delete(offerId)
    return { Stored: tradeId }
  }

  /**
   * Signs the next update of an own offer (what remains now) and publishes
   * it with the offer: a fill's news, or a re-announcement.
   */
  async announce (offerId, now = nowSecs()) {
    const entry = this.offers.get(offerId)
    if (!entry) return
    const seq = (entry.update ? BigInt(entry.update.body.seq) : 0n) + 1n
    entry.update = await sign('OfferUpdate', {
      offer_id: offerId,
      maker: this.peer.publicKey,
      remaining: narrow(entry.remaining),
      seq: Number(seq),
      created_at: now
    }, this.peer.privateKey)
    const o = entry.offer.body
    await this.publish({ Offer: { offer: entry.offer, update: entry.update } }, marketOf(o.give, o.want))
  }

  /** Re-announces every own open offer not yet expired; returns how many. */
  async reannounce () {
    const now = nowSecs()
    let n = 0
    for (const [id, entry] of this.offers) {
      if (entry.remaining > 0n && BigInt(entry.offer.body.expires_at) > BigInt(now)) {
        await this.announce(id, now)
        n++
      }
    }
    return n
  }
}
