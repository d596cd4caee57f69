// Signing, ids, prices and the validation rules of docs/PROTOCOL.md
// sections 4, 5.1 and 6.

import { readFileSync } from 'node:fs'
import { sha256 } from '@noble/hashes/sha256'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { encode, fromHex, narrow, toHex } from './wire.js'
import { BODIES, parseRate } from './types.js'

/** ISO 4217 codes a peer accepts, and their minor-unit digits (section 6). */
export const CURRENCIES = JSON.parse(
  readFileSync(new URL('../../../tests/vectors/currencies.json', import.meta.url), 'utf8'))

/** The limits of section 6.1 and the rules of section 6. */
export const LIMITS = {
  maxMessageBytes: 4096,
  maxGossipBytes: 2 * 4096 + 64,
  maxTradeBytes: 4096 + 64,
  maxSyncRequestBytes: 80 + 64,
  maxCursorBytes: 80,
  maxSyncResponseBytes: 1024 * 1024,
  maxNoteBytes: 280,
  maxTextBytes: 1000,
  maxPaymentMethods: 8,
  maxOfferLifetimeSecs: 30 * 24 * 3600,
  maxClockSkewSecs: 300,
  maxOpenOffersPerMaker: 64
}

/** The bytes a signature covers: domain, NUL, the body's encoding (section 4). */
export function signingBytes (kind, body) {
  const { codec, domain } = BODIES[kind]
  const encoded = encode(codec, body)
  const prefix = new TextEncoder().encode(domain)
  const out = new Uint8Array(prefix.length + 1 + encoded.length)
  out.set(prefix, 0)
  out.set(encoded, prefix.length + 1)
  return out
}

/** The content id of a signed body: SHA-256 of its signing bytes, hex. */
export function messageId (kind, body) {
  return toHex(sha256(signingBytes(kind, body)))
}

/** The gossipsub message id: the first 20 bytes of SHA-256 of the data. */
export function gossipMessageId (data) {
  return sha256(data).subarray(0, 20)
}

/** Whether `signatureHex` is `keyHex`'s ed25519 signature over `bytes`. */
export async function verifyBytes (keyHex, bytes, signatureHex) {
  let key
  try {
    key = publicKeyFromRaw(fromHex(keyHex))
  } catch {
    return false
  }
  return await key.verify(bytes, fromHex(signatureHex))
}

/** Whether a `Signed<kind>` carries its author's valid signature. */
export async function verifySigned (kind, signed) {
  const author = signed.body[BODIES[kind].author]
  return verifyBytes(author, signingBytes(kind, signed.body), signed.signature)
}

/** Signs a body with a libp2p ed25519 private key: a `Signed<kind>`. */
export async function sign (kind, body, privateKey) {
  const signature = await privateKey.sign(signingBytes(kind, body))
  return { body, signature: toHex(signature) }
}

/** The raw 32-byte public key of a libp2p ed25519 key, hex. */
export function publicKeyHex (privateKey) {
  return toHex(privateKey.publicKey.raw)
}

const U64_MAX = (1n << 64n) - 1n
const U128_MAX = (1n << 128n) - 1n

/**
 * What a fill of `giveAmount` minor units of `give` costs in minor units of
 * `want` at `rate`, rounded down (section 5.1); throws on overflow or an
 * unknown currency.
 */
export function wantForGive (giveAmount, give, want, rate) {
  const eg = CURRENCIES[give]
  const ew = CURRENCIES[want]
  if (eg === undefined || ew === undefined) throw new RangeError(`unknown currency ${eg === undefined ? give : want}`)
  const { mantissa, scale } = parseRate(rate)
  const num = BigInt(giveAmount) * mantissa * 10n ** BigInt(ew)
  if (num > U128_MAX) throw new RangeError('amount overflow')
  const out = num / 10n ** BigInt(eg + scale)
  if (out > U64_MAX) throw new RangeError('amount overflow')
  return out
}

/** Why a validation failed. */
export class ValidationError extends Error {
  constructor (message) {
    super(message)
    this.name = 'ValidationError'
  }
}

function fail (message) {
  throw new ValidationError(message)
}

const FORBIDDEN = /[\p{Cc}\u2028\u2029\u202A-\u202E\u2066-\u2069]/u

function checkText (field, text, max) {
  const size = new TextEncoder().encode(text).length
  if (size > max) fail(`${field} is ${size} bytes, limit ${max}`)
  const bad = FORBIDDEN.exec(text)
  if (bad) fail(`${field} contains forbidden character U+${bad[0].codePointAt(0).toString(16).padStart(4, '0')}`)
}

function checkCurrency (c) {
  if (CURRENCIES[c] === undefined) fail(`unknown currency ${JSON.stringify(c)}`)
}

const MIN_RATE = parseRate('0.000000001')
const MAX_RATE = parseRate('1000000000')

/** -1, 0 or 1 as rate `a` is below, equal to or above `b` (decimal strings or parsed), exactly. */
export function compareRates (a, b) {
  if (typeof a === 'string') a = parseRate(a)
  if (typeof b === 'string') b = parseRate(b)
  // a.m / 10^a.s vs b.m / 10^b.s.
  const s = Math.max(a.scale, b.scale)
  const x = a.mantissa * 10n ** BigInt(s - a.scale)
  const y = b.mantissa * 10n ** BigInt(s - b.scale)
  return x < y ? -1 : x > y ? 1 : 0
}

function checkRate (rate) {
  const r = parseRate(rate)
  if (r.mantissa === 0n) fail('rate is zero')
  if (compareRates(r, MIN_RATE) < 0 || compareRates(r, MAX_RATE) > 0 || r.scale > 12 ||
      r.mantissa.toString().length > 15) {
    fail(`rate ${rate} out of range`)
  }
}

function checkPaymentMethod (p) {
  if (!/^[a-z0-9-]{1,24}$/.test(p)) fail(`invalid payment method ${JSON.stringify(p)}`)
}

function checkCreatedAt (createdAt, now) {
  if (BigInt(createdAt) > BigInt(now) + BigInt(LIMITS.maxClockSkewSecs)) fail(`dated ${createdAt}, in the future (now ${now})`)
}

function checkSize (kind, body) {
  // The Signed<T> encoding: version byte and body, then the signature's
  // one-byte length and 64 bytes.
  const size = signingBytes(kind, body).length - BODIES[kind].domain.length - 1 + 65
  if (size > LIMITS.maxMessageBytes) fail(`message too large: ${size} bytes, limit ${LIMITS.maxMessageBytes}`)
}

const FIELD_RULES = {
  Offer (o, now) {
    checkCurrency(o.give)
    checkCurrency(o.want)
    if (o.give === o.want) fail(`give and want are both ${o.give}`)
    if (BigInt(o.min_give) === 0n) fail('min_give must be greater than zero')
    if (BigInt(o.min_give) > BigInt(o.max_give)) fail(`minimum ${o.min_give} is above maximum ${o.max_give}`)
    checkRate(o.rate)
    let minWant
    try {
      minWant = wantForGive(o.min_give, o.give, o.want, o.rate)
      wantForGive(o.max_give, o.give, o.want, o.rate)
    } catch (e) {
      fail(`amounts do not convert at this rate: ${e.message}`)
    }
    if (minWant === 0n) fail('amounts do not convert at this rate: the minimum fill converts to zero')
    if (o.payment_methods.length === 0) fail('an offer needs at least one payment method')
    if (o.payment_methods.length > LIMITS.maxPaymentMethods) fail(`${o.payment_methods.length} payment methods, limit ${LIMITS.maxPaymentMethods}`)
    o.payment_methods.forEach((p, i) => {
      checkPaymentMethod(p)
      if (o.payment_methods.indexOf(p) !== i) fail(`payment method ${JSON.stringify(p)} listed twice`)
    })
    if (o.geohash !== null && !/^[0-9b-hj-km-np-z]{1,9}$/.test(o.geohash)) fail(`invalid geohash ${JSON.stringify(o.geohash)}`)
    checkText('note', o.note, LIMITS.maxNoteBytes)
    checkCreatedAt(o.created_at, now)
    const [created, expires] = [BigInt(o.created_at), BigInt(o.expires_at)]
    if (expires <= BigInt(now) || expires <= created) fail(`expired at ${o.expires_at} (now ${now})`)
    if (expires - created > BigInt(LIMITS.maxOfferLifetimeSecs)) fail(`expiry ${o.expires_at} is more than ${LIMITS.maxOfferLifetimeSecs} s after creation`)
  },
  OfferUpdate (u, now) {
    if (BigInt(u.seq) === 0n) fail('seq must start at 1')
    checkCreatedAt(u.created_at, now)
  },
  OfferCancel (c, now) {
    checkCreatedAt(c.created_at, now)
  },
  TakeRequest (t, now) {
    if (BigInt(t.give_amount) === 0n) fail('give_amount must be greater than zero')
    if (t.counter_rate !== null) checkRate(t.counter_rate)
    checkPaymentMethod(t.payment_method)
    checkCreatedAt(t.created_at, now)
  },
  TakeReject (r, now) {
    if (typeof r.reason === 'object' && 'Invalid' in r.reason) checkText('reason', r.reason.Invalid, LIMITS.maxTextBytes)
    checkCreatedAt(r.created_at, now)
  },
  Contract (c) {
    checkCurrency(c.give)
    checkCurrency(c.want)
    if (c.give === c.want) fail(`give and want are both ${c.give}`)
    if (BigInt(c.give_amount) === 0n) fail('give_amount must be greater than zero')
    if (BigInt(c.want_amount) === 0n) fail('want_amount must be greater than zero')
    checkRate(c.rate)
    checkPaymentMethod(c.payment_method)
  },
  TradeMessage (m, now) {
    if (m.seq === 0) fail('seq must start at 1')
    const a = m.action
    if (typeof a === 'object' && 'Dispute' in a) checkText('reason', a.Dispute.reason, LIMITS.maxTextBytes)
    if (typeof a === 'object' && 'Chat' in a) checkText('text', a.Chat.text, LIMITS.maxTextBytes)
    checkCreatedAt(m.created_at, now)
  },
  Rating (r, now) {
    if (r.score < 1 || r.score > 5) fail(`score ${r.score} is not 1 to 5`)
    checkText('comment', r.comment, 280)
    checkCreatedAt(r.created_at, now)
  }
}

/** A random u64 to make otherwise equal signed messages distinct. */
export function randomNonce () {
  return narrow(new DataView(crypto.getRandomValues(new Uint8Array(8)).buffer).getBigUint64(0))
}

/** Unix seconds now. */
export function nowSecs () {
  return Math.floor(Date.now() / 1000)
}

/**
 * Validates a `Signed<kind>` at `now` (section 6): size, fields, then the
 * signature. Returns its id; throws ValidationError.
 */
export async function validate (kind, signed, now = nowSecs()) {
  checkSize(kind, signed.body)
  FIELD_RULES[kind](signed.body, now)
  if (!await verifySigned(kind, signed)) fail('bad signature')
  return messageId(kind, signed.body)
}

/** Validates a rating with its contract (section 11); returns the rated key. */
export async function validateRatedTrade (rated, now = nowSecs()) {
  const r = rated.rating.body
  await validate('Rating', rated.rating, now)
  const c = rated.contract.contract.body
  FIELD_RULES.Contract(c, now)
  if (!await verifySigned('Contract', rated.contract.contract)) fail('bad maker signature on the contract')
  if (!await verifyBytes(c.taker, signingBytes('Contract', c), rated.contract.taker_signature)) fail('bad taker signature on the contract')
  if (r.trade_id !== messageId('Contract', c)) fail('the rating is of another trade')
  if (BigInt(r.created_at) < BigInt(c.created_at)) fail('the rating is dated before the trade')
  if (r.rater === c.maker) return c.taker
  if (r.rater === c.taker) return c.maker
  fail('the rater is not a party to the trade')
}

/** The market `[base, quote]` of two currencies, in byte order. */
export function marketOf (a, b) {
  return a < b ? [a, b] : [b, a]
}

/** The gossipsub topic of a market (section 7). */
export function topicOf ([base, quote]) {
  return `peerfx/1/market/${base}-${quote}`
}

/** Parses "EUR-USD" or "USD/EUR" into a market. */
export function parseMarket (text) {
  const m = /^([A-Z]{3})[-/]([A-Z]{3})$/.exec(text)
  if (!m || m[1] === m[2]) throw new RangeError(`not a market: ${JSON.stringify(text)} (say EUR-USD)`)
  for (const code of [m[1], m[2]]) {
    if (CURRENCIES[code] === undefined) throw new RangeError(`unknown currency ${code}: expected an ISO 4217 code such as EUR or USD`)
  }
  return marketOf(m[1], m[2])
}

export { toHex, fromHex }
