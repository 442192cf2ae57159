// A small warehouse for the analyst models and the report, every number of which is worked out by
// hand in tests/analytics.test.ts.
import { message, order } from './fixtures.js';
import { delivery } from './pipeline.js';
import type { Delivery } from './reference.js';

/** A city code that is markup: the report must show it as text. */
export const HOSTILE_CITY = '<script>alert("x")</script>&\'';

/** Eight conversations: BCN (answered after 60 s and 120 s, and one never answered), UNA (two never
 * answered), ONE (one, answered after 45 s), a hostile city code (answered after 30 s, across
 * midnight), and one without a city yet (answered after 300 s). */
export function handWorkedDeliveries(): Delivery[] {
  const at = (i: number) => new Date(Date.parse('2024-03-01T09:00:00Z') + i * 1000).toISOString();
  const events = [
    message(1, 'customer', '2024-02-01T10:00:00Z'), message(1, 'courier', '2024-02-01T10:01:00Z'), message(1, 'customer', '2024-02-01T10:02:00Z'), order(1, 'BCN'),
    message(2, 'customer', '2024-02-01T11:00:00Z'), message(2, 'courier', '2024-02-01T11:02:00Z'), order(2, 'BCN'),
    message(3, 'courier', '2024-02-02T09:00:00Z'), order(3, 'BCN'),
    message(4, 'courier', '2024-02-01T12:00:00Z'), message(4, 'courier', '2024-02-01T12:05:00Z'), order(4, 'UNA'),
    message(5, 'customer', '2024-02-02T12:00:00Z'), order(5, 'UNA'),
    message(6, 'courier', '2024-02-02T08:00:00Z'), message(6, 'customer', '2024-02-02T08:00:45Z'), order(6, 'ONE'),
    message(7, 'customer', '2024-02-01T23:59:50Z'), message(7, 'courier', '2024-02-02T00:00:20Z'), order(7, HOSTILE_CITY),
    message(8, 'courier', '2024-02-02T10:00:00Z'), message(8, 'customer', '2024-02-02T10:05:00Z'),
  ];
  return events.map((e, i) => delivery(e, at(i)));
}

