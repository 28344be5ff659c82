export const int = (n: number) => Math.round(n).toLocaleString('en-US');
export const dec = (n: number, digits: number) =>
  n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** `1.23 ms`, `12.3 ms`, `1.23 s`: three significant figures, the unit that reads best. */
export function ms(n: number): string {
  if (n >= 1000) return `${dec(n / 1000, 2)} s`;
  if (n >= 100) return `${dec(n, 0)} ms`;
  if (n >= 10) return `${dec(n, 1)} ms`;
  return `${dec(n, 2)} ms`;
}

export function bytes(n: number): string {
  if (n >= 1024 ** 3) return `${dec(n / 1024 ** 3, 2)} GiB`;
  if (n >= 1024 ** 2) return `${dec(n / 1024 ** 2, 2)} MiB`;
  if (n >= 1024) return `${dec(n / 1024, 1)} KiB`;
  return `${int(n)} B`;
}

/** Rows of cells as an aligned table, numbers right-aligned, indented by two spaces. */
export function columns(head: string[], rows: string[][]): string[] {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    `  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}`.trimEnd();
  return [line(head), ...rows.map(line)];
}
