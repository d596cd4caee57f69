// Refusals in words, as the Rust node's CLI says them.

function variant (v) {
  return typeof v === 'string' ? [v, null] : Object.entries(v)[0]
}

/** A `RejectReason` (section 5.4) in words. */
export function rejectText (reason) {
  const [name, f] = variant(reason)
  switch (name) {
    case 'UnknownOffer': return 'unknown offer'
    case 'Closed': return 'offer is closed'
    case 'Expired': return 'offer has expired'
    case 'InsufficientRemaining': return `insufficient remaining: ${f.available} minor units available`
    case 'AmountOutOfRange': return `amount out of range: must be between ${f.min} and ${f.max} minor units`
    case 'RateRefused': return `rate refused: the maker's rate is ${f.maker_rate}`
    case 'PaymentMethodNotOffered': return 'payment method not offered'
    case 'Blocked': return 'blocked by the maker'
    case 'SelfTake': return 'cannot take your own offer'
    case 'Invalid': return `invalid request: ${f}`
    case 'Reserved': return `reserved by other takes: retry in ${f.retry_after_secs} s`
    case 'Throttled': return `too many takes from you: retry in ${f.retry_after_secs} s`
    case 'Reputation': {
      const score = (s) => (s / 100).toFixed(2)
      const asks = `at least ${f.min_trades} completed trades${f.min_score === null ? '' : ` and a score of ${score(f.min_score)}`}`
      const has = f.score === null ? `${f.trades} and no score` : `${f.trades} and ${score(f.score)}`
      return `this maker takes only peers with ${asks}; it counts ${has} for you`
    }
    default: return name
  }
}

/** A `TradeRefusal` (section 5.4) in words. */
export function refusalText (refusal) {
  const [name, f] = variant(refusal)
  switch (name) {
    case 'Busy': return 'busy, try again later'
    case 'Storage': return 'the peer could not store it (its disk); try again later'
    case 'RateLimited': return 'too many requests; slow down'
    case 'UnknownTake': return 'no pending take with this id (it may have expired)'
    case 'NotTheTaker': return 'not the taker of this contract'
    case 'BadCountersignature': return 'bad countersignature'
    case 'UnknownTrade': return 'unknown trade'
    case 'NotTheAuthor': return 'the author is not the sender'
    case 'Invalid': return `invalid message: ${f}`
    case 'Step': return `the trade refused the step: ${JSON.stringify(f)}`
    default: return name
  }
}
