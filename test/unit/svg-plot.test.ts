import { describe, expect, it } from "vitest";
import { contourSvg, isolines, lineChartSvg } from "../../src/coordinator/report/svg-plot.js";

interface XmlElement {
  name: string;
  attrs: Map<string, string>;
  children: XmlElement[];
  text: string;
}

const ENTITY = /&(?:amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);/y;
const NAME = /[A-Za-z_:][-A-Za-z0-9_:.]*/y;

function unescape(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => ({ amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" })[e]!);
}

/** Checks character data: every "&" starts a known entity, no "<" or ">" stray. */
function checkText(s: string, where: string): void {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "<" || s[i] === ">") throw new Error(`${where}: raw ${s[i]} in text`);
    if (s[i] === "&") {
      ENTITY.lastIndex = i;
      if (!ENTITY.test(s)) throw new Error(`${where}: bad entity at ${JSON.stringify(s.slice(i, i + 10))}`);
    }
  }
}

/** A minimal well-formedness check and parser: one root, balanced tags, quoted unique attributes, valid entities. */
function parseXml(src: string): XmlElement {
  let i = 0;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const skipSpace = () => {
    while (i < src.length && /\s/.test(src[i]!)) i++;
  };
  const name = () => {
    NAME.lastIndex = i;
    const m = NAME.exec(src);
    if (!m) throw new Error(`expected a name at ${i}: ${JSON.stringify(src.slice(i, i + 20))}`);
    i += m[0].length;
    return m[0];
  };
  while (i < src.length) {
    const lt = src.indexOf("<", i);
    const text = src.slice(i, lt === -1 ? src.length : lt);
    if (stack.length === 0) {
      if (text.trim() !== "") throw new Error(`text outside the root: ${JSON.stringify(text.slice(0, 30))}`);
    } else {
      checkText(text, `<${stack[stack.length - 1]!.name}>`);
      stack[stack.length - 1]!.text += unescape(text);
    }
    if (lt === -1) break;
    i = lt + 1;
    if (src[i] === "/") {
      i++;
      const n = name();
      skipSpace();
      if (src[i] !== ">") throw new Error(`bad closing tag </${n}`);
      i++;
      const open = stack.pop();
      if (!open || open.name !== n) throw new Error(`</${n}> closes <${open?.name}>`);
      continue;
    }
    if (src[i] === "!" || src[i] === "?") throw new Error("comments, declarations and processing instructions are not expected");
    const el: XmlElement = { name: name(), attrs: new Map(), children: [], text: "" };
    for (;;) {
      const before = i;
      skipSpace();
      if (src[i] === "/" && src[i + 1] === ">") {
        i += 2;
        break;
      }
      if (src[i] === ">") {
        i++;
        stack.push(el);
        break;
      }
      if (i === before) throw new Error(`<${el.name}>: attributes must be separated by space`);
      const a = name();
      if (src[i] !== "=" || src[i + 1] !== '"') throw new Error(`<${el.name} ${a}>: attribute value must be ="…"`);
      const end = src.indexOf('"', i + 2);
      if (end === -1) throw new Error(`<${el.name} ${a}>: unterminated value`);
      const value = src.slice(i + 2, end);
      checkText(value, `<${el.name} ${a}>`);
      if (el.attrs.has(a)) throw new Error(`<${el.name}>: attribute ${a} twice`);
      el.attrs.set(a, unescape(value));
      i = end + 1;
    }
    const parent = stack[stack.length - (stack[stack.length - 1] === el ? 2 : 1)];
    if (parent) parent.children.push(el);
    else if (root) throw new Error("two root elements");
    else root = el;
  }
  if (stack.length > 0) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (!root) throw new Error("no root element");
  return root;
}

function all(el: XmlElement): XmlElement[] {
  return [el, ...el.children.flatMap(all)];
}

/** Parses, checks the SVG root, and that no attribute holds NaN, Infinity or undefined. */
function checkSvg(svg: string): XmlElement[] {
  const root = parseXml(svg);
  expect(root.name).toBe("svg");
  expect(root.attrs.get("xmlns")).toBe("http://www.w3.org/2000/svg");
  expect(root.attrs.get("viewBox")).toMatch(/^0 0 \d+ \d+$/);
  const elements = all(root);
  for (const e of elements) {
    for (const [a, v] of e.attrs) {
      if (/NaN|Infinity|undefined|null/.test(v)) throw new Error(`<${e.name} ${a}="${v}">`);
      if (["x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "width", "height"].includes(a)) expect(Number.isFinite(Number(v)), `${e.name} ${a}=${v}`).toBe(true);
    }
  }
  return elements;
}

const byClass = (els: XmlElement[], name: string, cls: string) => els.filter((e) => e.name === name && e.attrs.get("class") === cls);

/** A path's subpaths as point lists (absolute M, L, H, V, Z; a relative "l0 0" adds nothing), and whether each ends with Z. */
function subpaths(d: string): { points: [number, number][]; closed: boolean }[] {
  const out: { points: [number, number][]; closed: boolean }[] = [];
  let cur: { points: [number, number][]; closed: boolean } | undefined;
  for (const m of d.matchAll(/([MLHVZl])([^MLHVZl]*)/g)) {
    const nums = m[2]!.trim() === "" ? [] : m[2]!.trim().split(/\s+/).map(Number);
    expect(nums.every(Number.isFinite), d).toBe(true);
    const last = cur?.points[cur.points.length - 1];
    switch (m[1]) {
      case "M":
        cur = { points: [[nums[0]!, nums[1]!]], closed: false };
        out.push(cur);
        break;
      case "L":
        cur!.points.push([nums[0]!, nums[1]!]);
        break;
      case "H":
        cur!.points.push([nums[0]!, last![1]]);
        break;
      case "V":
        cur!.points.push([last![0], nums[0]!]);
        break;
      case "l":
        expect(nums).toEqual([0, 0]);
        break;
      case "Z":
        cur!.closed = true;
        break;
    }
  }
  return out;
}

function insidePolygon([x, y]: [number, number], poly: [number, number][]): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i]!;
    const [xj, yj] = poly[j]!;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function area(poly: [number, number][]): number {
  let a = 0;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) a += poly[j]![0] * poly[i]![1] - poly[i]![0] * poly[j]![1];
  return Math.abs(a) / 2;
}

const linspace = (a: number, b: number, n: number) => Array.from({ length: n }, (_, i) => a + ((b - a) * i) / (n - 1));

describe("the XML checker", () => {
  it("rejects what it should", () => {
    expect(() => parseXml("<a><b></a></b>")).toThrow();
    expect(() => parseXml("<a x='1'/>")).toThrow();
    expect(() => parseXml("<a>x & y</a>")).toThrow();
    expect(() => parseXml("<a/><b/>")).toThrow();
    expect(() => parseXml("<a>")).toThrow();
    expect(() => parseXml('<a x="1" x="2"/>')).toThrow();
    expect(parseXml('<a x="&lt;1&gt;"><b/>t &amp; u</a>').text).toBe("t & u");
  });
});

describe("lineChartSvg", () => {
  const xs = linspace(-1, 1, 21);

  it("draws one path per series, a legend entry each, and axes with ticks", () => {
    const series = [
      { name: "filter, θ", x: xs, y: xs.map((x) => x * x) },
      { name: "filter, twin", x: xs, y: xs.map((x) => x * x + 0.1) },
      { name: "none, twin", x: xs, y: xs.map((x) => 3 * x * x) },
    ];
    const els = checkSvg(lineChartSvg({ title: "1-D slice", xLabel: "α", yLabel: "loss", series }));
    expect(els.filter((e) => e.name === "path")).toHaveLength(3);
    expect(byClass(els, "path", "series").map((e) => e.attrs.get("data-series"))).toEqual(["0", "1", "2"]);
    const legend = els.find((e) => e.attrs.get("class") === "legend")!;
    expect(legend.children.filter((c) => c.name === "text").map((c) => c.text)).toEqual(series.map((s) => s.name));
    const axes = els.find((e) => e.attrs.get("class") === "axes")!;
    const labels = axes.children.filter((c) => c.name === "text").map((c) => c.text);
    expect(labels).toContain("0");
    expect(labels).toContain("-1.0");
    expect(labels).toContain("1.0");
    expect(labels.length).toBeGreaterThanOrEqual(6);
    expect(els.find((e) => e.attrs.get("class") === "x-label")!.text).toBe("α");
  });

  it("skips non-finite points (a gap), and series with none", () => {
    const y = xs.map((x) => x * x);
    y[5] = Number.NaN;
    y[12] = Infinity;
    const svg = lineChartSvg({
      title: "gaps",
      xLabel: "x",
      yLabel: "y",
      series: [
        { name: "gappy", x: xs, y },
        { name: "empty", x: [1, 2], y: [Number.NaN, Number.NaN] },
        { name: "lone", x: [0], y: [0.5] },
      ],
    });
    const els = checkSvg(svg);
    const paths = byClass(els, "path", "series");
    expect(paths).toHaveLength(2);
    expect(subpaths(paths[0]!.attrs.get("d")!)).toHaveLength(3);
    expect(subpaths(paths[0]!.attrs.get("d")!).map((p) => p.points.length)).toEqual([5, 6, 8]);
    expect(paths[1]!.attrs.get("d")).toMatch(/^M[-\d.]+ [-\d.]+l0 0$/);
    expect(els.find((e) => e.attrs.get("class") === "legend")!.children.filter((c) => c.name === "text")).toHaveLength(3);
  });

  it("escapes titles, labels and series names", () => {
    const svg = lineChartSvg({ title: `loss <α> & "β" 'γ'\u0001`, xLabel: "a<b", yLabel: "c&d", series: [{ name: "</text><script>", x: [0, 1], y: [0, 1] }] });
    const els = checkSvg(svg);
    expect(svg).toContain("loss &lt;α&gt; &amp; &quot;β&quot; &apos;γ&apos;");
    expect(svg).not.toContain("<script>");
    expect(svg).not.toContain("\u0001");
    expect(els.find((e) => e.name === "title")!.text).toBe(`loss <α> & "β" 'γ'`);
    expect(els.find((e) => e.attrs.get("class") === "y-label")!.text).toBe("c&d");
  });

  it("copes with a constant curve, no series, and rejects mismatched lengths", () => {
    checkSvg(lineChartSvg({ title: "flat", xLabel: "x", yLabel: "y", series: [{ name: "c", x: [0, 1, 2], y: [3, 3, 3] }] }));
    checkSvg(lineChartSvg({ title: "single x", xLabel: "x", yLabel: "y", series: [{ name: "c", x: [0, 0], y: [0, 0] }] }));
    const empty = checkSvg(lineChartSvg({ title: "none", xLabel: "x", yLabel: "y", series: [] }));
    expect(empty.filter((e) => e.name === "path")).toHaveLength(0);
    expect(() => lineChartSvg({ title: "t", xLabel: "x", yLabel: "y", series: [{ name: "bad", x: [0, 1], y: [0] }] })).toThrow(/bad/);
  });
});

describe("contourSvg", () => {
  const axis = linspace(-1, 1, 41);
  const bowl = axis.map((y) => axis.map((x) => x * x + y * y));

  it("a quadratic bowl's contours are nested closed rings around (0, 0)", () => {
    const svg = contourSvg({ title: "bowl", xLabel: "α", yLabel: "β", xs: axis, ys: axis, values: bowl, levels: 9 });
    const els = checkSvg(svg);
    const paths = byClass(els, "path", "contour");
    expect(paths).toHaveLength(9);
    expect(byClass(els, "path", "band")).toHaveLength(10);
    expect(els.filter((e) => e.name === "path")).toHaveLength(19);
    const levels = paths.map((p) => Number(p.attrs.get("data-level")));
    levels.forEach((l, k) => expect(l).toBeCloseTo((2 * (k + 1)) / 10, 12));

    // (0, 0) is marked; its pixel position is the origin of the rings.
    const origin = els.find((e) => e.attrs.get("class") === "origin")!.children.find((c) => c.name === "circle")!;
    const o: [number, number] = [Number(origin.attrs.get("cx")), Number(origin.attrs.get("cy"))];

    // Levels below 1 lie inside the square: each is one closed ring around (0, 0),
    // close to a circle, and each ring lies inside the next.
    const rings = paths
      .filter((_, k) => levels[k]! < 0.99)
      .map((p) => {
        const sp = subpaths(p.attrs.get("d")!);
        expect(sp).toHaveLength(1);
        expect(sp[0]!.closed).toBe(true);
        expect(insidePolygon(o, sp[0]!.points)).toBe(true);
        return sp[0]!.points;
      });
    expect(rings).toHaveLength(4);
    // Close to the circle x² + y² = level, an ellipse on screen (the axes' pixel scales differ).
    for (const [k, ring] of rings.entries()) {
      const ax = Math.max(...ring.map(([x]) => Math.abs(x - o[0])));
      const ay = Math.max(...ring.map(([, y]) => Math.abs(y - o[1])));
      for (const [x, y] of ring) expect(Math.hypot((x - o[0]) / ax, (y - o[1]) / ay), `ring ${k}`).toBeGreaterThan(0.97);
    }
    const semiAxes = rings.map((ring) => Math.max(...ring.map(([x]) => Math.abs(x - o[0]))));
    for (const [k, a] of semiAxes.entries()) expect(a / semiAxes[0]!).toBeCloseTo(Math.sqrt(levels[k]! / levels[0]!), 1);
    for (let k = 0; k + 1 < rings.length; k++) {
      expect(area(rings[k + 1]!)).toBeGreaterThan(area(rings[k]!));
      for (const p of rings[k]!) expect(insidePolygon(p, rings[k + 1]!)).toBe(true);
    }
    // Levels above 1 are cut by the square's border: open arcs.
    const outer = paths.filter((_, k) => levels[k]! > 1.01).flatMap((p) => subpaths(p.attrs.get("d")!));
    expect(outer.length).toBeGreaterThan(0);
    expect(outer.every((s) => !s.closed)).toBe(true);
  });

  it("draws one line per level on a ramp, fills every cell, and a colour bar", () => {
    const xs = linspace(1, 2, 11);
    const ys = linspace(-2, 2, 5);
    const values = ys.map(() => xs.map((x) => x));
    const els = checkSvg(contourSvg({ title: "ramp", xLabel: "x", yLabel: "y", xs, ys, values, levels: 4 }));
    const paths = byClass(els, "path", "contour");
    expect(paths).toHaveLength(4);
    for (const p of paths) {
      const sp = subpaths(p.attrs.get("d")!);
      expect(sp).toHaveLength(1);
      expect(sp[0]!.closed).toBe(false);
      expect(sp[0]!.points).toHaveLength(5);
      expect(new Set(sp[0]!.points.map(([x]) => x.toFixed(2))).size).toBe(1); // a vertical line
    }
    // The bands tile the plot area: their pieces' areas add up to it.
    const bands = byClass(els, "path", "band");
    expect(bands).toHaveLength(5);
    const frame = els.find((e) => e.name === "rect" && e.attrs.get("fill") === "none" && e.attrs.get("stroke") === "#000000")!;
    const plotArea = Number(frame.attrs.get("width")) * Number(frame.attrs.get("height"));
    const pieces = bands.flatMap((b) => subpaths(b.attrs.get("d")!));
    expect(pieces.every((p) => p.closed)).toBe(true);
    expect(pieces.reduce((sum, p) => sum + area(p.points), 0) / plotArea).toBeCloseTo(1, 3);
    const bar = els.find((e) => e.attrs.get("class") === "colour-bar")!;
    expect(bar.children.filter((c) => c.name === "rect")).toHaveLength(5 + 1);
    // No (0, 0) mark when 0 is outside the x range.
    expect(els.some((e) => e.attrs.get("class") === "origin")).toBe(false);
  });

  it("skips non-finite values and stays well-formed", () => {
    const values = bowl.map((row) => [...row]);
    values[20]![20] = Number.NaN;
    values[3]![7] = Infinity;
    values[0]![0] = -Infinity;
    const els = checkSvg(contourSvg({ title: "holes", xLabel: "x", yLabel: "y", xs: axis, ys: axis, values, levels: 5 }));
    expect(byClass(els, "path", "contour").length).toBeGreaterThan(0);
    const allNaN = axis.map(() => axis.map(() => Number.NaN));
    const empty = checkSvg(contourSvg({ title: "nothing", xLabel: "x", yLabel: "y", xs: axis, ys: axis, values: allNaN }));
    expect(empty.filter((e) => e.name === "path")).toHaveLength(0);
    expect(empty.some((e) => e.name === "text" && e.text === "no finite values")).toBe(true);
    const flat = checkSvg(contourSvg({ title: "flat", xLabel: "x", yLabel: "y", xs: [0, 1], ys: [0, 1], values: [[2, 2], [2, 2]] }));
    expect(byClass(flat, "path", "contour")).toHaveLength(0);
    expect(byClass(flat, "path", "band")).toHaveLength(1);
  });

  it("escapes the title and rejects malformed grids", () => {
    const svg = contourSvg({ title: "a < b & c", xLabel: "x", yLabel: "y", xs: [0, 1], ys: [0, 1], values: [[0, 1], [1, 2]] });
    checkSvg(svg);
    expect(svg).toContain("a &lt; b &amp; c");
    expect(() => contourSvg({ title: "t", xLabel: "x", yLabel: "y", xs: [0, 1], ys: [0, 1], values: [[0, 1]] })).toThrow(/rows/);
    expect(() => contourSvg({ title: "t", xLabel: "x", yLabel: "y", xs: [0, 0], ys: [0, 1], values: [[0, 1], [1, 2]] })).toThrow(/xs/);
    expect(() => contourSvg({ title: "t", xLabel: "x", yLabel: "y", xs: [0, 1], ys: [0, 1], values: [[0, 1], [1, 2]], levels: 0 })).toThrow(/levels/);
  });
});

describe("isolines", () => {
  it("resolves a saddle by the centre value", () => {
    // Corners (r,c): a(0,0)=1, b(0,1)=0, c(1,1)=1, d(1,0)=0 — a saddle.
    const high = isolines([[1, 0], [0, 1]], 0.4); // centre 0.5 ≥ 0.4: a and c joined, b and d cut off
    expect(high).toHaveLength(2);
    const low = isolines([[1, 0], [0, 1]], 0.6); // centre 0.5 < 0.6: a and c cut off
    expect(low).toHaveLength(2);
    const corner = (lines: { points: [number, number][] }[], c: number, r: number) =>
      lines.some((l) => l.points.every(([x, y]) => Math.abs(x - c) + Math.abs(y - r) <= 1 + 1e-12));
    expect(corner(high, 1, 0) && corner(high, 0, 1)).toBe(true);
    expect(corner(low, 0, 0) && corner(low, 1, 1)).toBe(true);
  });

  it("closes a ring around a single peak", () => {
    const lines = isolines(
      [
        [0, 0, 0],
        [0, 1, 0],
        [0, 0, 0],
      ],
      0.5,
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]!.closed).toBe(true);
    expect(lines[0]!.points).toHaveLength(4);
  });
});
