/**
 * Two charts drawn with uPlot (static/vendor/uplot, the npm package's own
 * files): the round-trip time of each echo, and bufferedAmount with the
 * messages received per second over time. Each chart sits in a role="img"
 * element whose name says what it shows and whose description sums it up
 * in words, since a canvas says nothing to a screen reader.
 *
 * @module
 */

/** Points kept per series: enough for a long burst, cheap to redraw. */
const MAX_POINTS = 1000;
/** bufferedAmount and the message rate are sampled this often, in ms. */
export const SAMPLE_MS = 100;
/**
 * The rate counts the messages received in this window, in ms: one second,
 * so one echo reads 1 per second (scaling a 100 ms sample made it 10).
 */
const RATE_WINDOW_MS = 1000;
/** Redraws at most this often, in ms. */
const REDRAW_MS = 200;

function cssColor(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name)
    .trim() || "#555";
}

/** The flow's words while it has no sample, by the connection's phase. */
const FLOW_EMPTY = {
  none: "chart.flowEmpty",
  connecting: "chart.flowConnecting",
  closed: "chart.flowNeverOpened",
};

/** Tick steps for axes of whole numbers (uPlot's `incrs`). */
const WHOLE_STEPS = [1, 2, 5].flatMap((step) =>
  [1, 10, 100, 1000, 10000, 100000].map((scale) => step * scale)
).sort((a, b) => a - b);

/**
 * uPlot `size` for an axis: tick length, gap and the widest label, measured
 * in the axis font (uPlot's own autosize recipe), in CSS pixels.
 */
function fitLabels(chart, values, axisIndex, cycle) {
  const axis = chart.axes[axisIndex];
  if (cycle > 1) return axis._size;
  let size = axis.ticks.size + axis.gap;
  const longest = (values ?? []).reduce(
    (widest, value) => value.length > widest.length ? value : widest,
    "",
  );
  if (longest !== "") {
    chart.ctx.font = axis.font[0];
    size += chart.ctx.measureText(longest).width / devicePixelRatio;
  }
  return Math.ceil(size) + 2;
}

/** Appends to parallel arrays, dropping the oldest points past MAX_POINTS. */
function push(columns, values) {
  columns.forEach((column, i) => {
    column.push(values[i]);
    if (column.length > MAX_POINTS) column.shift();
  });
}

export class Charts {
  #rtt = [[], []];
  #flow = [[], [], []];
  #rttChart;
  #flowChart;
  #dirty = false;
  #lastDraw = 0;
  #start = performance.now();
  #received = 0;
  #lastSample = 0;
  /** [time in ms, messages received by then] of the samples in the window. */
  #counts = [[this.#start, 0]];
  /**
   * Where the connection of the charts is, for the flow's words while there
   * is no sample: none yet, connecting, or closed (before it ever opened,
   * when nothing was sampled).
   * @type {"none" | "connecting" | "closed"}
   */
  #phase = "none";
  /** The connection's bufferedAmount peak and value now, in bytes. */
  #peak = 0;
  #now = 0;
  #t;
  #format;
  #elements;

  /**
   * @param {{ rtt: HTMLElement, flow: HTMLElement, rttSummary: HTMLElement, flowSummary: HTMLElement }} elements
   * @param {(key: string, values?: object) => string} t
   * @param {{ size: (bytes: number) => string, number: (n: number, fractionDigits?: number) => string }} format
   *   byte counts and plain numbers in the page's language
   */
  constructor(elements, t, format) {
    this.#elements = elements;
    this.#t = t;
    this.#format = format;
    const uPlot = globalThis.uPlot;
    if (!uPlot) return;
    /**
     * An axis whose labels are written by `label` and whose width fits the
     * longest of them (uPlot's `values` and `size` options), so 2 MiB is
     * never clipped to "000,000".
     */
    const axis = (label) => ({
      stroke: cssColor("--fg"),
      grid: { stroke: cssColor("--grid") },
      ticks: { stroke: cssColor("--grid") },
      values: (_chart, splits) => tickLabels(splits, label),
      size: fitLabels,
    });
    const plain = (value, digits) => format.number(value, digits);
    const base = (element) => ({
      width: Math.max(element.clientWidth, 200),
      height: 180,
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: false } },
    });
    this.#rttChart = new uPlot(
      {
        ...base(elements.rtt),
        // uPlot's own rule for points: drawn while they are sparse, so a
        // single echo (no line to draw) is seen.
        series: [{}, { stroke: cssColor("--accent"), width: 1.5 }],
        // Messages are counted in whole numbers: no tick between two.
        axes: [{ ...axis(plain), incrs: WHOLE_STEPS }, axis(plain)],
      },
      this.#rtt,
      elements.rtt,
    );
    this.#flowChart = new uPlot(
      {
        ...base(elements.flow),
        scales: { x: { time: false }, rate: { auto: true } },
        series: [{}, {
          stroke: cssColor("--warn"),
          width: 1.5,
          points: { show: false },
        }, {
          stroke: cssColor("--ok"),
          width: 1.5,
          scale: "rate",
          points: { show: false },
        }],
        axes: [axis(plain), axis((value) => format.size(value)), {
          ...axis(plain),
          incrs: WHOLE_STEPS,
          scale: "rate",
          side: 1,
          grid: { show: false },
        }],
      },
      this.#flow,
      elements.flow,
    );
    new ResizeObserver(() => this.#resize()).observe(
      elements.rtt.parentElement,
    );
  }

  #resize() {
    for (
      const [chart, element] of [[this.#rttChart, this.#elements.rtt], [
        this.#flowChart,
        this.#elements.flow,
      ]]
    ) {
      chart?.setSize({
        width: Math.max(element.clientWidth, 200),
        height: 180,
      });
    }
  }

  /** Starts both charts over, for a new connection. */
  reset() {
    this.#phase = "connecting";
    this.#rtt = [[], []];
    this.#flow = [[], [], []];
    this.#start = performance.now();
    this.#received = 0;
    this.#counts = [[this.#start, 0]];
    this.#lastSample = 0;
    this.#peak = 0;
    this.#now = 0;
    this.#dirty = true;
  }

  /** One echo arrived, `ms` after its send(). */
  roundTrip(index, ms) {
    push(this.#rtt, [index, ms]);
    this.#dirty = true;
  }

  /** The connection closed (or failed to open). */
  closed() {
    this.#phase = "closed";
    this.#dirty = true;
  }

  /** One message arrived (echo or not), for the rate. */
  received() {
    this.#received++;
  }

  /**
   * Called every animation frame, after `meter.sample()`. A point is the
   * highest bufferedAmount since the point before, and the words give the
   * connection's own peak, so they say what the State panel says.
   * @param {{ peak: number, bufferedAmount: number, takeHighest: () => number }} meter
   *   the connection (connection.js), in bytes
   * @param {boolean} active whether to add points (open, or bytes left)
   */
  tick(meter, active) {
    const now = performance.now();
    if (meter.peak !== this.#peak || meter.bufferedAmount !== this.#now) {
      this.#peak = meter.peak;
      this.#now = meter.bufferedAmount;
      this.#dirty = true;
    }
    if (active && now - this.#lastSample >= SAMPLE_MS) {
      const seconds = (now - this.#start) / 1000;
      // The count at the window's start is the last sample at or before it.
      while (
        this.#counts.length > 1 && this.#counts[1][0] <= now - RATE_WINDOW_MS
      ) {
        this.#counts.shift();
      }
      const rate = this.#received - this.#counts[0][1];
      this.#counts.push([now, this.#received]);
      this.#lastSample = now;
      push(this.#flow, [
        Number(seconds.toFixed(2)),
        meter.takeHighest(),
        rate,
      ]);
      this.#dirty = true;
    }
    if (this.#dirty && now - this.#lastDraw >= REDRAW_MS) this.draw();
  }

  /** Redraws both charts and their summaries now. */
  draw() {
    this.#dirty = false;
    this.#lastDraw = performance.now();
    this.#rttChart?.setData(this.#rtt);
    this.#flowChart?.setData(this.#flow);
    this.describe();
  }

  /** The charts in words, for the role="img" descriptions. */
  describe() {
    const rtt = this.#rtt[1];
    if (rtt.length === 0) {
      this.#elements.rttSummary.textContent = this.#t("chart.rttEmpty");
    } else {
      const sorted = [...rtt].sort((a, b) => a - b);
      this.#elements.rttSummary.textContent = this.#t("chart.rttSummary", {
        count: rtt.length,
        last: Math.round(rtt[rtt.length - 1]),
        median: Math.round(median(sorted)),
        max: Math.round(sorted[sorted.length - 1]),
      });
    }
    const rates = this.#flow[2];
    this.#elements.flowSummary.textContent = rates.length === 0
      ? this.#t(FLOW_EMPTY[this.#phase])
      : this.#t("chart.flowSummary", {
        peak: this.#format.size(this.#peak),
        now: this.#format.size(this.#now),
        rate: this.#format.number(Math.max(...rates)),
      });
  }
}

/**
 * The median of sorted numbers: the middle one, or the mean of the two in
 * the middle (two echoes of 17 and 34 ms have a median of 25.5, not 34).
 * @param {number[]} sorted ascending, not empty
 */
export function median(sorted) {
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * An axis's tick labels, with as many decimals as the step between ticks
 * needs (at most 3): ticks 0.2 apart read 1.2 and 1.4, not 1 and 1.
 * @param {number[]} splits the tick values, ascending
 * @param {(value: number, fractionDigits: number) => string} label
 */
export function tickLabels(splits, label) {
  const step = splits.length > 1 ? Math.abs(splits[1] - splits[0]) : 1;
  let digits = 0;
  while (digits < 3) {
    const scaled = step * 10 ** digits;
    if (Math.abs(scaled - Math.round(scaled)) < 1e-6) break;
    digits++;
  }
  return splits.map((value) => label(value, digits));
}
