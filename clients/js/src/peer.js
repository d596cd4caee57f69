// A peerfx peer on js-libp2p: follows markets over gossipsub (section 7),
// syncs them (section 8) and takes offers (section 9) of docs/PROTOCOL.md.
//
// It is a whole peer, kept in memory: it reads, takes, makes offers
// (src/maker.js), serves its own offers over sync, and runs its trades'
// steps with the counterparty, Rust or JS.

import './compat.js'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { gossipsub } from '@chainsafe/libp2p-gossipsub'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from '@libp2p/interface'
import { Book } from './book.js'
import { decode, encode, DecodeError, fromHex } from './wire.js'
import {
  GossipMessage, SyncRequest, SyncResponse, TradeRequest, TradeResponse
} from './types.js'
import {
  gossipMessageId, LIMITS, messageId, nowSecs, publicKeyHex, randomNonce, sign, signingBytes, topicOf, validate,
  ValidationError, wantForGive
} from './verify.js'
import { rejectText, refusalText } from './text.js'
import { StepRefused, TradeState } from './trade.js'
import { Maker, REANNOUNCE_SECS } from './maker.js'

/** Protocol names (section 2). */
export const SYNC_PROTOCOL = '/peerfx/sync/3'
export const TRADE_PROTOCOL = '/peerfx/trade/3'

/** How long a dial or one request may take by default: the Rust node's request timeout. */
const REQUEST_TIMEOUT_MS = 10_000

/** The payment windows a taker accepts (section 9, step 3). */
const MIN_WINDOW_SECS = 5 * 60
const MAX_WINDOW_SECS = 14 * 24 * 3600

/** Why a take did not end in a stored contract. */
export class TakeError extends Error {
  constructor (message, reason) {
    super(message)
    this.name = 'TakeError'
    this.reason = reason
  }
}

/** The PeerId of an ed25519 public key given as hex. */
export function peerIdOfKey (keyHex) {
  return peerIdFromPublicKey(publicKeyFromRaw(fromHex(keyHex)))
}

/**
 * A stream's bytes to its end, refusing more than `limit` (section 8's
 * framing has no length prefix: the reader bounds what it takes).
 */
async function readAll (source, limit, what) {
  const chunks = []
  let size = 0
  for await (const chunk of source) {
    const bytes = chunk.subarray()
    size += bytes.length
    if (size > limit) throw new DecodeError(`${what} of more than ${limit} bytes`)
    chunks.push(bytes)
  }
  const out = new Uint8Array(size)
  let at = 0
  for (const c of chunks) {
    out.set(c, at)
    at += c.length
  }
  return out
}

/** Trade requests served at once; more are refused (stream limit). */
const MAX_INBOUND_TRADE_STREAMS = 32

/**
 * Events: `offer` ({ market, id, result, kind }) for every gossip message
 * that changed a book; `rejected` ({ market, from, error }) for invalid
 * gossip; `trade` ({ tradeId, message, state }) for every message of the
 * other party that this peer stored.
 */
export class Peer extends TypedEventEmitter {
  /**
   * Starts a peer; `privateKey` is a libp2p ed25519 key (a new one if
   * absent), `listen` multiaddrs to listen on (none by default: it dials),
   * `requestTimeoutMs` the longest a dial or a request may take.
   */
  static async start ({ privateKey, listen = [], requestTimeoutMs = REQUEST_TIMEOUT_MS } = {}) {
    privateKey = privateKey ?? await generateKeyPair('Ed25519')
    const node = await createLibp2p({
      privateKey,
      addresses: { listen },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: {
        identify: identify({ protocolPrefix: 'ipfs' }),
        pubsub: gossipsub({
          globalSignaturePolicy: 'StrictSign',
          // Content-addressed ids: the same bytes are one message (section 7).
          msgIdFn: (msg) => gossipMessageId(msg.data),
          allowPublishToZeroTopicPeers: true,
          emitSelf: false,
          maxInboundDataLength: 256 * 1024
        })
      }
    })
    const peer = new Peer(node, privateKey, requestTimeoutMs)
    await node.handle(TRADE_PROTOCOL, ({ stream, connection }) => {
      peer.serveTrade(stream, connection.remotePeer).catch((error) => {
        stream.abort(error)
      })
    }, { maxInboundStreams: MAX_INBOUND_TRADE_STREAMS })
    await node.handle(SYNC_PROTOCOL, ({ stream }) => {
      peer.serveSync(stream).catch((error) => {
        stream.abort(error)
      })
    }, { maxInboundStreams: MAX_INBOUND_TRADE_STREAMS })
    return peer
  }

  constructor (node, privateKey, requestTimeoutMs = REQUEST_TIMEOUT_MS) {
    super()
    this.requestTimeoutMs = requestTimeoutMs
    this.node = node
    this.privateKey = privateKey
    this.publicKey = publicKeyHex(privateKey)
    /** @type {Map<string, Book>} books by topic */
    this.books = new Map()
    /**
     * Trades this peer took, in memory: the contract both signed, the log,
     * the state, this peer's side, and its message not yet acknowledged.
     * @type {Map<string, {contract: object, log: object[], state: TradeState, side: string, pending: object|null}>}
     */
    this.trades = new Map()
    /** This peer's own offers, and its answers to takes of them. */
    this.maker = new Maker(this)
    // The re-announcement, which other nodes read as this maker's presence.
    // unref: it never keeps the process alive on its own.
    this.reannouncing = setInterval(() => {
      this.maker.reannounce().catch(() => {})
    }, REANNOUNCE_SECS * 1000)
    this.reannouncing.unref()
  }

  /** Posts an offer (see Maker.post); resolves to its id. */
  async post (spec) {
    return this.maker.post(spec)
  }

  /** Answers a sync request with this peer's own open offers of the market (section 8). */
  async serveSync (stream) {
    const bytes = await readAll(stream.source, LIMITS.maxSyncRequestBytes, 'sync request')
    let response
    try {
      const request = decode(SyncRequest, bytes, LIMITS.maxSyncRequestBytes)
      if (request.cursor !== null && request.cursor.length > LIMITS.maxCursorBytes) {
        response = { Refused: 'BadCursor' }
      } else {
        // One page holds them all (at most 64 per maker): a cursor asks for
        // the page after it, which is empty.
        const offers = request.cursor === null ? this.maker.page(request.market).slice(0, Math.max(1, request.limit)) : []
        response = { Page: { offers, next: null, ratings: [] } }
      }
    } catch (e) {
      if (!(e instanceof DecodeError || e instanceof RangeError)) throw e
      response = { Refused: 'Unavailable' }
    }
    await stream.sink([encode(SyncResponse, response)])
  }

  get peerId () {
    return this.node.peerId
  }

  /** Dials a multiaddr (with its /p2p/ part); returns the remote PeerId. */
  async dial (addr) {
    const conn = await this.node.dial(multiaddr(addr), { signal: AbortSignal.timeout(this.requestTimeoutMs) })
    return conn.remotePeer
  }

  /** Follows a market: subscribes to its topic and keeps its verified book. */
  follow (market) {
    const topic = topicOf(market)
    let book = this.books.get(topic)
    if (book) return book
    book = new Book(market)
    this.books.set(topic, book)
    const pubsub = this.node.services.pubsub
    // The validator is the whole check: what it accepts is in the book, and
    // gossipsub forwards only what it accepts (section 7).
    pubsub.topicValidators.set(topic, async (from, msg) => {
      try {
        const message = decode(GossipMessage, msg.data, LIMITS.maxGossipBytes)
        const result = await book.apply(message)
        if (result === 'stale') return 'ignore'
        const id = message.Offer
          ? messageId('Offer', message.Offer.offer.body)
          : message.Cancel ? message.Cancel.body.offer_id : message.Rating.rating.body.trade_id
        this.safeDispatchEvent('offer', { detail: { market, id, result, kind: Object.keys(message)[0] } })
        return 'accept'
      } catch (error) {
        if (!(error instanceof DecodeError || error instanceof ValidationError || error instanceof RangeError)) throw error
        this.safeDispatchEvent('rejected', { detail: { market, from: from.toString(), error } })
        return 'reject'
      }
    })
    pubsub.subscribe(topic)
    return book
  }

  /** The peers this node knows to follow `market`'s topic. */
  subscribers (market) {
    return this.node.services.pubsub.getSubscribers(topicOf(market))
  }

  /** The peers (as PeerId strings) in this node's gossip mesh for `market`. */
  meshPeers (market) {
    return this.node.services.pubsub.getMeshPeers(topicOf(market))
  }

  /**
   * One request-response exchange (section 8's framing): write one message,
   * close the write side, read at most `limit` bytes to the end.
   */
  async request (peerId, protocol, reqCodec, request, respCodec, limit) {
    const signal = AbortSignal.timeout(this.requestTimeoutMs)
    const stream = await this.node.dialProtocol(peerId, protocol, { signal })
    // The timeout covers the whole exchange: a peer that never answers ends
    // the read with an error instead of holding it open forever.
    const onAbort = () => stream.abort(new Error(`no answer from ${peerId} within ${this.requestTimeoutMs} ms`))
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      await stream.sink([encode(reqCodec, request)])
      return decode(respCodec, await readAll(stream.source, limit, 'response'), limit)
    } catch (e) {
      stream.abort(e)
      throw e
    } finally {
      signal.removeEventListener('abort', onAbort)
      if (stream.status === 'open') await stream.close().catch(() => {})
    }
  }

  /**
   * Syncs `market` from `peerId`, page by page, into the book: returns how
   * many offers and ratings were added or updated, and how many were invalid.
   */
  async sync (peerId, market, { pageLimit = 256, maxPages = 64 } = {}) {
    const book = this.follow(market)
    let cursor = null
    const counts = { pages: 0, changed: 0, invalid: 0, ratings: 0 }
    do {
      const response = await this.request(peerId, SYNC_PROTOCOL, SyncRequest,
        { market, cursor, limit: pageLimit }, SyncResponse, LIMITS.maxSyncResponseBytes)
      if (response.Refused) throw new Error(`sync refused: ${response.Refused}`)
      const page = response.Page
      counts.pages++
      // Every entry is checked as if gossiped; an invalid one is counted, not kept.
      const tally = async (apply, key) => {
        try {
          if (await apply() !== 'stale') counts[key]++
        } catch (e) {
          if (!(e instanceof ValidationError || e instanceof RangeError)) throw e
          counts.invalid++
        }
      }
      for (const state of page.offers) await tally(() => book.applyOffer(state), 'changed')
      for (const rated of page.ratings) await tally(() => book.applyRating(rated), 'ratings')
      // An empty page with a cursor would loop forever on a broken peer.
      cursor = page.offers.length > 0 ? page.next : null
    } while (cursor !== null && counts.pages < maxPages)
    return counts
  }

  async tradeRequest (peerId, request) {
    return this.request(peerId, TRADE_PROTOCOL, TradeRequest, request, TradeResponse, LIMITS.maxTradeBytes)
  }

  /**
   * Takes `giveAmount` minor units of an open offer of the book, paying with
   * `paymentMethod` (section 9). Resolves to the contract both signed and its
   * trade id, once the maker has stored it; throws TakeError otherwise.
   */
  async take (market, offerId, { giveAmount, paymentMethod, counterRate = null }) {
    const entry = this.follow(market).get(offerId)
    if (!entry) throw new TakeError(`no open offer ${offerId} in ${market.join('-')}`)
    const offer = entry.offer.body
    paymentMethod = paymentMethod ?? offer.payment_methods[0]
    const maker = peerIdOfKey(offer.maker)
    const take = await sign('TakeRequest', {
      offer_id: offerId,
      taker: this.publicKey,
      give_amount: giveAmount,
      counter_rate: counterRate,
      payment_method: paymentMethod,
      created_at: nowSecs(),
      nonce: randomNonce()
    }, this.privateKey)
    const requestId = await validate('TakeRequest', take)

    const reply = await this.withRetries(() => this.tradeRequest(maker, { Take: take }))
    if (reply.Take?.Reject) {
      const reject = reply.Take.Reject
      await validate('TakeReject', reject)
      if (reject.body.maker !== offer.maker || reject.body.request_id !== requestId) throw new TakeError('a reject that is not the maker\'s answer to this take')
      throw new TakeError(`the maker refused: ${rejectText(reject.body.reason)}`, reject.body.reason)
    }
    if (!reply.Take?.Accept) throw new TakeError(`unexpected answer to a take: ${Object.keys(reply)[0]}`)
    const contract = reply.Take.Accept
    await validate('Contract', contract)
    this.checkContract(contract.body, entry.offer, take)

    const tradeId = messageId('Contract', contract.body)
    const takerSignature = Buffer.from(await this.privateKey.sign(signingBytes('Contract', contract.body))).toString('hex')
    const stored = await this.withRetries(() => this.tradeRequest(maker, {
      Countersign: { request_id: requestId, taker_signature: takerSignature }
    }))
    if (stored.Stored !== tradeId) throw new TakeError(`the maker did not store the trade: ${JSON.stringify(stored)}`)
    const signedContract = { contract, taker_signature: takerSignature }
    this.trades.set(tradeId, {
      contract: signedContract, log: [], state: new TradeState(contract.body), side: 'Taker', pending: null
    })
    return { tradeId, signedContract }
  }

  /**
   * Sends one step or chat line of a trade this peer took (a TradeAction:
   * 'Paid', 'Received', 'Cancel', { Dispute: { reason } }, { Chat: { text } },
   * { Close: { seen } }) and resolves once the counterparty stored it (its
   * Ack). The step counts on this side only then, so a cancel never holds
   * on one side alone. A message that was not acknowledged is sent again,
   * unchanged, before the next one.
   */
  async step (tradeId, action) {
    const trade = this.trades.get(tradeId)
    if (!trade) throw new Error(`no trade ${tradeId}`)
    const c = trade.contract.contract.body
    const other = peerIdOfKey(trade.side === 'Taker' ? c.maker : c.taker)
    if (trade.pending) await this.deliver(trade, tradeId, other, trade.pending)
    const body = {
      trade_id: tradeId,
      author: this.publicKey,
      seq: trade.state.nextSeq(trade.side),
      created_at: nowSecs(),
      action
    }
    trade.state.check(c, tradeId, body)
    trade.pending = await sign('TradeMessage', body, this.privateKey)
    await this.deliver(trade, tradeId, other, trade.pending)
    return trade.state
  }

  async deliver (trade, tradeId, other, signed) {
    const response = await this.withRetries(() => this.tradeRequest(other, { Message: signed }))
    if (!response.Ack || response.Ack.trade_id !== tradeId || response.Ack.seq !== signed.body.seq) {
      throw new Error(`unexpected answer to a trade message: ${JSON.stringify(response)}`)
    }
    trade.state.apply(trade.contract.contract.body, tradeId, signed.body)
    trade.log.push(signed)
    trade.pending = null
  }

  /** Answers one inbound trade request (section 9). */
  async serveTrade (stream, from) {
    const bytes = await readAll(stream.source, LIMITS.maxTradeBytes, 'trade request')
    let response
    try {
      response = await this.onTradeRequest(decode(TradeRequest, bytes, LIMITS.maxTradeBytes), from)
    } catch (e) {
      if (!(e instanceof DecodeError || e instanceof RangeError)) throw e
      response = { Refused: { Invalid: e.message } }
    }
    await stream.sink([encode(TradeResponse, response)])
  }

  async onTradeRequest (request, from) {
    if (request.Take) return this.maker.onTake(request.Take, from, peerIdOfKey)
    if (request.Countersign) return this.maker.onCountersign(request.Countersign, from)
    const signed = request.Message
    const msg = signed.body
    try {
      await validate('TradeMessage', signed)
    } catch (e) {
      if (!(e instanceof ValidationError || e instanceof RangeError)) throw e
      return { Refused: { Invalid: e.message } }
    }
    if (!peerIdOfKey(msg.author).equals(from)) return { Refused: 'NotTheAuthor' }
    const trade = this.trades.get(msg.trade_id)
    if (!trade) return { Refused: 'UnknownTrade' }
    // A resend of a stored message is acknowledged again.
    const stored = trade.log.find((m) => m.body.author === msg.author && m.body.seq === msg.seq)
    if (stored && stored.signature === signed.signature) return { Ack: { trade_id: msg.trade_id, seq: msg.seq } }
    const c = trade.contract.contract.body
    try {
      trade.state.admit(c, msg.trade_id, msg, nowSecs())
    } catch (e) {
      if (e instanceof StepRefused) return { Refused: { Step: e.error } }
      throw e
    }
    trade.state.apply(c, msg.trade_id, msg)
    trade.log.push(signed)
    this.safeDispatchEvent('trade', { detail: { tradeId: msg.trade_id, message: signed, state: trade.state } })
    return { Ack: { trade_id: msg.trade_id, seq: msg.seq } }
  }

  /** The taker's check of a contract (section 9, step 3). */
  checkContract (c, offer, take) {
    const o = offer.body
    const t = take.body
    const fail = (what) => { throw new TakeError(`the contract does not match the offer and request: ${what}`) }
    if (c.offer_id !== messageId('Offer', o) || c.request_id !== messageId('TakeRequest', t)) fail('ids')
    if (c.maker !== o.maker || c.taker !== this.publicKey) fail('parties')
    if (c.give !== o.give || c.want !== o.want) fail('currencies')
    if (BigInt(c.give_amount) !== BigInt(t.give_amount)) fail('amount')
    if (c.rate !== (t.counter_rate ?? o.rate)) fail('rate')
    if (BigInt(c.want_amount) !== wantForGive(c.give_amount, c.give, c.want, c.rate)) fail('price')
    if (c.payment_method !== t.payment_method) fail('payment method')
    const now = BigInt(nowSecs())
    const skew = BigInt(LIMITS.maxClockSkewSecs)
    const created = BigInt(c.created_at)
    if (created < now - skew || created > now + skew) fail('contract time: too far from the taker\'s clock')
    const window = BigInt(c.deadline) - created
    if (window < BigInt(MIN_WINDOW_SECS)) fail('deadline: too soon to settle')
    if (window > BigInt(MAX_WINDOW_SECS)) fail('deadline: too far away')
  }

  /** Sends until the answer is not a transient refusal (section 9), three times at most. */
  async withRetries (send) {
    for (let attempt = 1; ; attempt++) {
      const response = await send()
      const refusal = response.Refused
      const transient = refusal === 'Busy' || refusal === 'Storage' || refusal === 'RateLimited'
      if (!refusal) return response
      if (!transient || attempt === 3) throw new TakeError(`the maker refused: ${refusalText(refusal)}`, refusal)
      await new Promise((resolve) => setTimeout(resolve, 500 * attempt))
    }
  }

  async stop () {
    clearInterval(this.reannouncing)
    await this.node.stop()
  }
}
