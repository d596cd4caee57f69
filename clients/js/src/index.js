// peerfx in JavaScript: the protocol of docs/PROTOCOL.md, implemented from
// that document.

export * from './wire.js'
export * from './types.js'
export * from './verify.js'
export { Book } from './book.js'
export { Peer, TakeError, peerIdOfKey, SYNC_PROTOCOL, TRADE_PROTOCOL } from './peer.js'
export { rejectText, refusalText } from './text.js'
