/**
 * Couples a publisher to a consumer in the same process: the publisher may run at most `limit`
 * messages ahead of what the consumer has landed. The emulator keeps every message in memory and its
 * pulls slow down as the backlog grows, so a bounded backlog is both safer and faster end to end.
 *
 * With `recycleEvery`, the publisher also stops before each further `recycleEvery` records until the
 * consumer has recycled the subscription (see recycle.ts); `recycleDue` says when the publisher is
 * stopped there with nothing in flight, so the subscription holds no message the consumer has yet
 * to see coming.
 */
export class BacklogGate {
  private landedCount = 0;
  private admitted = 0;
  private inFlight = 0;
  private recycleAfter: number;
  private waiter: { record: number; resolve: () => void } | undefined;

  constructor(private readonly limit: number, private readonly recycleEvery = Number.POSITIVE_INFINITY) {
    this.recycleAfter = recycleEvery;
  }

  /** How many records the publisher has been let publish. */
  get admittedRecords(): number {
    return this.admitted;
  }

  /** Resolves when record number `record` (1-based) may be published. */
  admit(record: number): Promise<void> | undefined {
    if (this.mayPublish(record)) {
      this.admitted = record;
      return undefined;
    }
    return new Promise((resolve) => { this.waiter = { record, resolve }; });
  }

  /** Counts a publish until it settles, either way. */
  track(publishing: Promise<unknown>): void {
    this.inFlight++;
    const settled = () => { this.inFlight--; };
    publishing.then(settled, settled);
  }

  landed(total: number): void {
    this.landedCount = total;
    this.wake();
  }

  /** The publisher waits at a recycle point and every message it published has been accepted. */
  recycleDue(): boolean {
    return this.waiter !== undefined && this.waiter.record > this.recycleAfter && this.inFlight === 0;
  }

  /** The subscription was recycled: the publisher may publish `recycleEvery` more records before the next. */
  recycled(): void {
    this.recycleAfter = this.admitted + this.recycleEvery;
    this.wake();
  }

  /** Lets a waiting publisher go, e.g. when the consumer stopped. */
  release(): void {
    this.landedCount = Number.POSITIVE_INFINITY;
    this.recycleAfter = Number.POSITIVE_INFINITY;
    this.wake();
  }

  private mayPublish(record: number): boolean {
    return record <= this.recycleAfter && record - this.landedCount <= this.limit;
  }

  private wake(): void {
    if (this.waiter && this.mayPublish(this.waiter.record)) {
      this.admitted = this.waiter.record;
      this.waiter.resolve();
      this.waiter = undefined;
    }
  }
}
