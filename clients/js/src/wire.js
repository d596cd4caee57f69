// The byte encoding of docs/PROTOCOL.md section 3, as small composable codecs.
//
// A codec is `{ enc(writer, value), dec(reader) }`. Values take the JSON shape
// of the golden vectors (section 14): keys, hashes and signatures as lowercase
// hex, rates as decimal strings, enums as "Variant" or { Variant: fields }.
// Integers above Number.MAX_SAFE_INTEGER decode as BigInt; both encode.

/** The version byte that starts every message (section 3). */
export const FORMAT_VERSION = 1

/** Why bytes are not a valid message. */
export class DecodeError extends Error {
  constructor (message) {
    super(message)
    this.name = 'DecodeError'
  }
}

/** Appends bytes; `bytes()` returns them. */
export class Writer {
  constructor () {
    this.parts = []
    this.length = 0
  }

  push (bytes) {
    this.parts.push(bytes)
    this.length += bytes.length
  }

  byte (b) {
    this.push(Uint8Array.of(b))
  }

  bytes () {
    const out = new Uint8Array(this.length)
    let at = 0
    for (const p of this.parts) {
      out.set(p, at)
      at += p.length
    }
    return out
  }
}

/** Reads from a byte array, refusing to read past its end. */
export class Reader {
  constructor (bytes) {
    this.buf = bytes
    this.at = 0
  }

  take (n) {
    if (n > this.buf.length - this.at) {
      throw new DecodeError(`needs ${n} bytes at offset ${this.at}, only ${this.buf.length - this.at} remain`)
    }
    const out = this.buf.subarray(this.at, this.at + n)
    this.at += n
    return out
  }

  byte () {
    return this.take(1)[0]
  }

  remaining () {
    return this.buf.length - this.at
  }
}

function littleEndian (bytes) {
  let v = 0n
  for (let i = bytes.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[i])
  return v
}

function toLittleEndian (v, n) {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    out[i] = Number(v & 0xffn)
    v >>= 8n
  }
  return out
}

/** An integer (BigInt or Number) as a Number when that is exact, else a BigInt. */
export function narrow (v) {
  v = BigInt(v)
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v
}

/** An unsigned varint codec for a field of `bits` bits (section 3.1). */
function varint (bits) {
  const max = (1n << BigInt(bits)) - 1n
  return {
    enc (w, value) {
      const v = BigInt(value)
      if (v < 0n || v > max) throw new RangeError(`${value} does not fit u${bits}`)
      if (v < 251n) w.byte(Number(v))
      else if (v <= 0xffffn) { w.byte(251); w.push(toLittleEndian(v, 2)) } else if (v <= 0xffffffffn) { w.byte(252); w.push(toLittleEndian(v, 4)) } else { w.byte(253); w.push(toLittleEndian(v, 8)) }
    },
    dec (r) {
      const marker = r.byte()
      let v
      if (marker < 251) v = BigInt(marker)
      else if (marker === 251) v = littleEndian(r.take(2))
      else if (marker === 252) v = littleEndian(r.take(4))
      else if (marker === 253) v = littleEndian(r.take(8))
      else throw new DecodeError(`invalid varint marker 0x${marker.toString(16)}`)
      if (v > max) throw new DecodeError(`${v} does not fit u${bits}`)
      // Non-minimal forms are caught by the canonical re-encoding (section 3.4).
      return narrow(v)
    }
  }
}

export const u8 = {
  enc (w, v) {
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new RangeError(`${v} does not fit u8`)
    w.byte(v)
  },
  dec: (r) => r.byte()
}
export const u16 = varint(16)
export const u32 = varint(32)
export const u64 = varint(64)

const len = u64

/** Hex of bytes, and back. */
export function toHex (bytes) {
  return Buffer.from(bytes).toString('hex')
}
export function fromHex (hex) {
  if (typeof hex !== 'string' || !/^([0-9a-f]{2})*$/.test(hex)) throw new TypeError(`not lowercase hex: ${hex}`)
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

/** Opaque bytes: a length, then the bytes. Values are Uint8Array. */
export const bytes = {
  enc (w, v) {
    len.enc(w, v.length)
    w.push(v)
  },
  dec (r) {
    const n = len.dec(r)
    if (typeof n !== 'number') throw new DecodeError('length too large')
    return Uint8Array.from(r.take(n))
  }
}

/** Exactly `n` bytes behind a length prefix; values are hex strings. */
export function fixed (n) {
  return {
    enc (w, hex) {
      const b = fromHex(hex)
      if (b.length !== n) throw new RangeError(`expected ${n} bytes, got ${b.length}`)
      bytes.enc(w, b)
    },
    dec (r) {
      const n2 = len.dec(r)
      if (n2 !== n) throw new DecodeError(`expected ${n} bytes, the length says ${n2}`)
      return toHex(r.take(n))
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

export const string = {
  enc (w, s) {
    bytes.enc(w, new TextEncoder().encode(s))
  },
  dec (r) {
    const b = bytes.dec(r)
    try {
      return utf8.decode(b)
    } catch {
      throw new DecodeError('invalid UTF-8')
    }
  }
}

export function list (item) {
  return {
    enc (w, xs) {
      len.enc(w, xs.length)
      for (const x of xs) item.enc(w, x)
    },
    dec (r) {
      const n = len.dec(r)
      // Every element takes at least one byte: a count beyond the input is a lie.
      if (typeof n !== 'number' || n > r.remaining()) throw new DecodeError(`list of ${n} items in ${r.remaining()} bytes`)
      const out = []
      for (let i = 0; i < n; i++) out.push(item.dec(r))
      return out
    }
  }
}

export function option (inner) {
  return {
    enc (w, v) {
      if (v === null || v === undefined) w.byte(0)
      else { w.byte(1); inner.enc(w, v) }
    },
    dec (r) {
      const tag = r.byte()
      if (tag === 0) return null
      if (tag === 1) return inner.dec(r)
      throw new DecodeError(`invalid option tag ${tag}`)
    }
  }
}

/** Fields in wire order: `[[name, codec], ...]`; values are plain objects. */
export function struct (fields) {
  return {
    fields,
    enc (w, v) {
      for (const [name, c] of fields) {
        if (!(name in v)) throw new TypeError(`missing field ${name}`)
        c.enc(w, v[name])
      }
    },
    dec (r) {
      const out = {}
      for (const [name, c] of fields) out[name] = c.dec(r)
      return out
    }
  }
}

export function tuple (items) {
  return {
    enc (w, v) {
      items.forEach((c, i) => c.enc(w, v[i]))
    },
    dec (r) {
      return items.map((c) => c.dec(r))
    }
  }
}

/**
 * Variants in tag order: `[[name, codec-or-null], ...]`. A unit variant is the
 * string "Name"; any other is `{ Name: value }`.
 */
export function enumOf (variants) {
  const tags = new Map(variants.map(([name], i) => [name, i]))
  return {
    variants,
    enc (w, v) {
      const name = typeof v === 'string' ? v : Object.keys(v)[0]
      const tag = tags.get(name)
      if (tag === undefined) throw new TypeError(`unknown variant ${name}`)
      const c = variants[tag][1]
      u32.enc(w, tag)
      if (c === null) {
        if (typeof v !== 'string') throw new TypeError(`${name} carries nothing`)
      } else {
        c.enc(w, v[name])
      }
    },
    dec (r) {
      const tag = u32.dec(r)
      if (tag >= variants.length) throw new DecodeError(`unknown tag ${tag}`)
      const [name, c] = variants[tag]
      return c === null ? name : { [name]: c.dec(r) }
    }
  }
}

/** A codec whose decoded value must pass `check` (returns an error text or null). */
export function refined (inner, check) {
  return {
    enc: inner.enc,
    dec (r) {
      const v = inner.dec(r)
      const err = check(v)
      if (err) throw new DecodeError(err)
      return v
    }
  }
}

/** A codec defined later (for types that refer to each other). */
export function lazy (get) {
  return {
    enc: (w, v) => get().enc(w, v),
    dec: (r) => get().dec(r)
  }
}

/** The body of a message, without the version byte. */
export function encodeBody (codec, value) {
  const w = new Writer()
  codec.enc(w, value)
  return w.bytes()
}

/** A whole message: the version byte, then the body. */
export function encode (codec, value) {
  const body = encodeBody(codec, value)
  const out = new Uint8Array(body.length + 1)
  out[0] = FORMAT_VERSION
  out.set(body, 1)
  return out
}

/**
 * Decodes a whole message strictly (section 3.4): size limit, version byte,
 * no trailing bytes, and the canonical encoding of what it decodes to.
 */
export function decode (codec, bytes, limit = 16 * 1024) {
  if (bytes.length > limit) throw new DecodeError(`message is ${bytes.length} bytes, the limit is ${limit}`)
  if (bytes.length === 0) throw new DecodeError('empty message')
  if (bytes[0] !== FORMAT_VERSION) throw new DecodeError(`unsupported format version ${bytes[0]}`)
  const r = new Reader(bytes.subarray(1))
  const value = codec.dec(r)
  if (r.remaining() > 0) throw new DecodeError(`${r.remaining()} trailing bytes after the message`)
  let again
  try {
    again = encode(codec, value)
  } catch (e) {
    throw new DecodeError(`non-canonical encoding (${e.message})`)
  }
  if (Buffer.compare(Buffer.from(again), Buffer.from(bytes)) !== 0) throw new DecodeError('non-canonical encoding')
  return value
}
