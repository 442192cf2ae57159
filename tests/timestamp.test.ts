import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Timestamp } from '../orchestrator/warehouse/warehouse.js';

test('timestamps print as SPEC exports them, and convert to and from protobuf seconds and nanos', () => {
  const cases: [bigint, string, bigint, number][] = [
    [1706781632_000000n, '2024-02-01T10:00:32Z', 1706781632n, 0],
    [1706781632_120000n, '2024-02-01T10:00:32.12Z', 1706781632n, 120_000_000],
    [1706781632_000001n, '2024-02-01T10:00:32.000001Z', 1706781632n, 1_000],
    [-1n, '1969-12-31T23:59:59.999999Z', -1n, 999_999_000],
    [-1_500_000n, '1969-12-31T23:59:58.5Z', -2n, 500_000_000],
  ];
  for (const [micros, text, seconds, nanos] of cases) {
    const timestamp = new Timestamp(micros);
    assert.equal(timestamp.toRfc3339(), text);
    assert.deepEqual(timestamp.secondsAndNanos(), { seconds, nanos });
    assert.equal(Timestamp.fromSecondsAndNanos(seconds, nanos).micros, micros);
  }
  // Pub/Sub and ZetaSQL carry nanoseconds; the warehouses keep microseconds.
  assert.equal(Timestamp.fromSecondsAndNanos(1706781632n, 999_999_999).toRfc3339(), '2024-02-01T10:00:32.999999Z');
});
