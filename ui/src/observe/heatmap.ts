/**
 * The per-index status heatmap: one cell per element, drawn into a canvas as one ImageData
 * (so 10,000 cells cost one putImageData). When there are more elements than pixels, a cell
 * covers several elements and takes the colour of the most urgent status among them (FAILED
 * first), so a single failure is never hidden.
 */

/** Display statuses: the stored ones plus CANCELLED (FAILED before it started). */
export const COLORS: Record<string, [number, number, number]> = {
  SUCCEEDED: [56, 142, 60],
  FAILED: [211, 47, 47],
  CANCELLED: [149, 117, 205],
  RUNNING: [25, 118, 210],
  STARTING: [100, 181, 246],
  RUNNABLE: [189, 189, 189],
  PENDING: [224, 224, 224],
  SUBMITTED: [238, 238, 238]
};

/** Which status a cell of several elements shows: the first of these present. */
export const URGENCY = [
  'FAILED',
  'CANCELLED',
  'RUNNING',
  'STARTING',
  'RUNNABLE',
  'PENDING',
  'SUBMITTED',
  'SUCCEEDED'
];

const LETTERS: Record<string, string> = {
  M: 'SUBMITTED',
  P: 'PENDING',
  N: 'RUNNABLE',
  T: 'STARTING',
  R: 'RUNNING',
  S: 'SUCCEEDED',
  F: 'FAILED',
  C: 'CANCELLED'
};

/** One display status per element, from the statuses route's letters. */
export function displayStatuses(
  letters: string,
  cancelled: number[]
): string[] {
  const out = new Array<string>(letters.length);
  for (let i = 0; i < letters.length; i++) {
    out[i] = LETTERS[letters[i]] ?? 'RUNNABLE';
  }
  for (const i of cancelled) {
    if (i >= 0 && i < out.length && out[i] === 'FAILED') {
      out[i] = 'CANCELLED';
    }
  }
  return out;
}

export interface ILayout {
  /** elements per cell (1 unless there are more elements than pixels) */
  perCell: number;
  cells: number;
  /** a cell's side, in pixels */
  cell: number;
  cols: number;
  rows: number;
  width: number;
  height: number;
}

/** Cells as large as fit `width` x `maxHeight` pixels (at least one pixel each). */
export function layout(
  size: number,
  width: number,
  maxHeight: number
): ILayout {
  const w = Math.max(1, Math.floor(width));
  const h = Math.max(1, Math.floor(maxHeight));
  const perCell = Math.max(1, Math.ceil(size / (w * h)));
  const cells = Math.max(1, Math.ceil(size / perCell));
  let cell = Math.max(1, Math.floor(Math.sqrt((w * h) / cells)));
  let cols = Math.max(1, Math.floor(w / cell));
  while (cell > 1 && Math.ceil(cells / cols) * cell > h) {
    cell -= 1;
    cols = Math.max(1, Math.floor(w / cell));
  }
  cell = Math.min(cell, 24);
  cols = Math.min(cells, Math.max(1, Math.floor(w / cell)));
  const rows = Math.ceil(cells / cols);
  return {
    perCell,
    cells,
    cell,
    cols,
    rows,
    width: cols * cell,
    height: rows * cell
  };
}

/** The display status of cell `c`: the most urgent among its elements. */
export function cellStatus(
  statuses: string[],
  c: number,
  perCell: number
): string {
  if (perCell === 1) {
    return statuses[c];
  }
  let best = URGENCY.length;
  const end = Math.min(statuses.length, (c + 1) * perCell);
  for (let i = c * perCell; i < end; i++) {
    const u = URGENCY.indexOf(statuses[i]);
    if (u >= 0 && u < best) {
      best = u;
      if (best === 0) {
        break;
      }
    }
  }
  return URGENCY[Math.min(best, URGENCY.length - 1)];
}

/** The element a click at (x, y) opens: the cell's most urgent element, else its first. */
export function elementAt(
  statuses: string[],
  l: ILayout,
  x: number,
  y: number
): number | null {
  const col = Math.floor(x / l.cell);
  const row = Math.floor(y / l.cell);
  if (col < 0 || col >= l.cols || row < 0 || row >= l.rows) {
    return null;
  }
  const c = row * l.cols + col;
  if (c >= l.cells) {
    return null;
  }
  const start = c * l.perCell;
  const end = Math.min(statuses.length, start + l.perCell);
  const want = cellStatus(statuses, c, l.perCell);
  for (let i = start; i < end; i++) {
    if (statuses[i] === want) {
      return i;
    }
  }
  return start < statuses.length ? start : null;
}

/** RGBA pixels of the heatmap (what `draw` puts into the canvas). */
export function pixels(statuses: string[], l: ILayout): Uint8ClampedArray {
  const data = new Uint8ClampedArray(l.width * l.height * 4);
  for (let c = 0; c < l.cells; c++) {
    const rgb = COLORS[cellStatus(statuses, c, l.perCell)] ?? COLORS.RUNNABLE;
    const x0 = (c % l.cols) * l.cell;
    const y0 = Math.floor(c / l.cols) * l.cell;
    // a 1px gap between cells once they are large enough to show it
    const side = l.cell >= 4 ? l.cell - 1 : l.cell;
    for (let dy = 0; dy < side; dy++) {
      let p = ((y0 + dy) * l.width + x0) * 4;
      for (let dx = 0; dx < side; dx++) {
        data[p] = rgb[0];
        data[p + 1] = rgb[1];
        data[p + 2] = rgb[2];
        data[p + 3] = 255;
        p += 4;
      }
    }
  }
  return data;
}

/** Draw the heatmap into `canvas` (sized to the layout). */
export function draw(
  canvas: HTMLCanvasElement,
  statuses: string[],
  l: ILayout
): void {
  canvas.width = l.width;
  canvas.height = l.height;
  const ctx = canvas.getContext('2d');
  if (!ctx) {
    return;
  }
  const image = ctx.createImageData(l.width, l.height);
  image.data.set(pixels(statuses, l));
  ctx.putImageData(image, 0, 0);
}
