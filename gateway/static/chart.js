// Throughput from successive queue stats: the monotonic counters `completed` and
// `enqueuedTotal`, sampled on every refresh, give rates per second over the last minutes.
// Drawn as a hand-made SVG line chart; the samples survive a reload in sessionStorage.

export const WINDOW_MS = 5 * 60 * 1000;
const MIN_SPAN_MS = 60 * 1000; // a young history is drawn over one minute, not squeezed into five
const GAP_MS = 15 * 1000; // samples further apart than this (an outage) break the lines
const STORE_KEY = "fbq.throughput";
const SVG_NS = "http://www.w3.org/2000/svg";
const WIDTH = 300;
const HEIGHT = 100;

export class Throughput {
  constructor(storage = window.sessionStorage) {
    this.storage = storage;
    this.samples = [];
    try {
      const saved = JSON.parse(storage.getItem(STORE_KEY) || "[]");
      if (Array.isArray(saved)) this.samples = saved.filter((s) => Number.isFinite(s.t));
    } catch {
      this.samples = [];
    }
  }

  add(now, stats) {
    const sample = { t: now, completed: stats.completed, submitted: stats.enqueuedTotal };
    const last = this.samples.at(-1);
    if (last && (sample.completed < last.completed || sample.submitted < last.submitted)) {
      this.samples = []; // the counters went back: another queue, or a wiped Redis
    }
    this.samples.push(sample);
    this.samples = this.samples.filter((s) => s.t >= now - WINDOW_MS - GAP_MS);
    try {
      this.storage.setItem(STORE_KEY, JSON.stringify(this.samples));
    } catch {
      // Storage full or refused: the chart still works for this page's life.
    }
  }

  clear() {
    this.samples = [];
    this.storage.removeItem(STORE_KEY);
  }

  // One point per pair of neighbouring samples; `gap` marks a pair too far apart to join.
  rates() {
    const points = [];
    for (let i = 1; i < this.samples.length; i++) {
      const a = this.samples[i - 1];
      const b = this.samples[i];
      const seconds = (b.t - a.t) / 1000;
      if (seconds <= 0) continue;
      points.push({
        t: b.t,
        gap: b.t - a.t > GAP_MS,
        completed: (b.completed - a.completed) / seconds,
        submitted: (b.submitted - a.submitted) / seconds,
      });
    }
    return points;
  }

  totals(now) {
    const inWindow = this.samples.filter((s) => s.t >= now - WINDOW_MS);
    if (inWindow.length < 2) return null;
    const first = inWindow[0];
    const last = inWindow.at(-1);
    return {
      completed: last.completed - first.completed,
      submitted: last.submitted - first.submitted,
      minutes: Math.max(1, Math.round((last.t - first.t) / 60000)),
    };
  }
}

function niceCeiling(value) {
  if (value <= 1) return 1;
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 5, 10]) {
    if (value <= step * magnitude) return step * magnitude;
  }
  return 10 * magnitude;
}

function svg(tag, attributes) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

function pathFor(points, key, now, span, max) {
  const x = (t) => ((t - (now - span)) / span) * WIDTH;
  const y = (v) => HEIGHT - 4 - (v / max) * (HEIGHT - 12);
  let d = "";
  let pen = false;
  for (const p of points) {
    const move = !pen || p.gap;
    d += `${move ? "M" : "L"}${x(p.t).toFixed(1)},${y(p[key]).toFixed(1)} `;
    pen = true;
  }
  return d.trim();
}

const rate = (value) => (value >= 10 ? value.toFixed(0) : value.toFixed(1));

// Draw into `chart` (an <svg>); returns the y-axis maximum, the minutes shown, and a sentence
// for screen readers.
export function draw(chart, history, now) {
  const oldest = history.samples.length ? history.samples[0].t : now;
  const span = Math.min(WINDOW_MS, Math.max(MIN_SPAN_MS, now - oldest));
  const minutes = Math.round(span / 60000);
  const points = history.rates().filter((p) => p.t >= now - span);
  const peak = Math.max(0, ...points.map((p) => Math.max(p.completed, p.submitted)));
  const max = niceCeiling(peak);
  const nodes = [];
  for (const fraction of [0, 0.5, 1]) {
    const y = HEIGHT - 4 - fraction * (HEIGHT - 12);
    nodes.push(svg("line", { class: "gridline", x1: 0, x2: WIDTH, y1: y, y2: y }));
  }
  for (const key of ["submitted", "completed"]) {
    const d = pathFor(points, key, now, span, max);
    if (d) {
      nodes.push(
        svg("path", { class: `series series-${key}`, d, "vector-effect": "non-scaling-stroke" }),
      );
    }
  }
  chart.replaceChildren(...nodes);

  if (points.length === 0) {
    return {
      max,
      minutes,
      summary: "Collecting samples: the chart fills in as the page refreshes.",
    };
  }
  const latest = points.at(-1);
  const totals = history.totals(now);
  let summary =
    `Now ${rate(latest.completed)} completed/s and ${rate(latest.submitted)} submitted/s; ` +
    `peak ${rate(peak)}/s.`;
  if (totals) {
    summary += ` ${totals.completed} completed and ${totals.submitted} submitted in the last ` +
      `${totals.minutes} min.`;
  }
  return { max, minutes, summary };
}
