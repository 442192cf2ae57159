/**
 * Couples a publisher to a consumer in the same process: the publisher may run at most `limit`
 * messages ahead of what the consumer has landed. The emulator keeps every message in memory and its
 * pulls slow down as the backlog grows, so a bounded backlog is both safer and faster end to end.
 */
export class BacklogGate {
  private landedCount = 0;
  private waiter: { until: number; resolve: () => void } | undefined;

  constructor(private readonly limit: number) {}

  /** Resolves when `published` messages are no more than `limit` ahead of the consumer. */
  admit(published: number): Promise<void> | undefined {
    if (published - this.landedCount <= this.limit) return undefined;
    return new Promise((resolve) => { this.waiter = { until: published - this.limit, resolve }; });
  }

  landed(total: number): void {
    this.landedCount = total;
    if (this.waiter && this.landedCount >= this.waiter.until) {
      this.waiter.resolve();
      this.waiter = undefined;
    }
  }

  /** Lets a waiting publisher go, e.g. when the consumer stopped. */
  release(): void {
    this.landedCount = Number.POSITIVE_INFINITY;
    this.waiter?.resolve();
    this.waiter = undefined;
  }
}
