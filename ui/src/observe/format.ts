/** Number formats of the glance views (no DOM, no JupyterLab: jest tests them in node). */
import type { IUsage } from './api';

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

/**
 * "Cost $1.20 so far ($0.30 on failed attempts)": what every run cost, earlier attempts of
 * rerun or retried elements included (they were paid for), and how many such attempts count.
 */
export function costText(u: IUsage): string {
  let text = `Cost ${usd(u.cost.spent)} so far`;
  if (u.cost.spent_failed > 0) {
    text += ` (${usd(u.cost.spent_failed)} on failed attempts)`;
  }
  const earlier = u.earlier_attempts;
  if (earlier && earlier.count > 0) {
    const s = earlier.count === 1 ? '' : 's';
    text += `, with ${earlier.count.toLocaleString('en-US')} earlier attempt${s} of rerun or retried elements`;
  }
  return text;
}
