/**
 * The array at a glance (issue 14) at 10,000 elements: heatmap layout, pixels and clicks,
 * histogram bars and the request line, the glance model over the mocked routes, the element
 * facts a row shows, and a failed element's log opening on stderr.
 */
jest.mock('../api', () => require('./mockapi').mockApi());
jest.mock('../observe/api', () => ({
  getFailures: jest.fn(),
  getUsage: jest.fn(),
  getStatuses: jest.fn(),
  getElement: jest.fn()
}));

import * as api from '../api';
import { IElement } from '../api';
import { LogModel } from '../log';
import * as oapi from '../observe/api';
import { IHistogram, IUsage } from '../observe/api';
import {
  displayStatus,
  elementTitle,
  exitText,
  timeText
} from '../observe/element';
import {
  COLORS,
  cellStatus,
  displayStatuses,
  elementAt,
  layout,
  pixels
} from '../observe/heatmap';
import { costText } from '../observe/format';
import { bars, requestX } from '../observe/histogram';
import { ElementRecordModel } from '../observe/record';
import { ObserveModel } from '../observe/model';
import { resetApi, waitFor } from './mockapi';

const mocked = api as jest.Mocked<typeof api>;
const omocked = oapi as jest.Mocked<typeof oapi>;

/** 10,000 elements: every 7th FAILED, 9,998 cancelled, 42..49 running, the rest SUCCEEDED. */
function letters10k(): string {
  const out: string[] = [];
  for (let i = 0; i < 10000; i++) {
    out.push(i % 7 === 3 || i === 9998 ? 'F' : i >= 42 && i < 50 ? 'R' : 'S');
  }
  return out.join('');
}

function usage(): IUsage {
  const hist = (n: number): IHistogram => ({
    edges: Array.from({ length: 31 }, (_, i) => i * 10),
    counts: Array.from({ length: 30 }, (_, i) => (i === 3 ? n : 0))
  });
  return {
    elements: 10000,
    measured: 9992,
    running: 8,
    requested: { cpu: 2, memory_mb: 4000 },
    cpu_s: 100,
    wall_s: 200,
    elapsed_s: 300,
    vcpu_hours: { requested: 1, used: 0.5 },
    gb_hours: { requested: 2, used: 1 },
    cpu_efficiency: 0.5,
    peak_rss_mb: { p50: 100, p95: 120, max: 130 },
    runtime_s: { p50: 1, p95: 2, max: 3 },
    hint: { memory: 'fits', memory_mb: null, cpu: null },
    cost: {
      vcpu_hour: 0,
      gb_hour: 0,
      currency: 'USD',
      source: 'x',
      spent: 0,
      spent_failed: 0
    },
    histograms: {
      runtime_s: hist(9992),
      peak_rss_mb: { ...hist(9992), request: 4000 }
    }
  };
}

beforeEach(() => {
  resetApi(api);
  omocked.getFailures.mockReset();
  omocked.getUsage.mockReset();
  omocked.getStatuses.mockReset();
  omocked.getElement.mockReset();
});

describe('heatmap', () => {
  it('lays 10,000 elements out one per cell when the pixels allow', () => {
    const l = layout(10000, 300, 120);
    expect(l.perCell).toBe(1);
    expect(l.cells).toBe(10000);
    expect(l.cols * l.rows).toBeGreaterThanOrEqual(10000);
    expect(l.height).toBeLessThanOrEqual(120);
    expect(l.width).toBeLessThanOrEqual(300);
  });

  it('aggregates per pixel in a narrow sidebar and a failure is never hidden', () => {
    const l = layout(10000, 60, 40); // 2,400 pixels for 10,000 elements
    expect(l.perCell).toBe(5);
    const statuses = new Array(10000).fill('SUCCEEDED');
    statuses[9999] = 'FAILED';
    expect(cellStatus(statuses, 1999, l.perCell)).toBe('FAILED');
    expect(cellStatus(statuses, 0, l.perCell)).toBe('SUCCEEDED');
    const x = (1999 % l.cols) * l.cell;
    const y = Math.floor(1999 / l.cols) * l.cell;
    expect(elementAt(statuses, l, x, y)).toBe(9999); // the click opens the failed one
  });

  it('colours every one of 10,000 cells by its status, CANCELLED apart from FAILED', () => {
    const statuses = displayStatuses(letters10k(), [9998]);
    expect(statuses[9998]).toBe('CANCELLED');
    expect(statuses[3]).toBe('FAILED');
    expect(statuses[44]).toBe('RUNNING');
    const l = layout(10000, 300, 120);
    const data = pixels(statuses, l);
    const at = (i: number) => {
      const x = (i % l.cols) * l.cell;
      const y = Math.floor(i / l.cols) * l.cell;
      const p = (y * l.width + x) * 4;
      return [data[p], data[p + 1], data[p + 2]];
    };
    expect(at(3)).toEqual(COLORS.FAILED);
    expect(at(9998)).toEqual(COLORS.CANCELLED);
    expect(at(44)).toEqual(COLORS.RUNNING);
    expect(at(0)).toEqual(COLORS.SUCCEEDED);
    let painted = 0;
    for (let c = 0; c < l.cells; c++) {
      if (at(c).join() !== '0,0,0') {
        painted++;
      }
    }
    expect(painted).toBe(10000);
  });

  it('maps a click to the element under it, and nothing outside the cells', () => {
    const statuses = displayStatuses(letters10k(), []);
    const l = layout(10000, 300, 120);
    const i = 1234;
    const x = (i % l.cols) * l.cell + l.cell / 2;
    const y = Math.floor(i / l.cols) * l.cell + l.cell / 2;
    expect(elementAt(statuses, l, x, y)).toBe(1234);
    expect(elementAt(statuses, l, l.width + 5, 0)).toBeNull();
    expect(elementAt(statuses, l, 0, l.height + 5)).toBeNull();
  });
});

describe('cost', () => {
  it('counts the failed attempts of elements rerun since, and says how many earlier attempts count', () => {
    const u = usage();
    u.cost = { ...u.cost, spent: 1.2, spent_failed: 0.3 };
    u.earlier_attempts = {
      count: 1200,
      failed: 1200,
      elements: 1000,
      wall_s: 60
    };
    expect(costText(u)).toBe(
      'Cost $1.20 so far ($0.30 on failed attempts), with 1,200 earlier attempts of rerun or retried elements'
    );
    u.earlier_attempts = { count: 0, failed: 0, elements: 0, wall_s: 0 };
    u.cost = { ...u.cost, spent_failed: 0 };
    expect(costText(u)).toBe('Cost $1.20 so far');
  });
});

describe('histogram', () => {
  it('scales bars to the largest bin and draws the request where it falls', () => {
    const h: IHistogram = {
      edges: [0, 1000, 2000, 3000, 4000, 5000],
      counts: [9000, 1000, 0, 0, 0],
      request: 4000
    };
    const b = bars(h, 100, 50);
    expect(b.map(x => x.count)).toEqual([9000, 1000, 0, 0, 0]);
    expect(b[0].height).toBe(50);
    expect(b[1].height).toBeCloseTo(50 / 9);
    expect(b[2].height).toBe(0);
    expect(requestX(h, 100)).toBe(80);
    expect(requestX({ edges: [0, 1], counts: [1] }, 100)).toBeNull();
  });
});

describe('ObserveModel', () => {
  it('reads statuses, usage and the digest, then stops once the analysis finished', async () => {
    omocked.getStatuses.mockResolvedValue({
      size: 10000,
      letters: letters10k(),
      cancelled: [9998],
      legend: {}
    });
    omocked.getUsage.mockResolvedValue(usage());
    omocked.getFailures.mockResolvedValue({
      groups: [
        {
          reason: 'KeyError: <sample>',
          count: 1428,
          indices: [3],
          example: "KeyError: 'S3'",
          example_index: 3
        }
      ],
      failed: 1429,
      finished: true
    });
    const model = new ObserveModel('a1', { interval: 10 });
    await waitFor(() => model.finished);
    expect(model.display.length).toBe(10000);
    expect(model.display.filter(s => s === 'CANCELLED')).toEqual(['CANCELLED']);
    expect(model.failures?.groups[0].count).toBe(1428);
    expect(model.usage?.histograms.peak_rss_mb.request).toBe(4000);
    const calls = omocked.getStatuses.mock.calls.length;
    await new Promise(r => setTimeout(r, 60));
    expect(omocked.getStatuses.mock.calls.length).toBe(calls); // finished: no more polling
    model.dispose();
  });

  it('keeps the last pictures and says why when a refresh fails', async () => {
    omocked.getStatuses.mockRejectedValue(
      new api.APIError(502, 'AWS Batch failed')
    );
    omocked.getUsage.mockResolvedValue(usage());
    omocked.getFailures.mockResolvedValue({
      groups: [],
      failed: 0,
      finished: false
    });
    const model = new ObserveModel('a2', { interval: 10 });
    await waitFor(() => model.error !== null);
    expect(model.error).toContain('AWS Batch failed');
    model.dispose();
  });
});

describe('element facts', () => {
  const base: IElement = {
    index: 7,
    status: 'FAILED',
    reason:
      "FileNotFoundError: [Errno 2] No such file or directory: '/data/NA12878.cram'",
    started: 1000,
    stopped: 1090,
    ended: 1090,
    duration_s: 90,
    exit_code: 1,
    signal: null,
    input_label: 'NA12878',
    peak_rss_mb: 2048,
    cpu_s: 80,
    host: 'node-1',
    cancelled: false
  };

  it('shows duration, the full reason, memory and CANCELLED for a never-started element', () => {
    expect(timeText(base)).toBe('1 min 30 s');
    expect(timeText({ ...base, stopped: null, ended: null }, 1012)).toBe(
      'running 12.0 s'
    );
    expect(timeText({ ...base, started: null })).toBe('');
    const title = elementTitle(base);
    expect(title).toContain(base.reason);
    expect(title).toContain('NA12878');
    expect(title).toContain('peak 2.0 GB');
    expect(exitText({ ...base, signal: 'SIGKILL', exit_code: -9 })).toBe(
      'SIGKILL'
    );
    expect(displayStatus({ ...base, started: null, cancelled: true })).toBe(
      'CANCELLED'
    );
    expect(displayStatus(base)).toBe('FAILED');
  });
});

describe('a failed element log', () => {
  it('opens on stderr when stdout is empty', async () => {
    mocked.readLog.mockImplementation(async (_id, _i, stream) => ({
      data: stream === 'stderr' ? 'Traceback ...\nValueError: boom\n' : '',
      next_offset: stream === 'stderr' ? 30 : 0,
      finished: true
    }));
    omocked.getElement.mockResolvedValue({
      index: 0,
      status: 'FAILED',
      reason: 'ValueError: boom',
      started: 1,
      stopped: 2
    });
    const log = new LogModel({ id: 'a3', index: 0, interval: 10 });
    const record = new ElementRecordModel(log, { interval: 10 });
    await waitFor(
      () => log.stream === 'stderr' && log.text.includes('ValueError')
    );
    expect(record.element?.reason).toBe('ValueError: boom');
    record.dispose();
    log.dispose();
  });

  it('stays on stdout when stdout has text', async () => {
    mocked.readLog.mockImplementation(async (_id, _i, _s, offset) => ({
      data: offset === 0 ? 'hello\n' : '',
      next_offset: 6,
      finished: true
    }));
    omocked.getElement.mockResolvedValue({
      index: 0,
      status: 'FAILED',
      reason: 'x',
      started: 1,
      stopped: 2
    });
    const log = new LogModel({ id: 'a4', index: 0, interval: 10 });
    const record = new ElementRecordModel(log, { interval: 10 });
    await waitFor(() => record.element !== null && !log.following);
    await new Promise(r => setTimeout(r, 30));
    expect(log.stream).toBe('stdout');
    record.dispose();
    log.dispose();
  });
});
