#!/usr/bin/env node
// The command line of the JavaScript peer:
//
//   peerfx-js book --dial MULTIADDR --market EUR-USD [--wait SECS] [--follow] [--json]
//   peerfx-js take --dial MULTIADDR --market EUR-USD --offer ID --amount 150 [--pay cash] [--json]
//
// `book` syncs the market from the peer it dials, listens to gossip for
// `--wait` seconds (default 2), and prints every verified open offer with its
// id; `--follow` keeps printing changes until interrupted. `take` syncs, then
// takes the offer and prints the trade id and the contract both signed.

import { parseArgs } from 'node:util'
import { Peer, TakeError } from '../src/peer.js'
import { CURRENCIES, parseMarket } from '../src/verify.js'
import { formatRate } from '../src/types.js'
import { narrow } from '../src/wire.js'

const USAGE = `usage:
  peerfx-js book --dial MULTIADDR --market EUR-USD [--wait SECS] [--follow] [--json]
  peerfx-js take --dial MULTIADDR --market EUR-USD --offer ID --amount AMOUNT [--pay METHOD] [--json]`

/** Minor units of `text` (a decimal in major units) in `currency`, exactly. */
function parseAmount (text, currency) {
  const digits = CURRENCIES[currency]
  const m = /^(\d+)(?:\.(\d+))?$/.exec(text)
  if (!m) throw new Error(`not an amount: ${JSON.stringify(text)}`)
  const frac = m[2] ?? ''
  if (frac.length > digits) throw new Error(`${currency} has ${digits} decimal places; ${text} has ${frac.length}`)
  return BigInt(m[1] + frac.padEnd(digits, '0'))
}

/** Minor units as a decimal in major units. */
function major (minor, currency) {
  return formatRate(BigInt(minor), CURRENCIES[currency])
}

function row ({ id, offer, remaining }) {
  const o = offer.body
  return {
    id,
    maker: o.maker,
    give: o.give,
    want: o.want,
    rate: o.rate,
    min_give: major(o.min_give, o.give),
    max_give: major(o.max_give, o.give),
    remaining: major(remaining, o.give),
    payment_methods: o.payment_methods,
    geohash: o.geohash,
    note: o.note,
    expires_at: new Date(Number(o.expires_at) * 1000).toISOString()
  }
}

function printBook (book, json) {
  const rows = book.open().map(row)
  if (json) {
    console.log(JSON.stringify(rows, null, 2))
    return
  }
  console.log(`${rows.length} open offer(s) in ${book.market.join('-')}, every one verified:`)
  for (const r of rows) {
    console.log(`${r.id}  give ${r.min_give}–${r.remaining} ${r.give} for ${r.want} at ${r.rate}  ${r.payment_methods.join(',')}${r.geohash ? ` near ${r.geohash}` : ''}${r.note ? `  "${r.note}"` : ''}`)
  }
}

async function main () {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      dial: { type: 'string' },
      market: { type: 'string' },
      wait: { type: 'string', default: '2' },
      follow: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      offer: { type: 'string' },
      amount: { type: 'string' },
      pay: { type: 'string' }
    }
  })
  const command = positionals[0]
  if (!['book', 'take'].includes(command) || !values.dial || !values.market) throw new Error(USAGE)
  const market = parseMarket(values.market)
  const peer = await Peer.start()
  try {
    const book = peer.follow(market)
    const remote = await peer.dial(values.dial)
    const synced = await peer.sync(remote, market)
    if (!values.json) console.error(`synced ${synced.changed} offer(s) from ${remote} in ${synced.pages} page(s)${synced.invalid ? `, ${synced.invalid} invalid ones dropped` : ''}`)
    if (command === 'book') {
      peer.addEventListener('rejected', (e) => console.error(`rejected gossip from ${e.detail.from}: ${e.detail.error.message}`))
      if (values.follow) {
        printBook(book, values.json)
        peer.addEventListener('offer', (e) => {
          console.log(`${e.detail.kind.toLowerCase()} ${e.detail.id}: ${e.detail.result}`)
        })
        await new Promise(() => {})
      }
      const secs = Number(values.wait)
      if (!(secs >= 0)) throw new Error(`--wait takes seconds, not ${values.wait}`)
      await new Promise((resolve) => setTimeout(resolve, secs * 1000))
      printBook(book, values.json)
    } else {
      if (!values.offer || !values.amount) throw new Error(USAGE)
      const entry = book.get(values.offer)
      if (!entry) throw new Error(`offer ${values.offer} is not open in ${values.market} on ${remote}`)
      const giveAmount = parseAmount(values.amount, entry.offer.body.give)
      const { tradeId, signedContract } = await peer.take(market, values.offer, {
        giveAmount: narrow(giveAmount),
        paymentMethod: values.pay
      })
      const c = signedContract.contract.body
      if (values.json) {
        console.log(JSON.stringify({ trade_id: tradeId, contract: signedContract }, null, 2))
      } else {
        console.log(`trade ${tradeId}: you get ${major(c.give_amount, c.give)} ${c.give} for ${major(c.want_amount, c.want)} ${c.want} at ${c.rate} by ${c.payment_method}, pay by ${new Date(Number(c.deadline) * 1000).toISOString()}`)
      }
    }
  } finally {
    await peer.stop()
  }
}

main().catch((e) => {
  console.error(e instanceof TakeError ? `take failed: ${e.message}` : e.message)
  process.exit(1)
})
