// Plain-text tables for the terminal: columns as wide as their widest cell (in the first
// row's columns), two spaces apart, each cell left- or right-aligned, trailing blanks cut.

export function textTable(rows: readonly (readonly string[])[], alignLeft: (column: number, row: readonly string[]) => boolean = () => true): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? "").length)));
  return rows.map((r) => r.map((cell, c) => (alignLeft(c, r) ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join("  ").trimEnd()).join("\n");
}
