// Raw little-endian float32 bytes ↔ Float32Array, without a copy when the bytes are
// 4-aligned. Careful with Node Buffers: Buffer#slice is a view, not a copy, so copies
// go through Uint8Array.prototype.slice.

/** A Float32Array over `bytes` (a view if aligned, else a copy). bytes.length must be a multiple of 4. */
export function float32View(bytes: Uint8Array): Float32Array {
  if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  return new Float32Array(Uint8Array.prototype.slice.call(bytes).buffer);
}

/** An Int32Array over `bytes`, as float32View. */
export function int32View(bytes: Uint8Array): Int32Array {
  if (bytes.byteOffset % 4 === 0) return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  return new Int32Array(Uint8Array.prototype.slice.call(bytes).buffer);
}

/** The bytes of a Float32Array (a view). */
export function float32Bytes(values: Float32Array): Uint8Array {
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}
