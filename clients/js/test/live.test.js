// The JavaScript peer against a real Rust daemon built from this commit, on
// 127.0.0.1 with ephemeral ports and a temp data dir: sync, gossip (offer,
// cancel), a refused take, a take that ends with the same contract on both
// sides, and the `book` command as a user runs it.
//
// The daemon binary is $PEERFX_BIN, else target/debug/peerfx of this
// checkout (`cargo build --bin peerfx`, which scripts/test does first).

import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Peer, TakeError, TRADE_PROTOCOL } from '../src/peer.js'
import { encode, toHex } from '../src/wire.js'
import { SignedContract, TradeResponse } from '../src/types.js'
import { messageId, nowSecs, sign } from '../src/verify.js'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const BIN = process.env.PEERFX_BIN ?? join(ROOT, 'target/debug/peerfx')
const TIMEOUT_MS = 30_000
const MARKET = ['EUR', 'USD']

let dir, daemon, addr, peer

/** Runs the Rust CLI against the daemon's data dir; resolves to its JSON. */
async function cli (...args) {
  const { stdout } = await run(BIN, ['--data-dir', dir, '--json', ...args])
  return stdout.trim() ? JSON.parse(stdout) : null
}

/** Polls `f` until it returns something truthy, or fails after the timeout. */
async function waitFor (what, f) {
  const deadline = Date.now() + TIMEOUT_MS
  for (;;) {
    const v = await f().catch(() => null)
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function post (min, max, rate, pay) {
  return cli('offer', 'post', '--give', 'EUR', '--min', min, '--max', max, '--want', 'USD', '--rate', rate, '--pay', pay)
}

before(async () => {
  assert.ok(existsSync(BIN), `${BIN} is missing: build it with \`cargo build --bin peerfx\` (or set PEERFX_BIN)`)
  dir = mkdtempSync(join(tmpdir(), 'peerfx-js-'))
  daemon = spawn(BIN, ['--data-dir', dir, 'daemon', '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0',
    '--no-mdns', '--market', 'EUR-USD', '--log-level', 'warn'], { stdio: 'ignore' })
  const id = await waitFor('the daemon\'s API', () => cli('id'))
  addr = id.listen_addrs.find((a) => a.startsWith('/ip4/127.0.0.1/tcp/'))
  assert.ok(addr, `no TCP address in ${JSON.stringify(id.listen_addrs)}`)
  peer = await Peer.start()
})

after(async () => {
  await peer?.stop()
  daemon?.kill('SIGKILL')
  if (dir) rmSync(dir, { recursive: true, force: true })
})

test('a JS peer syncs, follows gossip, and takes an offer from a Rust maker', { timeout: 180_000 }, async (t) => {
  const early = await post('100', '500', '1.08', 'cash,sepa')
  const book = peer.follow(MARKET)
  const events = []
  peer.addEventListener('offer', (e) => events.push(`${e.detail.kind} ${e.detail.id} ${e.detail.result}`))
  peer.addEventListener('trade', (e) => events.push(`trade ${e.detail.tradeId} ${JSON.stringify(e.detail.message.body.action)}`))
  const maker = await peer.dial(addr)

  await t.test('sync: the offer posted before the JS peer came', async () => {
    const synced = await peer.sync(maker, MARKET)
    assert.equal(synced.invalid, 0)
    const entry = book.get(early.id)
    assert.ok(entry, `offer ${early.id} is not in the synced book`)
    assert.equal(entry.offer.body.rate, '1.08')
    assert.equal(entry.offer.body.min_give, 10000)
  })

  // The maker publishes to the subscribers it knows: wait until the JS peer's
  // subscription is in (the JS side grafts the maker into its mesh after it).
  await waitFor('the maker in the JS peer\'s mesh', async () =>
    peer.meshPeers(MARKET).includes(maker.toString()))

  let late, takenId
  await t.test('gossip: an offer posted now arrives verified', async () => {
    late = await post('50', '200', '1.09', 'sepa')
    await waitFor('the gossiped offer', async () => book.get(late.id))
    assert.equal(messageId('Offer', book.get(late.id).offer.body), late.id)
    assert.ok(events.includes(`Offer ${late.id} added`), events.join('\n'))
  })

  await t.test('gossip: a cancel removes the offer', async () => {
    await cli('offer', 'cancel', early.id)
    await waitFor('the cancel', async () => !book.get(early.id))
    assert.ok(book.cancelled.has(early.id))
    assert.ok(events.includes(`Cancel ${early.id} cancelled`), events.join('\n'))
  })

  await t.test('a take out of range is refused with the maker\'s signed reason', async () => {
    await assert.rejects(
      peer.take(MARKET, late.id, { giveAmount: 500_00, paymentMethod: 'sepa' }),
      (e) => e instanceof TakeError && /amount out of range: must be between 5000 and 20000/.test(e.message))
  })

  await t.test('take: both sides end with the same contract, signed by both', async () => {
    const { tradeId, signedContract } = await peer.take(MARKET, late.id, { giveAmount: 120_00, paymentMethod: 'sepa' })
    const c = signedContract.contract.body
    assert.equal(c.want_amount, 130_80, '120.00 EUR at 1.09 is 130.80 USD')
    assert.equal(c.taker, peer.publicKey)

    const trade = await cli('trade', 'show', tradeId)
    assert.equal(trade.state, 'agreed')
    assert.equal(trade.role, 'maker')
    // The maker's evidence holds the contract it stored, as wire bytes.
    const file = join(dir, 'evidence.json')
    await cli('trade', 'export', tradeId, file)
    const evidence = JSON.parse(readFileSync(file, 'utf8'))
    assert.equal(evidence.trade_id, tradeId)
    assert.equal(evidence.contract, toHex(encode(SignedContract, signedContract)))

    // The fill reaches the JS book as the maker's gossiped update.
    await waitFor('the fill\'s update', async () => book.get(late.id)?.remaining === 80_00)
    takenId = tradeId
  })

  await t.test('the trade runs to completed on both sides, steps going both ways', async () => {
    const maker = () => cli('trade', 'show', takenId)
    const jsState = () => peer.trades.get(takenId).state
    await peer.step(takenId, { Chat: { text: 'Sending the USD by SEPA now.' } })
    await peer.step(takenId, 'Paid')
    await waitFor('the maker to hold the taker\'s payment', async () => (await maker()).taker_paid)
    await cli('trade', 'paid', takenId)
    await waitFor('the maker\'s Paid at the JS peer', async () => jsState().maker.paid !== null)
    await peer.step(takenId, 'Received')
    await cli('trade', 'received', takenId)
    await waitFor('the maker\'s Received at the JS peer', async () => jsState().phase === 'Completed')
    assert.equal((await maker()).state, 'completed')
    for (const step of ['"Paid"', '"Received"']) {
      assert.ok(events.includes(`trade ${takenId} ${step}`), `no trade event for the maker's ${step}: ${events.join('\n')}`)
    }
    // A step after the end is refused by the JS peer's own state machine.
    assert.throws(() => jsState().check(peer.trades.get(takenId).contract.contract.body, takenId, {
      trade_id: takenId, author: peer.publicKey, seq: jsState().nextSeq('Taker'), created_at: Math.floor(Date.now() / 1000), action: 'Paid'
    }), /"Final":"Completed"/)
  })

  await t.test('the JS peer refuses trade messages from strangers and forgers', async () => {
    // The stranger listens; the JS peer (which listens nowhere) dials it, and
    // the stranger's requests travel back over that connection.
    const stranger = await Peer.start({ listen: ['/ip4/127.0.0.1/tcp/0'] })
    try {
      await peer.dial(stranger.node.getMultiaddrs()[0].toString())
      await waitFor('the stranger to see the connection', async () => stranger.node.getConnections(peer.peerId).length > 0)
      const stored = peer.trades.get(takenId).log.length
      const body = (author) => ({
        trade_id: takenId, author, seq: 1, created_at: Math.floor(Date.now() / 1000), action: { Chat: { text: 'hi' } }
      })
      const ask = async (message) => stranger.tradeRequest(peer.peerId, { Message: message })
      // A stranger's own message for the trade: not a party.
      assert.deepEqual(await ask(await sign('TradeMessage', body(stranger.publicKey), stranger.privateKey)), { Refused: { Step: 'NotAParty' } })
      // The maker's key as author, signed by the stranger: a bad signature.
      const forged = await sign('TradeMessage', body(peer.trades.get(takenId).contract.contract.body.maker), stranger.privateKey)
      assert.deepEqual(await ask(forged), { Refused: { Invalid: 'bad signature' } })
      // Bytes that are no TradeRequest at all.
      const garbage = await stranger.request(peer.peerId, TRADE_PROTOCOL, { enc: (w) => w.push(Uint8Array.of(9, 9, 9)) }, null, TradeResponse, 4160)
      assert.ok(garbage.Refused?.Invalid, JSON.stringify(garbage))
      assert.equal(peer.trades.get(takenId).log.length, stored, 'nothing was stored')
    } finally {
      await stranger.stop()
    }
  })

  await t.test('npm run book prints every verified offer with its id', async () => {
    const { stdout } = await run(process.execPath, [
      fileURLToPath(new URL('../bin/peerfx-js.js', import.meta.url)),
      'book', '--dial', addr, '--market', 'EUR-USD', '--wait', '0', '--json'
    ])
    const rows = JSON.parse(stdout)
    assert.deepEqual(rows.map((r) => r.id), [late.id])
    assert.equal(rows[0].remaining, '80.00')
  })
})

test('a Rust taker takes a JS maker\'s offer and both run the trade to completed', { timeout: 180_000 }, async () => {
  const maker = await peer.dial(addr)
  await waitFor('the Rust node in the JS peer\'s mesh', async () => peer.meshPeers(MARKET).includes(maker.toString()))
  const id = await peer.post({
    give: 'USD', want: 'EUR', minGive: 50_00, maxGive: 300_00, rate: '0.92', paymentMethods: ['cash', 'wise'], note: 'posted from JS'
  })
  // The JS peer's gossip, signed and ided its way, is accepted by the Rust node.
  const row = await waitFor('the JS offer in the Rust book', async () =>
    (await cli('book', '--market', 'EUR-USD')).find((o) => o.id === id))
  assert.equal(row.note, 'posted from JS')

  const taken = await cli('take', id, '--amount', '100', '--pay', 'wise')
  const trade = peer.trades.get(taken.id)
  assert.ok(trade, `the JS maker holds trade ${taken.id}`)
  assert.equal(trade.side, 'Maker')
  const c = trade.contract.contract.body
  assert.equal(c.want_amount, 92_00, '100.00 USD at 0.92 is 92.00 EUR')
  assert.equal(BigInt(c.deadline) - BigInt(c.created_at), 24n * 3600n, 'wise: a one-day payment window')
  const file = join(dir, 'evidence-js-maker.json')
  await cli('trade', 'export', taken.id, file)
  assert.equal(JSON.parse(readFileSync(file, 'utf8')).contract, toHex(encode(SignedContract, trade.contract)))
  // The fill reaches the Rust book as the JS maker's update.
  await waitFor('the fill in the Rust book', async () =>
    (await cli('book', '--market', 'EUR-USD')).find((o) => o.id === id)?.remaining === '200.00')

  // The re-announcement, the maker's heartbeat, reaches the Rust book as a
  // newer update: the Rust node's "last seen" of this maker moves.
  const seen = async () => (await cli('book', '--market', 'EUR-USD')).find((o) => o.id === id)
  const last = await seen()
  assert.equal(last.maker_presence, 'online')
  await waitFor('the clock past the last announcement', async () => nowSecs() > last.maker_last_seen)
  assert.equal(await peer.maker.reannounce(), 1)
  await waitFor('the re-announcement in the Rust book', async () =>
    (await seen()).maker_last_seen > last.maker_last_seen)

  await cli('trade', 'paid', taken.id)
  await waitFor('the taker\'s Paid at the JS maker', async () => trade.state.taker.paid !== null)
  await peer.step(taken.id, 'Paid')
  await peer.step(taken.id, 'Received')
  await cli('trade', 'received', taken.id)
  await waitFor('completed at the JS maker', async () => trade.state.phase === 'Completed')
  assert.equal((await cli('trade', 'show', taken.id)).state, 'completed')
})
