// The trade state machine of docs/PROTOCOL.md section 10: a trade's state is
// derived from its contract and the signed log of both parties' messages, so
// both sides replay the same log to the same answer.

import { LIMITS } from './verify.js'

const FINAL = new Set(['Completed', 'Cancelled', 'Expired', 'Failed'])

/** Why a message does not fit a trade: `error` is the StepError of section 5.4. */
export class StepRefused extends Error {
  constructor (error) {
    super(`step refused: ${JSON.stringify(error, (k, v) => typeof v === 'bigint' ? v.toString() : v)}`)
    this.name = 'StepRefused'
    this.error = error
  }
}

function refuse (error) {
  throw new StepRefused(error)
}

function progress () {
  return { paid: null, received: null, cancel: null, dispute: null, last_seq: 0 }
}

/** A party's progress as it stood after its first `seq` messages. */
function asOf (p, seq) {
  const upto = (s) => (s !== null && s <= seq ? s : null)
  return {
    paid: upto(p.paid),
    received: upto(p.received),
    cancel: upto(p.cancel),
    dispute: upto(p.dispute),
    last_seq: Math.min(p.last_seq, seq)
  }
}

/** Who failed a trade still open at its settle deadline (section 10). */
function judge (maker, taker, disputed) {
  const fail = (reason, at_fault) => ({ reason, at_fault })
  const mp = maker.paid !== null
  const tp = taker.paid !== null
  if (!mp && !tp) return null
  if (mp && !tp) return fail('Unpaid', 'Taker')
  if (!mp && tp) return fail('Unpaid', 'Maker')
  if (disputed) return fail('Disputed', null)
  const mr = maker.received !== null
  const tr = taker.received !== null
  if (mr && !tr) return fail('Unconfirmed', 'Taker')
  if (!mr && tr) return fail('Unconfirmed', 'Maker')
  return fail('Unconfirmed', null)
}

function kindOf (action) {
  return typeof action === 'string' ? action : Object.keys(action)[0]
}

export class TradeState {
  /** The state right after both signed `contract` (a Contract body). */
  constructor (contract) {
    this.phase = 'Agreed'
    this.maker = progress()
    this.taker = progress()
    this.deadline = BigInt(contract.deadline)
    // The settle deadline: the payment deadline plus the payment window again.
    this.settleBy = this.deadline + (this.deadline - BigInt(contract.created_at))
    this.failure = null
  }

  /** Which side `key` (hex) is in `contract`, or null. */
  static sideOf (contract, key) {
    if (key === contract.maker) return 'Maker'
    if (key === contract.taker) return 'Taker'
    return null
  }

  progress (side) {
    return side === 'Maker' ? this.maker : this.taker
  }

  /** The seq `side` uses next. */
  nextSeq (side) {
    return this.progress(side).last_seq + 1
  }

  /** The phase at unix time `now`, and why it failed if it did. */
  outcomeAt (now) {
    now = BigInt(now)
    if (this.phase !== 'Agreed' && this.phase !== 'Disputed') return [this.phase, this.failure]
    const nobodyPaid = this.maker.paid === null && this.taker.paid === null
    if (nobodyPaid && now >= this.deadline) return ['Expired', null]
    if (now >= this.settleBy) return ['Failed', judge(this.maker, this.taker, this.phase === 'Disputed')]
    return [this.phase, null]
  }

  phaseAt (now) {
    return this.outcomeAt(now)[0]
  }

  /** Checks a message (a TradeMessage body) without changing the state; returns its side. */
  check (contract, tradeId, msg) {
    if (msg.trade_id !== tradeId) refuse('WrongTrade')
    const side = TradeState.sideOf(contract, msg.author)
    if (side === null) refuse('NotAParty')
    const expected = this.nextSeq(side)
    if (msg.seq < expected) refuse({ Replay: { seq: msg.seq, expected } })
    if (msg.seq > expected) refuse({ Gap: { seq: msg.seq, expected } })
    if (BigInt(msg.created_at) < BigInt(contract.created_at)) {
      refuse({ BeforeContract: { created_at: msg.created_at, contract: contract.created_at } })
    }
    // Deadlines are judged at the message's own time, so a replay agrees.
    const phase = this.phaseAt(msg.created_at)
    const me = this.progress(side)
    const kind = kindOf(msg.action)
    if (kind === 'Chat') return side
    if (FINAL.has(phase)) refuse({ Final: phase })
    const once = { Paid: me.paid, Received: me.received, Cancel: me.cancel }
    if (kind in once && once[kind] !== null) refuse({ Repeated: kind })
    if (kind === 'Dispute' && phase === 'Disputed') refuse({ Repeated: 'Dispute' })
    if (kind === 'Close') this.checkClose(side, msg.action.Close.seen, msg.created_at)
    return side
  }

  checkClose (side, seen, at) {
    const other = this.progress(side === 'Maker' ? 'Taker' : 'Maker')
    if (seen > other.last_seq) refuse({ SeenAhead: { seen, sent: other.last_seq } })
    if (this.progress(side).paid === null || asOf(other, seen).paid !== null) refuse('NotClosable')
    if (BigInt(at) < this.deadline) refuse({ CloseTooEarly: { deadline: this.deadline } })
  }

  /**
   * Checks a new message arriving at `receivedAt`: `check`, then its date
   * against the deadlines (no backdating past a final phase), then the
   * author's message budget.
   */
  admit (contract, tradeId, msg, receivedAt) {
    const side = this.check(contract, tradeId, msg)
    const earliest = BigInt(receivedAt) - BigInt(LIMITS.maxClockSkewSecs)
    const kind = kindOf(msg.action)
    if (kind !== 'Chat' && BigInt(msg.created_at) < earliest) {
      const phase = this.phaseAt(earliest)
      if (FINAL.has(phase)) refuse({ Backdated: { created_at: msg.created_at, received_at: receivedAt, phase } })
    }
    const [what, max] = kind === 'Chat' ? ['Chat', LIMITS.maxTradeMessages - 4] : ['Messages', LIMITS.maxTradeMessages]
    if (msg.seq > max) refuse({ TooManyMessages: { what, max } })
    return side
  }

  /** Applies a message that `check` accepts. */
  apply (contract, tradeId, msg) {
    const side = this.check(contract, tradeId, msg)
    // A message after a deadline makes the deadline's outcome part of the state.
    ;[this.phase, this.failure] = this.outcomeAt(msg.created_at)
    const p = this.progress(side)
    p.last_seq = msg.seq
    const kind = kindOf(msg.action)
    if (kind === 'Paid') p.paid = msg.seq
    if (kind === 'Received') p.received = msg.seq
    if (kind === 'Cancel') p.cancel = msg.seq
    if (kind === 'Dispute') {
      p.dispute = msg.seq
      this.phase = 'Disputed'
    }
    if (kind === 'Close') {
      this.phase = 'Failed'
      this.failure = { reason: 'Unpaid', at_fault: side === 'Maker' ? 'Taker' : 'Maker' }
      return
    }
    const nobodyPaid = this.maker.paid === null && this.taker.paid === null
    if (this.maker.received !== null && this.taker.received !== null) {
      this.phase = 'Completed'
    } else if ((this.maker.cancel !== null && this.taker.cancel !== null) || (kind === 'Cancel' && nobodyPaid)) {
      this.phase = 'Cancelled'
    }
  }
}
