// The trade state machine (src/trade.js) replays the golden trade logs of
// tests/vectors/trade-logs.json, written by the Rust implementation: every
// message admitted or refused with the same StepError, the same state after
// each, the same outcome at every deadline.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { TradeState, StepRefused } from '../src/trade.js'

const LOGS = JSON.parse(readFileSync(new URL('../../../tests/vectors/trade-logs.json', import.meta.url), 'utf8'))

/** BigInt as Number (every time here is far below 2^53). */
function plain (v) {
  return JSON.parse(JSON.stringify(v, (k, x) => typeof x === 'bigint' ? Number(x) : x))
}

function stateOf (s) {
  return plain({ phase: s.phase, failure: s.failure, maker: s.maker, taker: s.taker })
}

test('there are trade logs to replay', () => {
  assert.ok(LOGS.scenarios.length >= 8)
})

for (const scenario of LOGS.scenarios) {
  test(`trade log: ${scenario.name}`, () => {
    const contract = LOGS.contract
    const state = new TradeState(contract)
    scenario.steps.forEach((step, i) => {
      const at = `${scenario.name}, message ${i + 1}`
      let result = 'ok'
      try {
        state.admit(contract, scenario.trade_id, step.message, step.received_at)
        state.apply(contract, scenario.trade_id, step.message)
      } catch (e) {
        if (!(e instanceof StepRefused)) throw e
        result = { refused: plain(e.error) }
      }
      assert.deepEqual(result, step.result, `${at}: admitted or refused as the Rust node does`)
      assert.deepEqual(stateOf(state), step.state, `${at}: the same state`)
    })
    for (const o of scenario.outcomes) {
      const [phase, failure] = state.outcomeAt(o.at)
      assert.deepEqual(plain({ phase, failure }), { phase: o.phase, failure: o.failure }, `${scenario.name}: outcome at ${o.at}`)
    }
  })
}
