// One pass over a chunk's bytes for several ASCII markers at once. A relay that asks of every chunk
// whether it holds any of five keys would otherwise search it five times: a native call each, and each
// stopping at every quote (the commonest byte of JSON) when its key starts with one. On a 194-byte
// chat chunk this scan takes 0.4–0.5 µs, five Buffer.includes 0.6 µs.

/** Told of each marker found (its index in the list and where it ends); false stops the scan. */
export type OnMarker = (bytes: Uint8Array, marker: number, end: number) => boolean;

/**
 * A scan of `bytes` for `markers`, last occurrence first: false once `onMarker` said so, true when it
 * never did.
 */
export type MarkerScan = (bytes: Uint8Array, onMarker: OnMarker) => boolean;

export function markerScanner(markers: readonly string[]): MarkerScan {
  const encoded = markers.map((marker) => {
    if (marker.length < 2 || !/^[\x20-\x7e]+$/.test(marker)) throw new Error(`a marker must be two or more printable ASCII characters: ${JSON.stringify(marker)}`);
    return Uint8Array.from(marker, (c) => c.charCodeAt(0));
  });
  // Filters before any comparison: the bytes that start a marker, then the pairs of bytes that do (a
  // quote starts most JSON keys and values; a quote and its next letter start few).
  const starts = new Uint8Array(256);
  // One bit per pair of bytes (8 KiB).
  const pairs = new Uint32Array(65536 / 32);
  const startingWith = new Map<number, number[]>();
  encoded.forEach((marker, i) => {
    const pair = ((marker[0] as number) << 8) | (marker[1] as number);
    starts[marker[0] as number] = 1;
    pairs[pair >>> 5] = (pairs[pair >>> 5] as number) | (1 << (pair & 31));
    startingWith.set(pair, [...(startingWith.get(pair) ?? []), i]);
  });

  // From the end backwards: a chunk holding a stream's last events has its markers (an end, usage) at
  // its end, and a caller that stops at the first one it minds then reads little of a long chunk.
  return (bytes, onMarker) => {
    const n = bytes.length;
    for (let i = n - 2; i >= 0; i--) {
      const byte = bytes[i] as number;
      if (starts[byte] === 0) continue;
      const pair = (byte << 8) | (bytes[i + 1] as number);
      if (((pairs[pair >>> 5] as number) & (1 << (pair & 31))) === 0) continue;
      const candidates = startingWith.get(pair) as number[];
      for (let c = 0; c < candidates.length; c++) {
        const k = candidates[c] as number;
        const marker = encoded[k] as Uint8Array;
        const end = i + marker.length;
        if (end > n) continue;
        let j = 2;
        while (j < marker.length && bytes[i + j] === marker[j]) j++;
        if (j === marker.length && !onMarker(bytes, k, end)) return false;
      }
    }
    return true;
  };
}
