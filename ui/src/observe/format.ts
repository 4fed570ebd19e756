/** Number formats of the glance views (no DOM, no JupyterLab: jest tests them in node). */

/** MiB as "512 MB" / "1.5 GB"; "–" when unknown. */
export function mb(value: number | null | undefined): string {
  if (value === null || value === undefined) {
    return '–';
  }
  return value >= 1024
    ? `${(value / 1024).toFixed(1)} GB`
    : `${Math.round(value)} MB`;
}

/** US dollars, with more digits for fractions of a cent. */
export function usd(value: number): string {
  return value < 0.01 && value > 0
    ? `$${value.toFixed(4)}`
    : `$${value.toFixed(2)}`;
}
