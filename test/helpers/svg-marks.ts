// Reads Vega's SVG output back for tests: the items of each named mark (Vega writes every
// mark as <g class="mark-TYPE role-mark NAME"> holding one path, line or text per item).

export interface MarkGroup {
  type: string;
  name: string;
  /** The items' elements, as written. */
  items: string[];
}

export function markGroups(svg: string): MarkGroup[] {
  return [...svg.matchAll(/<g class="mark-([a-z]+) role-mark ([^"]*)"[^>]*>(.*?)<\/g>/g)].map((m) => ({
    type: m[1]!,
    name: m[2]!,
    items: m[3]!.match(/<(path|line|text)\b[^>]*>/g) ?? [],
  }));
}

/** The items of every group of the mark `name` (a line mark has one group per series). */
export function markItems(svg: string, name: string): string[] {
  return markGroups(svg)
    .filter((g) => g.name === name)
    .flatMap((g) => g.items);
}

/** Every number in a path's d attribute. */
export function pathNumbers(item: string): number[] {
  const d = /\sd="([^"]*)"/.exec(item)?.[1] ?? "";
  return (d.match(/-?\d*\.?\d+(?:e[-+]?\d+)?/gi) ?? []).map(Number);
}

/** The translate(x,y) of an item. */
export function translateOf(item: string): [number, number] | null {
  const m = /transform="translate\(([-\d.e]+),([-\d.e]+)\)/.exec(item);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

export function ariaLabel(item: string): string {
  return /aria-label="([^"]*)"/.exec(item)?.[1] ?? "";
}
