import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatBytes, formatCount, formatSeconds, textTree } from '../orchestrator/output/numbers.js';
import { Progress } from '../orchestrator/output/progress.js';

/** A stream that records what is written, and a clock the test moves by hand: no timing involved. */
function setup(isTTY: boolean) {
  const written: string[] = [];
  let now = 1_000;
  return {
    written,
    tick: (ms: number) => { now += ms; },
    options: { stream: { isTTY, write: (text: string) => written.push(text) }, now: () => now },
  };
}

describe('progress', () => {
  test('not on a terminal: a plain line every few seconds, none before the first interval', () => {
    const { written, tick, options } = setup(false);
    const progress = new Progress('publishing', { ...options, totalBytes: 1000, logEveryMs: 5_000 });
    progress.update(10, 'records', 100);
    tick(4_999);
    progress.update(500, 'records', 200);
    assert.deepEqual(written, [], 'nothing before 5 s');
    tick(1);
    progress.update(12_000, 'records', 250);
    tick(1_000);
    progress.update(13_000, 'records', 300);
    tick(4_000);
    progress.update(30_000, 'records', 600);
    progress.done();
    assert.deepEqual(written, [
      'publishing: 12,000 records (2,400/s), 25% of the input after 5 s\n',
      'publishing: 30,000 records (3,000/s), 60% of the input after 10 s\n',
    ]);
  });

  test('on a terminal: one live line redrawn in place, cleared at the end', () => {
    const { written, tick, options } = setup(true);
    const progress = new Progress('landing', options);
    progress.update(1, 'rows');
    progress.update(2, 'rows');
    tick(200);
    progress.update(1_500, 'rows');
    progress.done();
    assert.deepEqual(written, [
      '\r\x1b[2Klanding 1 rows (0/s)',
      '\r\x1b[2Klanding 1,500 rows (7,500/s)',
      '\r\x1b[2K',
    ]);
  });
});

describe('numbers for people', () => {
  test('seconds, counts and sizes are rounded; status trees too', () => {
    assert.equal(formatSeconds(0.43200796800000024), '432 ms');
    assert.equal(formatSeconds(1.23456), '1.23 s');
    assert.equal(formatSeconds(1234.5), '1,234.50 s');
    assert.equal(formatCount(90241), '90,241');
    assert.equal(formatBytes(832_812), '832.8 kB');
    assert.equal(formatBytes(999), '999 B');
    assert.equal(textTree({ lastModelRun: { seconds: 0.43200796800000024, actions: 19, share: 0.123456, failed: [] }, rawRows: 1801 }),
      'lastModelRun:\n  seconds: 432 ms\n  actions: 19\n  share: 0.123\n  failed: -\nrawRows: 1,801');
  });
});
