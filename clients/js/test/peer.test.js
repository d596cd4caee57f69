// The JS peer's own limits, between two JS peers on 127.0.0.1: a peer that
// never answers costs a request its timeout, not forever, and an answer
// larger than the limit is refused.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Peer, SYNC_PROTOCOL } from '../src/peer.js'
import { SyncRequest, SyncResponse } from '../src/types.js'

async function pair (handler) {
  const server = await Peer.start({ listen: ['/ip4/127.0.0.1/tcp/0'] })
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
