// The HTTP side of the recording REST fakes: a local server that parses each JSON request, hands it to
// the fake's router and writes the router's JSON answer.
import http from 'node:http';

export interface JsonRequest {
  method: string;
  /** The path, percent-decoded. */
  path: string;
  /** Query parameters, by name (the REST transports send nested fields as dotted names). */
  query: Record<string, string>;
  /** The parsed JSON body, or undefined when there is none. */
  body: unknown;
}

/** A status code and a body, sent as JSON. */
export type JsonReply = [number, unknown];

export interface JsonServer {
  /** http://127.0.0.1:PORT */
  url: string;
  stop(): void;
}

/** Starts a server on a free local port; `handle` sees every request once its body is read. */
export async function startJsonServer(handle: (request: JsonRequest) => JsonReply): Promise<JsonServer> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const raw = Buffer.concat(chunks).toString('utf8');
      const [status, payload] = handle({
        method: req.method ?? '', path: decodeURIComponent(url.pathname), query: Object.fromEntries(url.searchParams), body: raw ? JSON.parse(raw) : undefined,
      });
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(payload));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, stop: () => server.close() };
}
