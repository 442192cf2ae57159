/** Numbers as people read them in text output; `--json` keeps the full values. */

/** A count with thousands separators: 90241 -> "90,241". */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: 0 });
}

/** A duration: under a second in whole milliseconds, else seconds to 2 decimals ("0.43 s" never shows 0.43200796800000024). */
export function formatSeconds(seconds: number): string {
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  return `${seconds.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })} s`;
}

/** A size in bytes, in decimal units as Cloud Storage and BigQuery bill them. */
export function formatBytes(bytes: number): string {
  if (bytes < 1e3) return `${bytes} B`;
  const [unit, size] = bytes < 1e6 ? ['kB', 1e3] : bytes < 1e9 ? ['MB', 1e6] : ['GB', 1e9];
  return `${(bytes / size).toFixed(1)} ${unit}`;
}

function formatNumber(key: string, n: number): string {
  if (/seconds$/i.test(key)) return formatSeconds(n);
  return Number.isInteger(n) ? formatCount(n) : n.toLocaleString('en-US', { maximumFractionDigits: 3 });
}

/**
 * Nested values as indented `key: value` lines (status). A number is rounded for reading: a key
 * ending in "seconds" is a duration, a whole number a count, any other number is
 * cut to 3 decimals.
 */
export function textTree(value: Record<string, unknown>, indent = ''): string {
  return Object.entries(value)
    .map(([key, v]) => {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) return `${indent}${key}:\n${textTree(v as Record<string, unknown>, `${indent}  `)}`;
      return `${indent}${key}: ${Array.isArray(v) ? v.join(', ') || '-' : typeof v === 'number' ? formatNumber(key, v) : String(v)}`;
    })
    .join('\n');
}
