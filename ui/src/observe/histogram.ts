/**
 * A histogram drawn into a canvas: bars for the counts, and the request (memory_mb) as a
 * dashed vertical line. Bins are the server's (30, from 0), so the picture costs nothing to
 * compute here whatever the array size.
 */
import { IHistogram } from './api';

export interface IBar {
  x: number;
  width: number;
  height: number;
  count: number;
}

/** Bar rectangles (x from the left, height from the bottom) for a `width` x `height` plot. */
export function bars(h: IHistogram, width: number, height: number): IBar[] {
  const n = h.counts.length;
  const top = Math.max(1, ...h.counts);
  const w = width / Math.max(1, n);
  return h.counts.map((count, i) => ({
    x: i * w,
    width: Math.max(1, w - 1),
    height: count ? Math.max(1, (count / top) * height) : 0,
    count
  }));
}

/** Where the request line goes (x in pixels), or null when there is none. */
export function requestX(h: IHistogram, width: number): number | null {
  if (h.request === undefined || h.request === null) {
    return null;
  }
  const last = h.edges[h.edges.length - 1] || 1;
  return Math.min(width - 1, (h.request / last) * width);
}

export function drawHistogram(
  canvas: HTMLCanvasElement,
  h: IHistogram,
  width: number,
  height: number,
  color = '#1976d2'
): void {
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  if (!ctx) {
    return;
  }
  ctx.clearRect(0, 0, width, height);
  ctx.fillStyle = color;
  for (const b of bars(h, width, height)) {
    if (b.height) {
      ctx.fillRect(b.x, height - b.height, b.width, b.height);
    }
  }
  const x = requestX(h, width);
  if (x !== null) {
    ctx.strokeStyle = '#d32f2f';
    ctx.setLineDash([4, 3]);
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(x, 0);
    ctx.lineTo(x, height);
    ctx.stroke();
  }
}
