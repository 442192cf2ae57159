/** google.protobuf.Timestamp as the client libraries hand it over: seconds a number, a decimal string (REST) or a Long (gRPC). */
export interface ProtobufTimestamp {
  seconds?: number | string | { toString(): string } | null;
  nanos?: number | null;
}

/** The instant to the millisecond, as JSON output shows it; null when there is none. */
export function isoOfProtobufTimestamp(time: ProtobufTimestamp | null | undefined): string | null {
  if (!time) return null;
  return new Date(Number(String(time.seconds ?? 0)) * 1000 + Math.floor((time.nanos ?? 0) / 1e6)).toISOString();
}
