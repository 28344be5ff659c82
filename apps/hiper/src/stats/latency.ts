// Latencies: an HDR histogram (hdr-histogram-js) for the percentiles, 3 significant digits from
// 1 µs to an hour, and counts per quarter-octave for the histogram the summary draws.
import * as hdr from 'hdr-histogram-js';

const HIGHEST_US = 3_600_000_000;
/** Buckets per doubling of the latency in the drawn histogram. */
const PER_OCTAVE = 4;
const BUCKETS = Math.ceil(Math.log2(HIGHEST_US) * PER_OCTAVE) + 1;

export interface LatencySummary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** One bar of the drawn histogram: latencies in [fromMs, toMs). */
export interface LatencyBucket {
  fromMs: number;
  toMs: number;
  count: number;
}

export class Latency {
  readonly #hdr = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: HIGHEST_US,
    numberOfSignificantValueDigits: 3,
    // 32-bit counts: ~100 ns a record here; the packed layout costs ~1 µs.
    bitBucketSize: 32,
    useWebAssembly: false,
  });
  readonly #buckets = new Float64Array(BUCKETS);

  record(ms: number): void {
    const us = Math.min(HIGHEST_US, Math.max(1, Math.round(ms * 1000)));
    this.#hdr.recordValue(us);
    this.#buckets[Math.floor(Math.log2(us) * PER_OCTAVE)]!++;
  }

  get count(): number {
    return this.#hdr.totalCount;
  }

  summary(): LatencySummary {
    const h = this.#hdr;
    if (h.totalCount === 0) return { count: 0, min: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
    // A percentile is its bucket's highest value, which can sit a microsecond above the
    // largest value recorded: never report one above the max.
    const max = h.maxValue;
    const ms = (us: number) => Math.round(Math.min(us, max)) / 1000;
    return {
      count: h.totalCount,
      min: ms(h.minNonZeroValue),
      mean: ms(h.mean),
      p50: ms(h.getValueAtPercentile(50)),
      p90: ms(h.getValueAtPercentile(90)),
      p99: ms(h.getValueAtPercentile(99)),
      p999: ms(h.getValueAtPercentile(99.9)),
      max: ms(max),
    };
  }

  /** The non-empty span of the histogram in at most `rows` bars, each a whole number of
   * quarter-octaves wide. */
  buckets(rows = 12): LatencyBucket[] {
    const b = this.#buckets;
    let first = b.findIndex((n) => n > 0);
    if (first < 0) return [];
    let last = first;
    for (let i = b.length - 1; i > first; i--) {
      if (b[i]! > 0) {
        last = i;
        break;
      }
    }
    const width = Math.max(1, Math.ceil((last - first + 1) / rows));
    first -= first % width;
    const edge = (i: number) => Math.round(2 ** (i / PER_OCTAVE)) / 1000;
    const out: LatencyBucket[] = [];
    for (let i = first; i <= last; i += width) {
      let count = 0;
      for (let j = i; j < i + width && j < b.length; j++) count += b[j]!;
      out.push({ fromMs: edge(i), toMs: edge(i + width), count });
    }
    return out;
  }
}
