// The JS peer's own limits, between two JS peers on 127.0.0.1: a peer that
// never answers costs a request its timeout, not forever, and an answer
// larger than the limit is refused.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Peer, SYNC_PROTOCOL } from '../src/peer.js'
import { SyncRequest, SyncResponse } from '../src/types.js'

async function pair (handler) {
  const server = await Peer.start({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  // In place of the peer's own sync server: one that misbehaves.
  await server.node.unhandle(SYNC_PROTOCOL)
  await server.node.handle(SYNC_PROTOCOL, handler)
  const client = await Peer.start({ requestTimeoutMs: 500 })
  const id = await client.dial(server.node.getMultiaddrs()[0].toString())
  return { server, client, id }
}

test('a peer that never answers fails the request at its timeout', { timeout: 10_000 }, async () => {
  const { server, client, id } = await pair(() => {})
  try {
    const started = Date.now()
    await assert.rejects(
      client.request(id, SYNC_PROTOCOL, SyncRequest, { market: ['EUR', 'USD'], cursor: null, limit: 1 }, SyncResponse, 1024),
      /no answer|abort/i)
    assert.ok(Date.now() - started < 5_000, 'the timeout ended it')
  } finally {
    await client.stop()
    await server.stop()
  }
})

test('an answer over the size limit is refused before it is decoded', { timeout: 10_000 }, async () => {
  const { server, client, id } = await pair(async ({ stream }) => {
    await stream.sink([new Uint8Array(4096)])
  })
  try {
    await assert.rejects(
      client.request(id, SYNC_PROTOCOL, SyncRequest, { market: ['EUR', 'USD'], cursor: null, limit: 1 }, SyncResponse, 1024),
      /response of more than 1024 bytes/)
  } finally {
    await client.stop()
    await server.stop()
  }
})

test('two JS peers: sync served by the maker, a take, refusals, and a trade to completed', { timeout: 30_000 }, async () => {
  const maker = await Peer.start({ listen: ['/ip4/127.0.0.1/tcp/0'] })
  const taker = await Peer.start()
  try {
    const market = ['CHF', 'JPY']
    const id = await maker.post({ give: 'JPY', want: 'CHF', minGive: 1000, maxGive: 50_000, rate: '0.005712', paymentMethods: ['bank'] })
    const makerId = await taker.dial(maker.node.getMultiaddrs()[0].toString())
    const synced = await taker.sync(makerId, market)
    assert.deepEqual({ pages: synced.pages, changed: synced.changed, invalid: synced.invalid }, { pages: 1, changed: 1, invalid: 0 })

    await assert.rejects(taker.take(market, id, { giveAmount: 60_000, paymentMethod: 'bank' }), /amount out of range: must be between 1000 and 50000/)
    await assert.rejects(taker.take(market, id, { giveAmount: 1000, paymentMethod: 'cash' }), /payment method not offered/)
    await assert.rejects(taker.take(market, id, { giveAmount: 1000, paymentMethod: 'bank', counterRate: '0.0057' }), /the maker's rate is 0.005712/)

    const { tradeId, signedContract } = await taker.take(market, id, { giveAmount: 12_345, paymentMethod: 'bank' })
    // 12345 JPY at 0.005712 CHF/JPY is 70.51464 CHF: 7051 centimes, rounded down.
    assert.equal(signedContract.contract.body.want_amount, 7051)
    assert.deepEqual(maker.trades.get(tradeId).contract, signedContract)
    assert.equal(maker.maker.offers.get(id).remaining, 50_000n - 12_345n)

    await taker.step(tradeId, 'Paid')
    await maker.step(tradeId, 'Paid')
    await maker.step(tradeId, 'Received')
    await taker.step(tradeId, 'Received')
    assert.equal(taker.trades.get(tradeId).state.phase, 'Completed')
    assert.equal(maker.trades.get(tradeId).state.phase, 'Completed')
    await assert.rejects(taker.step(tradeId, 'Cancel'), /"Final":"Completed"/)
  } finally {
    await taker.stop()
    await maker.stop()
  }
})
