/**
 * `Uint8Array.prototype.set` and `subarray` through module constants, for the per-segment
 * copies and views (ring.ts, wire.ts). Node 20's V8 does not inline the lookup of a typed
 * array's method: in optimized code each `a.set(...)` or `a.subarray(...)` first calls the
 * LoadIC builtin (~70 instructions, callgrind), several times per segment. A constant
 * function called with `.call` is a direct call of the builtin. The semantics are the
 * methods' own (a Buffer's `subarray` is still a Buffer).
 */
const SET = Uint8Array.prototype.set;
const SUBARRAY = Uint8Array.prototype.subarray;

/** `dst.set(src, at)`. */
export function copyInto(dst: Uint8Array, src: Uint8Array, at: number): void {
  SET.call(dst, src, at);
}

/** `src.subarray(start, end)`. */
export function viewOf(src: Uint8Array, start: number, end: number = src.length): Uint8Array {
  return SUBARRAY.call(src, start, end);
}
