// A market's book, kept from verified gossip and sync pages by the rules of
// docs/PROTOCOL.md section 7: an offer is open while it is not cancelled, not
// expired, and its latest update (if any) leaves something to fill.

import { marketOf, nowSecs, validate, validateRatedTrade, LIMITS, ValidationError } from './verify.js'

/** Most cancelled offer ids remembered (oldest forgotten first). */
export const MAX_CANCELLED = 10_000
/** Most ratings kept (oldest forgotten first). */
export const MAX_RATINGS = 10_000

/** Remembers `key` in an insertion-ordered map of at most `max` entries. */
function remember (map, key, value, max) {
  map.set(key, value)
  while (map.size > max) map.delete(map.keys().next().value)
}

/** What applying a message did: 'added', 'updated', 'cancelled' or 'stale'. */
export class Book {
  /** @param {[string, string]} market */
  constructor (market) {
    this.market = market
    /** @type {Map<string, {offer: object, update: object|null}>} offers by id */
    this.offers = new Map()
    /** @type {Map<string, string>} cancelled offer ids, and their makers */
    this.cancelled = new Map()
    /** @type {Map<string, object>} ratings by `${trade_id}/${rater}`, the first one seen */
    this.ratings = new Map()
  }

  /**
   * Applies one `OfferState` (an offer and maybe its update) after checking
   * both. Throws ValidationError for anything invalid.
   */
  async applyOffer ({ offer, update }, now = nowSecs()) {
    const id = await validate('Offer', offer, now)
    const o = offer.body
    const [base, quote] = marketOf(o.give, o.want)
    if (base !== this.market[0] || quote !== this.market[1]) {
      throw new ValidationError(`offer of market ${base}-${quote} in ${this.market.join('-')}`)
    }
    if (update !== null) {
      await validate('OfferUpdate', update, now)
      if (update.body.offer_id !== id || update.body.maker !== o.maker) throw new ValidationError('update of another offer')
      if (BigInt(update.body.remaining) > BigInt(o.max_give)) throw new ValidationError('update leaves more than the offer\'s maximum')
    }
    if (this.cancelled.has(id)) return 'stale'
    const held = this.offers.get(id)
    if (held) {
      const heldSeq = held.update ? BigInt(held.update.body.seq) : 0n
      if (update === null || BigInt(update.body.seq) <= heldSeq) return 'stale'
      held.update = update
      return 'updated'
    }
    this.prune(now)
    const makers = [...this.offers.values()].filter((e) => e.offer.body.maker === o.maker).length
    if (makers >= LIMITS.maxOpenOffersPerMaker) return 'stale'
    this.offers.set(id, { offer, update })
    return 'added'
  }

  /** Applies a signed cancel: final for its offer. */
  async applyCancel (cancel, now = nowSecs()) {
    await validate('OfferCancel', cancel, now)
    const { offer_id: id, maker } = cancel.body
    const held = this.offers.get(id)
    if (held && held.offer.body.maker !== maker) throw new ValidationError('cancel by someone else than the maker')
    if (this.cancelled.has(id)) return 'stale'
    remember(this.cancelled, id, maker, MAX_CANCELLED)
    this.offers.delete(id)
    return 'cancelled'
  }

  /** Keeps a valid rating, the first one per trade and rater. */
  async applyRating (rated, now = nowSecs()) {
    await validateRatedTrade(rated, now)
    const key = `${rated.rating.body.trade_id}/${rated.rating.body.rater}`
    if (this.ratings.has(key)) return 'stale'
    remember(this.ratings, key, rated, MAX_RATINGS)
    return 'added'
  }

  /** Applies one decoded `GossipMessage`. */
  async apply (message, now = nowSecs()) {
    if (message.Offer) return this.applyOffer(message.Offer, now)
    if (message.Cancel) return this.applyCancel(message.Cancel, now)
    if (message.Rating) return this.applyRating(message.Rating, now)
    throw new ValidationError('unknown gossip message')
  }

  /**
   * Drops offers that expired or were filled: the book holds open offers
   * only, at most 64 per maker, so it cannot grow without bound.
   */
  prune (now = nowSecs()) {
    for (const [id, { offer, update }] of this.offers) {
      const remaining = update ? update.body.remaining : offer.body.max_give
      if (BigInt(offer.body.expires_at) <= BigInt(now) || BigInt(remaining) === 0n) this.offers.delete(id)
    }
  }

  /** The open offers, each with its id and what remains, by id. */
  open (now = nowSecs()) {
    const out = []
    for (const [id, { offer, update }] of this.offers) {
      const o = offer.body
      const remaining = update ? update.body.remaining : o.max_give
      if (BigInt(o.expires_at) <= BigInt(now) || BigInt(remaining) === 0n) continue
      out.push({ id, offer, update, remaining })
    }
    return out.sort((a, b) => a.id < b.id ? -1 : 1)
  }

  /** One open offer by id, or undefined. */
  get (id, now = nowSecs()) {
    return this.open(now).find((e) => e.id === id)
  }
}
