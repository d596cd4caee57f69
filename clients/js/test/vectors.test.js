// Every golden vector of tests/vectors (docs/PROTOCOL.md section 14), read
// with this implementation only: decoded into its type and compared with the
// vector's JSON, encoded back to the same bytes, every signature verified with
// its author's key and recomputed with the test keys, every id recomputed.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync, readdirSync } from 'node:fs'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { decode, encode, DecodeError, fromHex, toHex } from '../src/wire.js'
import { TYPES } from '../src/types.js'
import {
  gossipMessageId, messageId, parseMarket, sign, signingBytes, validate, validateRatedTrade, verifyBytes, verifySigned
} from '../src/verify.js'

const DIR = new URL('../../../tests/vectors/', import.meta.url)
const KEYS = JSON.parse(readFileSync(new URL('keys.json', DIR), 'utf8'))
/**
 * JSON.parse, with integers beyond 2^53 kept exact as strings: a JSON number
 * that large loses precision in a JavaScript number (section 14).
 */
function parseExact (text) {
  return JSON.parse(text.replace(/([:[,]\s*)(\d{16,})(?=\s*[,\]}])/g, (all, pre, digits) =>
    BigInt(digits) > BigInt(Number.MAX_SAFE_INTEGER) ? `${pre}"${digits}"` : all))
}

const VECTORS = readdirSync(DIR)
  .filter((f) => f.endsWith('.json') && !['keys.json', 'currencies.json', 'trade-logs.json'].includes(f))
  .map((f) => ({ name: f.replace(/\.json$/, ''), ...parseExact(readFileSync(new URL(f, DIR), 'utf8')) }))

/** A decoded value in the JSON shape of `parseExact`: bytes as arrays, BigInt as strings. */
function plain (v) {
  if (v instanceof Uint8Array) return Array.from(v)
  if (typeof v === 'bigint') return v.toString()
  if (Array.isArray(v)) return v.map(plain)
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
  return v
}

/** Every `Signed<kind>` inside a decoded value, found by the type's shape. */
function signedParts (type, value) {
  const v = value
  const out = []
  const kindOf = /^Signed<(\w+)>$/.exec(type)
  if (kindOf) out.push([kindOf[1], v])
  const offerState = (s) => {
    out.push(['Offer', s.offer])
    if (s.update) out.push(['OfferUpdate', s.update])
  }
  const rated = (r) => {
    out.push(['Contract', r.contract.contract], ['Rating', r.rating])
  }
  if (type === 'GossipMessage') {
    if (v.Offer) offerState(v.Offer)
    if (v.Cancel) out.push(['OfferCancel', v.Cancel])
    if (v.Rating) rated(v.Rating)
  }
  if (type === 'SyncResponse' && v.Page) {
    v.Page.offers.forEach(offerState)
    v.Page.ratings.forEach(rated)
  }
  if (type === 'TradeRequest') {
    if (v.Take) out.push(['TakeRequest', v.Take])
    if (v.Message) out.push(['TradeMessage', v.Message])
  }
  if (type === 'TradeResponse' && v.Take) {
    if (v.Take.Accept) out.push(['Contract', v.Take.Accept])
    if (v.Take.Reject) out.push(['TakeReject', v.Take.Reject])
  }
  if (type === 'SignedContract') out.push(['Contract', v.contract])
  if (type === 'RatedTrade') rated(v)
  return out
}

const keys = {}
for (const [role, k] of Object.entries(KEYS)) {
  keys[role] = await generateKeyPairFromSeed('Ed25519', fromHex(k.secret))
}

test('the test keys are the ones keys.json names', () => {
  for (const [role, k] of Object.entries(KEYS)) {
    assert.equal(toHex(keys[role].publicKey.raw), k.public)
    assert.equal(peerIdFromPrivateKey(keys[role]).toString(), k.peer_id)
  }
})

test('there are vectors of every envelope', () => {
  const types = new Set(VECTORS.map((v) => v.type))
  for (const t of ['GossipMessage', 'SyncRequest', 'SyncResponse', 'TradeRequest', 'TradeResponse', 'SignedContract', 'RatedTrade']) {
    assert.ok(types.has(t), `no vector of ${t}`)
  }
  assert.ok(VECTORS.length >= 30, `only ${VECTORS.length} vectors`)
})

for (const vec of VECTORS) {
  test(`vector ${vec.name} (${vec.type})`, async () => {
    const codec = TYPES[vec.type]
    assert.ok(codec, `no codec for type ${vec.type}`)
    const bytes = fromHex(vec.hex)
    const value = decode(codec, bytes, 1024 * 1024)
    assert.deepEqual(plain(value), vec.value, 'decodes to the vector\'s JSON')
    assert.equal(toHex(encode(codec, value)), vec.hex, 'encodes back to the same bytes')
    // The JSON alone, encoded, is the same bytes too: the spec's JSON is complete.
    assert.equal(toHex(encode(codec, vec.value)), vec.hex, 'the JSON encodes to the bytes')

    const parts = signedParts(vec.type, value)
    if (value.Countersign) {
      // A bare countersignature: the taker's, over the vectors' contract.
      const contract = VECTORS.find((v) => v.name === 'contract').value.body
      assert.ok(await verifyBytes(contract.taker, signingBytes('Contract', contract), value.Countersign.taker_signature))
      assert.equal(messageId('TakeRequest', VECTORS.find((v) => v.name === 'take-request').value.body), value.Countersign.request_id)
    } else {
      assert.equal(parts.length > 0, vec.signed_by.length > 0, 'signed parts match signed_by')
    }
    const roleOf = Object.fromEntries(Object.entries(KEYS).map(([r, k]) => [k.public, r]))
    for (const [kind, signed] of parts) {
      assert.ok(await verifySigned(kind, signed), `${kind} signature verifies`)
      const author = Object.values(signed.body).find((x) => roleOf[x] && [
        signed.body.maker, signed.body.taker, signed.body.author, signed.body.rater
      ].includes(x))
      // ed25519 is deterministic: signing again with the test key gives the same bytes.
      const authorField = { Offer: 'maker', OfferUpdate: 'maker', OfferCancel: 'maker', TakeRequest: 'taker', TakeReject: 'maker', Contract: 'maker', TradeMessage: 'author', Rating: 'rater' }[kind]
      const role = roleOf[signed.body[authorField]]
      assert.ok(author && vec.signed_by.includes(role), `${kind} is signed by a role in signed_by`)
      assert.deepEqual(await sign(kind, signed.body, keys[role]), signed)
    }
    if (vec.type === 'SignedContract' || vec.type === 'RatedTrade') {
      const sc = vec.type === 'SignedContract' ? value : value.contract
      const c = sc.contract.body
      assert.ok(await verifyBytes(c.taker, signingBytes('Contract', c), sc.taker_signature), 'the taker countersigned')
    }

    if (vec.id !== undefined) {
      let id
      if (vec.type === 'GossipMessage') id = toHex(gossipMessageId(bytes))
      else if (vec.type === 'SignedContract') id = messageId('Contract', value.contract.body)
      else if (vec.type === 'RatedTrade') id = messageId('Rating', value.rating.body)
      else if (vec.type === 'TradeRequest') id = messageId(value.Take ? 'TakeRequest' : 'TradeMessage', (value.Take ?? value.Message).body)
      else if (vec.type === 'TradeResponse') id = value.Take.Accept ? messageId('Contract', value.Take.Accept.body) : messageId('TakeReject', value.Take.Reject.body)
      else id = messageId(/^Signed<(\w+)>$/.exec(vec.type)[1], value.body)
      assert.equal(id, vec.id, 'the id recomputes')
    }
  })
}

test('the offer vector passes every validation rule, and fails them when changed', async () => {
  const vec = VECTORS.find((v) => v.name === 'offer')
  const offer = decode(TYPES['Signed<Offer>'], fromHex(vec.hex))
  const now = offer.body.created_at + 10
  assert.equal(await validate('Offer', offer, now), vec.id)
  const changed = (patch) => ({ ...offer, body: { ...offer.body, ...patch } })
  await assert.rejects(validate('Offer', changed({ note: 'forged' }), now), /bad signature/)
  await assert.rejects(validate('Offer', changed({ want: 'XAU' }), now), /unknown currency/)
  await assert.rejects(validate('Offer', changed({ min_give: 0 }), now), /min_give/)
  await assert.rejects(validate('Offer', changed({ note: 'a\u202Eb' }), now), /forbidden character U\+202e/)
  await assert.rejects(validate('Offer', offer, offer.body.expires_at), /expired/)
  await assert.rejects(validate('Offer', offer, offer.body.created_at - 301), /in the future/)
})

test('a rating travels with a contract both signed', async () => {
  const vec = VECTORS.find((v) => v.name === 'rated-trade')
  const rated = decode(TYPES.RatedTrade, fromHex(vec.hex))
  const now = rated.rating.body.created_at
  assert.equal(await validateRatedTrade(rated, now), KEYS.maker.public)
  const forged = structuredClone(rated)
  forged.contract.taker_signature = forged.contract.contract.signature
  await assert.rejects(validateRatedTrade(forged, now), /bad taker signature/)
})

test('strict decoding refuses every other spelling (section 3.4)', () => {
  const vec = VECTORS.find((v) => v.name === 'sync-request-first')
  const codec = TYPES.SyncRequest
  const good = fromHex(vec.hex)
  const mutate = (f) => { const b = Uint8Array.from(good); f(b); return b }
  assert.throws(() => decode(codec, Uint8Array.of(...good, 0)), /1 trailing bytes/)
  assert.throws(() => decode(codec, mutate((b) => { b[0] = 2 })), /unsupported format version 2/)
  assert.throws(() => decode(codec, good.subarray(0, good.length - 1)), DecodeError)
  // The market's currencies swapped: USD before EUR.
  const swapped = fromHex(vec.hex.replace('034555520355534400', '035553440345555200'))
  assert.throws(() => decode(codec, swapped), /out of order/)
  // limit 5 written as a three-byte varint instead of one byte.
  const longVarint = fromHex(vec.hex.replace(/fb0001$/, 'fb0500'))
  assert.throws(() => decode(codec, Uint8Array.from([...longVarint])), /non-canonical/)
  // A rate with a trailing zero: 1.080 instead of 1.08.
  const offer = VECTORS.find((v) => v.name === 'offer')
  const zero = fromHex(offer.hex.replace('6c02', 'fb380403'))
  assert.throws(() => decode(TYPES['Signed<Offer>'], zero), /not normalized/)
  assert.throws(() => decode(codec, good, 5), /limit is 5/)
})

test('markets: either order, one topic; unknown currencies refused', () => {
  assert.deepEqual(parseMarket('USD-EUR'), ['EUR', 'USD'])
  assert.deepEqual(parseMarket('EUR/USD'), ['EUR', 'USD'])
  assert.throws(() => parseMarket('EUR-XYZ'), /unknown currency XYZ/)
  assert.throws(() => parseMarket('EUR-EUR'), /not a market/)
  assert.throws(() => parseMarket('eur-usd'), /not a market/)
})

test('the book keeps open offers only, and at most 64 per maker', async () => {
  const { Book } = await import('../src/book.js')
  const { sign } = await import('../src/verify.js')
  const book = new Book(['EUR', 'USD'])
  const now = 1_800_000_000
  const offer = (nonce, lifetime = 3600) => sign('Offer', {
    maker: KEYS.maker.public, give: 'EUR', min_give: 100, max_give: 1000, want: 'USD', rate: '1.08',
    payment_methods: ['cash'], geohash: null, note: '', created_at: now, expires_at: now + lifetime, nonce
  }, keys.maker)
  for (let n = 0; n < 70; n++) await book.applyOffer({ offer: await offer(n), update: null }, now)
  assert.equal(book.open(now).length, 64, 'the 65th offer of one maker is not kept')
  // Once they expire, they leave: room for new ones.
  assert.equal(await book.applyOffer({ offer: await offer(100, 7200), update: null }, now + 3600), 'added')
  assert.equal(book.offers.size, 1)
})
