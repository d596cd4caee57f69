// Node.js 20 lacks Promise.withResolvers (Node 22 has it), which js-libp2p 2's
// lock library calls. Imported before libp2p, so it is in place when needed.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
