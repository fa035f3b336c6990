// Dependency-free SVG for the report: line charts (a 1-D landscape slice, several curves)
// and contour plots (a 2-D slice: banded colour fill, marching-squares isolines, a colour
// bar, a mark at θ). Output is a standalone SVG document (xmlns, viewBox) with every
// text escaped and every number in an attribute finite: non-finite data are skipped
// (a gap in a curve, an unfilled cell, no isoline through the cell).

const SVG_NS = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const HEIGHT = 420;
const MARGIN = { top: 40, bottom: 56, left: 72, right: 20 };
/** d3's schemeCategory10. */
const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
/** Viridis at nine evenly spaced points. */
const VIRIDIS: [number, number, number][] = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
];
const MAX_LEVELS = 100;

// ---------------------------------------------------------------------------------------
// Text and numbers

/** Text or attribute content: XML-escaped, with characters XML 1.0 forbids removed. */
export function escapeXml(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, "")
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/** A coordinate for an attribute: two decimals, never NaN, never "-0". */
function n(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`svg-plot: non-finite coordinate ${x} (a range too large to draw?)`);
  const r = Math.round(x * 100) / 100;
  return String(r === 0 ? 0 : r);
}

/** A tick or level label: as few digits as the step needs. */
function label(v: number, step: number): string {
  if (v === 0 || Math.abs(v) < Math.abs(step) * 1e-9) return "0";
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-4) return v.toExponential(2).replace(/\.?0+e/, "e");
  const decimals = Math.min(12, Math.max(0, Math.ceil(-Math.log10(Math.abs(step)) - 1e-9)));
  return v.toFixed(decimals);
}

function tickStep(lo: number, hi: number, count: number): number {
  const raw = (hi - lo) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const err = raw / power;
  const m = err >= Math.sqrt(50) ? 10 : err >= Math.sqrt(10) ? 5 : err >= Math.sqrt(2) ? 2 : 1;
  return m * power;
}

/** About `count` round values in [lo, hi]. */
function ticks(lo: number, hi: number, count: number): { values: number[]; step: number } {
  const step = tickStep(lo, hi, count);
  const values: number[] = [];
  const first = Math.ceil(lo / step - 1e-9);
  const last = Math.floor(hi / step + 1e-9);
  for (let i = first; i <= last && values.length < 50; i++) values.push(Number((i * step).toPrecision(12)));
  return { values, step };
}

function extent(values: Iterable<number>): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : null;
}

/** A non-empty domain: a single value is widened, a missing one is [0, 1]. */
function widen(e: [number, number] | null): [number, number] {
  if (!e) return [0, 1];
  const [lo, hi] = e;
  if (hi - lo > 0) {
    if (!Number.isFinite(hi - lo)) throw new Error(`svg-plot: the data range [${lo}, ${hi}] is too large to draw`);
    return [lo, hi];
  }
  const pad = lo === 0 ? 1 : Math.abs(lo) * 0.5;
  return [lo - pad, hi + pad];
}

/** The domain extended to whole tick steps. */
function nice(d: [number, number]): [number, number] {
  const step = tickStep(d[0], d[1], 6);
  return [Math.floor(d[0] / step + 1e-9) * step, Math.ceil(d[1] / step - 1e-9) * step];
}

interface Frame {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
  sx: (v: number) => number;
  sy: (v: number) => number;
}

function frame(xd: [number, number], yd: [number, number], right: number): Frame {
  const x0 = MARGIN.left;
  const x1 = WIDTH - right;
  const y0 = HEIGHT - MARGIN.bottom; // pixel y of the domain's low end
  const y1 = MARGIN.top;
  return {
    x0,
    x1,
    y0,
    y1,
    sx: (v) => x0 + ((v - xd[0]) / (xd[1] - xd[0])) * (x1 - x0),
    sy: (v) => y0 - ((v - yd[0]) / (yd[1] - yd[0])) * (y0 - y1),
  };
}

function open(title: string): string[] {
  return [
    `<svg xmlns="${SVG_NS}" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect x="0" y="0" width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text class="title" x="${n(WIDTH / 2)}" y="24" text-anchor="middle" font-size="15">${escapeXml(title)}</text>`,
  ];
}

/** Axes with ticks and labels; x ticks at the bottom, y ticks on the left. */
function axes(f: Frame, xd: [number, number], yd: [number, number], xLabel: string, yLabel: string, grid: boolean): string[] {
  const out: string[] = ['<g class="axes" stroke="#000000" stroke-width="1">'];
  const xt = ticks(Math.min(...xd), Math.max(...xd), 6);
  const yt = ticks(Math.min(...yd), Math.max(...yd), 6);
  if (grid) {
    for (const v of xt.values) out.push(`<line x1="${n(f.sx(v))}" y1="${n(f.y0)}" x2="${n(f.sx(v))}" y2="${n(f.y1)}" stroke="#e6e6e6"/>`);
    for (const v of yt.values) out.push(`<line x1="${n(f.x0)}" y1="${n(f.sy(v))}" x2="${n(f.x1)}" y2="${n(f.sy(v))}" stroke="#e6e6e6"/>`);
  }
  out.push(`<line x1="${n(f.x0)}" y1="${n(f.y0)}" x2="${n(f.x1)}" y2="${n(f.y0)}"/>`);
  out.push(`<line x1="${n(f.x0)}" y1="${n(f.y0)}" x2="${n(f.x0)}" y2="${n(f.y1)}"/>`);
  for (const v of xt.values) {
    const x = n(f.sx(v));
    out.push(`<line x1="${x}" y1="${n(f.y0)}" x2="${x}" y2="${n(f.y0 + 5)}"/>`);
    out.push(`<text x="${x}" y="${n(f.y0 + 18)}" text-anchor="middle" stroke="none">${escapeXml(label(v, xt.step))}</text>`);
  }
  for (const v of yt.values) {
    const y = n(f.sy(v));
    out.push(`<line x1="${n(f.x0 - 5)}" y1="${y}" x2="${n(f.x0)}" y2="${y}"/>`);
    out.push(`<text x="${n(f.x0 - 8)}" y="${y}" dy="0.32em" text-anchor="end" stroke="none">${escapeXml(label(v, yt.step))}</text>`);
  }
  out.push("</g>");
  out.push(`<text class="x-label" x="${n((f.x0 + f.x1) / 2)}" y="${n(HEIGHT - 14)}" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  const ly = (f.y0 + f.y1) / 2;
  out.push(`<text class="y-label" x="18" y="${n(ly)}" text-anchor="middle" transform="rotate(-90 18 ${n(ly)})">${escapeXml(yLabel)}</text>`);
  return out;
}

// ---------------------------------------------------------------------------------------
// Line chart

/**
 * Several curves in one plot, a legend, axes with ticks. One <path class="series"> per
 * series that has at least one finite point (a non-finite x or y breaks the curve into
 * pieces, all in the same path); every series is listed in the legend.
 */
export function lineChartSvg(o: { title: string; xLabel: string; yLabel: string; series: { name: string; x: number[]; y: number[] }[] }): string {
  for (const [i, s] of o.series.entries()) {
    if (s.x.length !== s.y.length) throw new Error(`lineChartSvg: series ${i} (${s.name}) has ${s.x.length} x values but ${s.y.length} y values`);
  }
  const ok = (s: { x: number[]; y: number[] }, k: number) => Number.isFinite(s.x[k]!) && Number.isFinite(s.y[k]!);
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of o.series) {
    for (let k = 0; k < s.x.length; k++) {
      if (ok(s, k)) {
        xs.push(s.x[k]!);
        ys.push(s.y[k]!);
      }
    }
  }
  const xd = nice(widen(extent(xs)));
  const yd = nice(widen(extent(ys)));
  const longest = Math.max(0, ...o.series.map((s) => s.name.length));
  const legendWidth = o.series.length > 0 ? Math.min(200, 34 + 7 * longest) : 0;
  const f = frame(xd, yd, MARGIN.right + legendWidth);

  const out = open(o.title);
  out.push(...axes(f, xd, yd, o.xLabel, o.yLabel, true));
  out.push('<g class="series-group" fill="none" stroke-width="1.75" stroke-linejoin="round" stroke-linecap="round">');
  for (const [i, s] of o.series.entries()) {
    const parts: string[] = [];
    let pen = false;
    for (let k = 0; k < s.x.length; k++) {
      if (!ok(s, k)) {
        pen = false;
        continue;
      }
      const x = n(f.sx(s.x[k]!));
      const y = n(f.sy(s.y[k]!));
      // A lone point is drawn as a zero-length segment, which the round cap shows as a dot.
      const alone = !pen && !(k + 1 < s.x.length && ok(s, k + 1));
      parts.push(`${pen ? "L" : "M"}${x} ${y}${alone ? "l0 0" : ""}`);
      pen = true;
    }
    if (parts.length === 0) continue;
    out.push(`<path class="series" data-series="${i}" stroke="${PALETTE[i % PALETTE.length]}" d="${parts.join("")}"><title>${escapeXml(s.name)}</title></path>`);
  }
  out.push("</g>");
  if (o.series.length > 0) {
    const lx = f.x1 + 12;
    out.push('<g class="legend">');
    for (const [i, s] of o.series.entries()) {
      const y = f.y1 + 8 + i * 18;
      out.push(`<line x1="${n(lx)}" y1="${n(y)}" x2="${n(lx + 20)}" y2="${n(y)}" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="2.5"/>`);
      out.push(`<text x="${n(lx + 26)}" y="${n(y)}" dy="0.32em">${escapeXml(s.name)}</text>`);
    }
    out.push("</g>");
  }
  out.push("</svg>");
  return out.join("\n") + "\n";
}

// ---------------------------------------------------------------------------------------
// Contours

function viridis(t: number): string {
  const u = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(u));
  const w = u - i;
  const a = VIRIDIS[i]!;
  const b = VIRIDIS[i + 1]!;
  const hex = (k: number) => Math.round(a[k]! + (b[k]! - a[k]!) * w).toString(16).padStart(2, "0");
  return `#${hex(0)}${hex(1)}${hex(2)}`;
}

function checkAxis(name: string, v: number[]): void {
  if (v.length < 2) throw new Error(`contourSvg: ${name} needs at least 2 values, got ${v.length}`);
  if (!v.every(Number.isFinite)) throw new Error(`contourSvg: ${name} must be finite`);
  const up = v[1]! > v[0]!;
  for (let i = 1; i < v.length; i++) {
    if (up ? !(v[i]! > v[i - 1]!) : !(v[i]! < v[i - 1]!)) throw new Error(`contourSvg: ${name} must be strictly increasing or strictly decreasing`);
  }
}

/**
 * Marching squares on a grid: the isoline `level` as polylines in grid coordinates
 * (col, row, fractional), each closed (a ring) or open (ending at the grid's border or
 * at a cell with a non-finite corner). A corner is inside when value ≥ level; a saddle
 * cell is resolved by the mean of its corners. Crossings are identified by grid edge,
 * so neighbouring cells join exactly.
 */
export function isolines(values: number[][], level: number): { points: [number, number][]; closed: boolean }[] {
  const rows = values.length;
  const cols = values[0]?.length ?? 0;
  const v = (r: number, c: number) => values[r]![c]!;
  // Edge keys: horizontal edge (r,c)–(r,c+1) is 2(r·cols+c), vertical (r,c)–(r+1,c) is 2(r·cols+c)+1.
  const H = (r: number, c: number) => 2 * (r * cols + c);
  const V = (r: number, c: number) => 2 * (r * cols + c) + 1;
  const point = (key: number): [number, number] => {
    const cell = key >> 1;
    const r = Math.floor(cell / cols);
    const c = cell % cols;
    const a = v(r, c);
    if ((key & 1) === 0) return [c + (level - a) / (v(r, c + 1) - a), r];
    return [c, r + (level - a) / (v(r + 1, c) - a)];
  };
  const segments: [number, number][] = [];
  for (let r = 0; r + 1 < rows; r++) {
    for (let c = 0; c + 1 < cols; c++) {
      const a = v(r, c); // corners: a (r,c), b (r,c+1), cc (r+1,c+1), d (r+1,c)
      const b = v(r, c + 1);
      const cc = v(r + 1, c + 1);
      const d = v(r + 1, c);
      if (!Number.isFinite(a) || !Number.isFinite(b) || !Number.isFinite(cc) || !Number.isFinite(d)) continue;
      const ia = a >= level;
      const ib = b >= level;
      const ic = cc >= level;
      const id = d >= level;
      const bottom = H(r, c);
      const right = V(r, c + 1);
      const top = H(r + 1, c);
      const left = V(r, c);
      const crossed: number[] = [];
      if (ia !== ib) crossed.push(bottom);
      if (ib !== ic) crossed.push(right);
      if (ic !== id) crossed.push(top);
      if (id !== ia) crossed.push(left);
      if (crossed.length === 2) segments.push([crossed[0]!, crossed[1]!]);
      else if (crossed.length === 4) {
        const centre = (a + b + cc + d) / 4 >= level;
        if (centre === ia) {
          // a and c are joined through the centre: cut off b and d.
          segments.push([bottom, right], [top, left]);
        } else {
          segments.push([left, bottom], [right, top]);
        }
      }
    }
  }
  const byEdge = new Map<number, number[]>();
  for (const [i, [e1, e2]] of segments.entries()) {
    for (const e of [e1, e2]) {
      const list = byEdge.get(e);
      if (list) list.push(i);
      else byEdge.set(e, [i]);
    }
  }
  const used = new Uint8Array(segments.length);
  const out: { points: [number, number][]; closed: boolean }[] = [];
  const walk = (start: number, seg: number): { keys: number[]; closed: boolean } => {
    const keys = [start];
    let at = start;
    let cur = seg;
    for (;;) {
      used[cur] = 1;
      const [e1, e2] = segments[cur]!;
      const other = e1 === at ? e2 : e1;
      if (other === start) return { keys, closed: true };
      keys.push(other);
      const next = byEdge.get(other)!.find((s) => s !== cur && !used[s]);
      if (next === undefined) return { keys, closed: false };
      at = other;
      cur = next;
    }
  };
  // Open lines first, from their ends (edges that belong to one segment only), then rings.
  for (const [edge, list] of byEdge) {
    if (list.length === 1 && !used[list[0]!]) {
      const { keys, closed } = walk(edge, list[0]!);
      out.push({ points: keys.map(point), closed });
    }
  }
  for (let i = 0; i < segments.length; i++) {
    if (used[i]) continue;
    const { keys, closed } = walk(segments[i]![0], i);
    out.push({ points: keys.map(point), closed });
  }
  return out;
}

type Vertex = [x: number, y: number, v: number];

/** The part of a convex polygon where the linearly interpolated value is ≥ t (keepAbove) or < t. */
function clip(poly: Vertex[], t: number, keepAbove: boolean): Vertex[] {
  const inside = (p: Vertex) => (keepAbove ? p[2] >= t : p[2] < t);
  const out: Vertex[] = [];
  for (let i = 0; i < poly.length; i++) {
    const p = poly[i]!;
    const q = poly[(i + 1) % poly.length]!;
    if (inside(p)) out.push(p);
    if (inside(p) !== inside(q)) {
      const s = (t - p[2]) / (q[2] - p[2]);
      out.push([p[0] + s * (q[0] - p[0]), p[1] + s * (q[1] - p[1]), t]);
    }
  }
  return out;
}

/**
 * Filled bands: band b holds thresholds[b-1] ≤ v < thresholds[b]. A cell whose four
 * corners fall in one band is a rectangle (runs of them along a row are merged); a cell
 * a threshold crosses is clipped to every band it spans, the value interpolated linearly
 * along the cell's edges (a saddle cell is first cut into four triangles around its
 * centre, the mean of the corners, as marching squares uses for saddles). A cell with a non-finite corner stays blank.
 * One <path class="band"> per band that covers anything.
 */
function bandFill(xs: number[], ys: number[], values: number[][], thresholds: number[], f: Frame, colour: (b: number) => string): string[] {
  const band = (x: number) => {
    let b = 0;
    while (b < thresholds.length && x >= thresholds[b]!) b++;
    return b;
  };
  const parts: string[][] = Array.from({ length: thresholds.length + 1 }, () => []);
  const px = xs.map(f.sx);
  const py = ys.map(f.sy);
  const rect = (b: number, x0: number, x1: number, y0: number, y1: number) => parts[b]!.push(`M${n(x0)} ${n(y0)}H${n(x1)}V${n(y1)}H${n(x0)}Z`);
  for (let r = 0; r + 1 < ys.length; r++) {
    let run: { band: number; from: number; to: number } | null = null;
    const flush = () => {
      if (run) rect(run.band, px[run.from]!, px[run.to]!, py[r]!, py[r + 1]!);
      run = null;
    };
    for (let c = 0; c + 1 < xs.length; c++) {
      const a = values[r]![c]!;
      const b = values[r]![c + 1]!;
      const cc = values[r + 1]![c + 1]!;
      const d = values[r + 1]![c]!;
      if (!Number.isFinite(a) || !Number.isFinite(b) || !Number.isFinite(cc) || !Number.isFinite(d)) {
        flush();
        continue;
      }
      const lo = band(Math.min(a, b, cc, d));
      const hi = band(Math.max(a, b, cc, d));
      if (lo === hi) {
        if (run && run.band === lo && run.to === c) run.to = c + 1;
        else {
          flush();
          run = { band: lo, from: c, to: c + 1 };
        }
        continue;
      }
      flush();
      const corners: Vertex[] = [
        [px[c]!, py[r]!, a],
        [px[c + 1]!, py[r]!, b],
        [px[c + 1]!, py[r + 1]!, cc],
        [px[c]!, py[r + 1]!, d],
      ];
      // A cell is clipped whole unless some threshold makes it a saddle: then the
      // boundary crossings are chords that do not cross, the same straight segments as
      // the isolines. A saddle cell is cut into four triangles around its centre.
      let saddle = false;
      for (let t = lo; t < hi && !saddle; t++) {
        const th = thresholds[t]!;
        saddle = a >= th === cc >= th && b >= th === d >= th && a >= th !== b >= th;
      }
      const centre: Vertex = [(px[c]! + px[c + 1]!) / 2, (py[r]! + py[r + 1]!) / 2, (a + b + cc + d) / 4];
      const pieces: Vertex[][] = saddle ? [0, 1, 2, 3].map((k) => [corners[k]!, corners[(k + 1) % 4]!, centre]) : [corners];
      for (const piece of pieces) {
        for (let bb = lo; bb <= hi; bb++) {
          let poly = piece;
          if (bb > 0) poly = clip(poly, thresholds[bb - 1]!, true);
          if (bb < thresholds.length) poly = clip(poly, thresholds[bb]!, false);
          if (poly.length < 3) continue;
          parts[bb]!.push(poly.map(([x, y], i) => `${i === 0 ? "M" : "L"}${n(x)} ${n(y)}`).join("") + "Z");
        }
      }
    }
    flush();
  }
  const out = ['<g class="fill" stroke-width="0.6" stroke-linejoin="round">'];
  for (const [b, d] of parts.entries()) {
    if (d.length === 0) continue;
    // Stroked in its own colour so that anti-aliasing leaves no seams between pieces.
    out.push(`<path class="band" data-band="${b}" fill="${colour(b)}" stroke="${colour(b)}" d="${d.join("")}"/>`);
  }
  out.push("</g>");
  return out;
}

/**
 * Filled contours with isolines, a colour bar, axes, and a mark at (0, 0) when it lies
 * inside the grid. values[row][col] is the value at (xs[col], ys[row]). `levels`
 * (default 10) isoline values are spaced evenly strictly inside the range of the finite
 * values; the bands between them are filled (one <path class="band"> per band present,
 * see bandFill), cells with a non-finite corner are left blank. One
 * <path class="contour" data-level="…"> per level that has a line; its closed rings end
 * with "Z". No other <path> elements are drawn.
 */
export function contourSvg(o: {
  title: string;
  xLabel: string;
  yLabel: string;
  xs: number[];
  ys: number[];
  values: number[][];
  levels?: number;
}): string {
  checkAxis("xs", o.xs);
  checkAxis("ys", o.ys);
  if (o.values.length !== o.ys.length) throw new Error(`contourSvg: values has ${o.values.length} rows, ys has ${o.ys.length}`);
  for (const [r, row] of o.values.entries()) {
    if (row.length !== o.xs.length) throw new Error(`contourSvg: values row ${r} has ${row.length} columns, xs has ${o.xs.length}`);
  }
  const count = o.levels ?? 10;
  if (!Number.isInteger(count) || count < 1 || count > MAX_LEVELS) throw new Error(`contourSvg: levels must be an integer in [1, ${MAX_LEVELS}], got ${o.levels}`);

  const vr = extent(o.values.flat());
  const thresholds: number[] = [];
  if (vr && vr[1] > vr[0]) {
    for (let k = 1; k <= count; k++) thresholds.push(vr[0] + ((vr[1] - vr[0]) * k) / (count + 1));
  }
  const bandColour = (b: number) => viridis(thresholds.length === 0 ? 0.5 : b / thresholds.length);

  const xd: [number, number] = [o.xs[0]!, o.xs[o.xs.length - 1]!];
  const yd: [number, number] = [o.ys[0]!, o.ys[o.ys.length - 1]!];
  const barSpace = 96;
  const f = frame(xd, yd, MARGIN.right + barSpace);
  const out = open(o.title);
  out.push(...bandFill(o.xs, o.ys, o.values, thresholds, f, bandColour));

  // Grid coordinates (col, row) → pixels, linear within each cell.
  const at = (axis: number[], g: number) => {
    const i = Math.min(axis.length - 2, Math.max(0, Math.floor(g)));
    return axis[i]! + (g - i) * (axis[i + 1]! - axis[i]!);
  };
  out.push('<g class="contours" fill="none" stroke="#1a1a1a" stroke-width="0.9" stroke-linejoin="round">');
  const levelStep = thresholds.length > 1 ? thresholds[1]! - thresholds[0]! : vr ? Math.abs(vr[1] - vr[0]) || 1 : 1;
  for (const level of thresholds) {
    const lines = isolines(o.values, level);
    if (lines.length === 0) continue;
    const d = lines
      .map(({ points, closed }) => points.map(([c, r], i) => `${i === 0 ? "M" : "L"}${n(f.sx(at(o.xs, c)))} ${n(f.sy(at(o.ys, r)))}`).join("") + (closed ? "Z" : ""))
      .join("");
    out.push(`<path class="contour" data-level="${escapeXml(String(level))}" d="${d}"><title>${escapeXml(label(level, levelStep / 10))}</title></path>`);
  }
  out.push("</g>");

  const inside = (v: number, d: [number, number]) => v >= Math.min(...d) && v <= Math.max(...d);
  if (inside(0, xd) && inside(0, yd)) {
    const x = f.sx(0);
    const y = f.sy(0);
    out.push(
      `<g class="origin" stroke="#ffffff" stroke-width="1.5"><circle cx="${n(x)}" cy="${n(y)}" r="4" fill="#d62728"/>` +
        `<line x1="${n(x - 8)}" y1="${n(y)}" x2="${n(x + 8)}" y2="${n(y)}" stroke="#d62728"/>` +
        `<line x1="${n(x)}" y1="${n(y - 8)}" x2="${n(x)}" y2="${n(y + 8)}" stroke="#d62728"/></g>`,
    );
  }
  out.push(`<rect x="${n(f.x0)}" y="${n(f.y1)}" width="${n(f.x1 - f.x0)}" height="${n(f.y0 - f.y1)}" fill="none" stroke="#000000"/>`);
  out.push(...axes(f, xd, yd, o.xLabel, o.yLabel, false));

  // Colour bar: one box per band, the level values between them.
  if (vr) {
    const bx = f.x1 + 16;
    const bands = thresholds.length + 1;
    const bh = (f.y0 - f.y1) / bands;
    out.push('<g class="colour-bar">');
    for (let b = 0; b < bands; b++) {
      const y = f.y0 - (b + 1) * bh;
      out.push(`<rect x="${n(bx)}" y="${n(y)}" width="16" height="${n(bh)}" fill="${bandColour(b)}" stroke="none"/>`);
    }
    out.push(`<rect x="${n(bx)}" y="${n(f.y1)}" width="16" height="${n(f.y0 - f.y1)}" fill="none" stroke="#000000"/>`);
    const edges = [vr[0], ...thresholds, vr[1]];
    const every = Math.max(1, Math.ceil(edges.length / 12));
    const step = (thresholds.length > 0 ? levelStep : Math.abs(vr[0]) || 1) / 10;
    for (const [k, v] of edges.entries()) {
      if (k % every !== 0 && k !== edges.length - 1) continue;
      const y = f.y0 - (thresholds.length > 0 ? k * bh : k === 0 ? 0 : bh);
      out.push(`<text x="${n(bx + 22)}" y="${n(y)}" dy="0.32em" font-size="10">${escapeXml(label(v, step))}</text>`);
    }
    out.push("</g>");
  } else {
    out.push(`<text x="${n((f.x0 + f.x1) / 2)}" y="${n((f.y0 + f.y1) / 2)}" text-anchor="middle">no finite values</text>`);
  }
  out.push("</svg>");
  return out.join("\n") + "\n";
}
