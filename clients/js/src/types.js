// Every type of docs/PROTOCOL.md section 5, in wire order, with its enum tags
// in order. `TYPES` maps the names the golden vectors use to codecs.

import {
  DecodeError, u8, u16, u32, u64, string, bytes, fixed, list, option, struct, tuple, enumOf, refined, lazy
} from './wire.js'

export const PublicKey = fixed(32)
export const Signature = fixed(64)
export const Hash = fixed(32)
export const Timestamp = u64
export const Amount = u64

export const Currency = refined(string, (c) =>
  /^[A-Z]{3}$/.test(c) ? null : `currency code must be three letters A-Z, got ${JSON.stringify(c)}`)

export const Market = refined(tuple([Currency, Currency]), ([base, quote]) =>
  base < quote ? null : 'market currencies out of order')

/** "1.08" from (108, 2). */
export function formatRate (mantissa, scale) {
  const digits = BigInt(mantissa).toString()
  if (scale === 0) return digits
  const padded = digits.padStart(scale + 1, '0')
  return `${padded.slice(0, padded.length - scale)}.${padded.slice(padded.length - scale)}`
}

/** (mantissa, scale) of a decimal string, normalized: no trailing zeros after the point. */
export function parseRate (text) {
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text)
  if (!m) throw new RangeError(`not a decimal: ${JSON.stringify(text)}`)
  let frac = m[2] ?? ''
  frac = frac.replace(/0+$/, '')
  const mantissa = BigInt(m[1] + frac)
  return { mantissa, scale: mantissa === 0n ? 0 : frac.length }
}

const WIRE_MAX_SCALE = 18

export const Rate = {
  enc (w, text) {
    const { mantissa, scale } = parseRate(text)
    u64.enc(w, mantissa)
    u8.enc(w, scale)
  },
  dec (r) {
    const m = BigInt(u64.dec(r))
    const scale = u8.dec(r)
    if (scale > WIRE_MAX_SCALE) throw new DecodeError('rate scale above 18')
    if (scale > 0 && m % 10n === 0n) throw new DecodeError('rate is not normalized')
    return formatRate(m, scale)
  }
}

export const PaymentMethod = string
export const Geohash = string

/** `Signed<T>`: the body, then the author's signature (section 4). */
export function Signed (body) {
  return struct([['body', body], ['signature', Signature]])
}

export const Offer = struct([
  ['maker', PublicKey],
  ['give', Currency],
  ['min_give', Amount],
  ['max_give', Amount],
  ['want', Currency],
  ['rate', Rate],
  ['payment_methods', list(PaymentMethod)],
  ['geohash', option(Geohash)],
  ['note', string],
  ['created_at', Timestamp],
  ['expires_at', Timestamp],
  ['nonce', u64]
])

export const OfferUpdate = struct([
  ['offer_id', Hash],
  ['maker', PublicKey],
  ['remaining', Amount],
  ['seq', u64],
  ['created_at', Timestamp]
])

export const OfferCancel = struct([
  ['offer_id', Hash],
  ['maker', PublicKey],
  ['created_at', Timestamp]
])

export const OfferState = struct([
  ['offer', Signed(Offer)],
  ['update', option(Signed(OfferUpdate))]
])

export const TakeRequest = struct([
  ['offer_id', Hash],
  ['taker', PublicKey],
  ['give_amount', Amount],
  ['counter_rate', option(Rate)],
  ['payment_method', PaymentMethod],
  ['created_at', Timestamp],
  ['nonce', u64]
])

export const RejectReason = enumOf([
  ['UnknownOffer', null],
  ['Closed', null],
  ['Expired', null],
  ['InsufficientRemaining', struct([['available', Amount]])],
  ['AmountOutOfRange', struct([['min', Amount], ['max', Amount]])],
  ['RateRefused', struct([['maker_rate', Rate]])],
  ['PaymentMethodNotOffered', null],
  ['Blocked', null],
  ['SelfTake', null],
  ['Invalid', string],
  ['Reserved', struct([['retry_after_secs', u64]])],
  ['Throttled', struct([['retry_after_secs', u64]])],
  ['Reputation', struct([
    ['min_trades', u32], ['min_score', option(u32)], ['trades', u32], ['score', option(u32)]
  ])]
])

export const TakeReject = struct([
  ['request_id', Hash],
  ['maker', PublicKey],
  ['reason', RejectReason],
  ['created_at', Timestamp]
])

export const Contract = struct([
  ['offer_id', Hash],
  ['request_id', Hash],
  ['maker', PublicKey],
  ['taker', PublicKey],
  ['give', Currency],
  ['want', Currency],
  ['give_amount', Amount],
  ['want_amount', Amount],
  ['rate', Rate],
  ['payment_method', PaymentMethod],
  ['created_at', Timestamp],
  ['deadline', Timestamp]
])

export const TakeReply = enumOf([
  ['Accept', Signed(Contract)],
  ['Reject', Signed(TakeReject)]
])

export const SignedContract = struct([
  ['contract', Signed(Contract)],
  ['taker_signature', Signature]
])

export const TradeAction = enumOf([
  ['Paid', null],
  ['Received', null],
  ['Cancel', null],
  ['Dispute', struct([['reason', string]])],
  ['Chat', struct([['text', string]])],
  ['Close', struct([['seen', u32]])]
])

export const TradeMessage = struct([
  ['trade_id', Hash],
  ['author', PublicKey],
  ['seq', u32],
  ['created_at', Timestamp],
  ['action', TradeAction]
])

export const Side = enumOf([['Maker', null], ['Taker', null]])
export const FailReason = enumOf([['Unpaid', null], ['Disputed', null], ['Unconfirmed', null]])
export const Failure = struct([['reason', FailReason], ['at_fault', option(Side)]])
export const RatedOutcome = enumOf([
  ['Completed', null],
  ['Cancelled', null],
  ['Expired', null],
  ['Failed', Failure]
])

export const Rating = struct([
  ['trade_id', Hash],
  ['rater', PublicKey],
  ['outcome', RatedOutcome],
  ['score', u8],
  ['comment', string],
  ['created_at', Timestamp]
])

export const RatedTrade = struct([
  ['contract', SignedContract],
  ['rating', Signed(Rating)]
])

export const GossipMessage = enumOf([
  ['Offer', OfferState],
  ['Cancel', Signed(OfferCancel)],
  ['Rating', RatedTrade]
])

export const SyncRequest = struct([
  ['market', Market],
  ['cursor', option(bytes)],
  ['limit', u16]
])

export const SyncRefusal = enumOf([
  ['RateLimited', null], ['Busy', null], ['BadCursor', null], ['Unavailable', null]
])

export const SyncResponse = enumOf([
  ['Page', struct([
    ['offers', list(OfferState)],
    ['next', option(bytes)],
    ['ratings', list(RatedTrade)]
  ])],
  ['Refused', SyncRefusal]
])

export const Phase = enumOf([
  ['Agreed', null], ['Completed', null], ['Cancelled', null],
  ['Expired', null], ['Disputed', null], ['Failed', null]
])
export const StepKind = enumOf([
  ['Paid', null], ['Received', null], ['Cancel', null], ['Dispute', null], ['Close', null]
])
export const BudgetKind = enumOf([['Chat', null], ['Messages', null]])

const seqPair = struct([['seq', u32], ['expected', u32]])

export const StepError = enumOf([
  ['NotAParty', null],
  ['WrongTrade', null],
  ['Replay', seqPair],
  ['Gap', seqPair],
  ['Final', Phase],
  ['Repeated', StepKind],
  ['TooManyMessages', struct([['what', BudgetKind], ['max', u32]])],
  ['BeforeContract', struct([['created_at', u64], ['contract', u64]])],
  ['Backdated', struct([['created_at', u64], ['received_at', u64], ['phase', Phase]])],
  ['CrossedPaid', struct([['paid_seq', u32]])],
  ['CloseTooEarly', struct([['deadline', u64]])],
  ['NotClosable', null],
  ['SeenAhead', struct([['seen', u32], ['sent', u32]])]
])

export const TradeRefusal = enumOf([
  ['Busy', null],
  ['Storage', null],
  ['RateLimited', null],
  ['UnknownTake', null],
  ['NotTheTaker', null],
  ['BadCountersignature', null],
  ['UnknownTrade', null],
  ['NotTheAuthor', null],
  ['Invalid', string],
  ['Step', StepError]
])

export const TradeRequest = enumOf([
  ['Take', Signed(TakeRequest)],
  ['Countersign', struct([['request_id', Hash], ['taker_signature', Signature]])],
  ['Message', Signed(TradeMessage)]
])

export const TradeResponse = enumOf([
  ['Take', lazy(() => TakeReply)],
  ['Stored', Hash],
  ['Ack', struct([['trade_id', Hash], ['seq', u32]])],
  ['Refused', TradeRefusal]
])

/** Signed bodies: codec, signing domain and author field (section 4). */
export const BODIES = {
  Offer: { codec: Offer, domain: 'peerfx/offer/v1', author: 'maker' },
  OfferUpdate: { codec: OfferUpdate, domain: 'peerfx/offer-update/v1', author: 'maker' },
  OfferCancel: { codec: OfferCancel, domain: 'peerfx/offer-cancel/v1', author: 'maker' },
  TakeRequest: { codec: TakeRequest, domain: 'peerfx/take/v1', author: 'taker' },
  TakeReject: { codec: TakeReject, domain: 'peerfx/take-reject/v1', author: 'maker' },
  Contract: { codec: Contract, domain: 'peerfx/contract/v1', author: 'maker' },
  TradeMessage: { codec: TradeMessage, domain: 'peerfx/trade-msg/v1', author: 'author' },
  Rating: { codec: Rating, domain: 'peerfx/rating/v1', author: 'rater' }
}

/** Codecs by the type names of PROTOCOL.md and the vectors. */
export const TYPES = {
  'list<RejectReason>': list(RejectReason),
  'list<StepError>': list(StepError),
  'list<TradeRefusal>': list(TradeRefusal),
  'list<SyncRefusal>': list(SyncRefusal),
  'list<RatedOutcome>': list(RatedOutcome),
  GossipMessage,
  SyncRequest,
  SyncResponse,
  TradeRequest,
  TradeResponse,
  SignedContract,
  RatedTrade,
  ...Object.fromEntries(Object.entries(BODIES).map(([name, b]) => [`Signed<${name}>`, Signed(b.codec)]))
}
