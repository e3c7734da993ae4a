/**
 * A loopback HTTP server that serves image data slowly, for `web-download` imports: each import then
 * runs inside a node's glance-api for seconds, long enough for a drain to start while it runs.
 * `/image/<n>` is `bytes` of data that depends on n only, sent at `bytesPerSecond`;
 * `/image/<n>/rate/<r>` is the same data sent at r bytes per second.
 */
import { createHash } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";

export interface SlowSource {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  /**
   * The URL of the n-th image and the md5 Glance will record as its checksum; sent at the source's
   * rate, or at `bytesPerSecond` when given.
   */
  image(n: number, bytesPerSecond?: number): { url: string; md5: string };
  /** Requests served so far (for tests of the instrument). */
  served(): number;
  stop(): Promise<void>;
}

/** The n-th image's data: a repeated 64 KiB pattern derived from n. */
export function sourceData(n: number, bytes: number): Buffer {
  const block = Buffer.alloc(64 * 1024);
  for (let i = 0; i < block.length; i += 32) createHash("sha256").update(`${n}:${i}`).digest().copy(block, i);
  const data = Buffer.alloc(bytes);
  for (let offset = 0; offset < bytes; offset += block.length) block.copy(data, offset);
  return data;
}

export async function startSlowSource(opts: {
  bytes: number;
  bytesPerSecond: number;
  port?: number;
}): Promise<SlowSource> {
  const md5s = new Map<number, string>();
  const md5Of = (n: number): string => {
    let md5 = md5s.get(n);
    if (md5 === undefined) {
      md5 = createHash("md5").update(sourceData(n, opts.bytes)).digest("hex");
      md5s.set(n, md5);
    }
    return md5;
  };
  let served = 0;
  const chunkBytes = 64 * 1024;
  const server = http.createServer((req, res) => {
    const match = /^\/image\/(\d+)(?:\/rate\/(\d+))?$/.exec(req.url ?? "");
    if (req.method !== "GET" || match === null) {
      res.writeHead(404).end();
      return;
    }
    served++;
    const data = sourceData(Number(match[1]), opts.bytes);
    const rate = match[2] === undefined ? opts.bytesPerSecond : Math.max(1, Number(match[2]));
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": data.length });
    const started = Date.now();
    let sent = 0;
    const sendNext = (): void => {
      if (res.destroyed) return;
      if (sent >= data.length) {
        res.end();
        return;
      }
      const chunk = data.subarray(sent, sent + chunkBytes);
      sent += chunk.length;
      res.write(chunk);
      const dueAt = started + (sent / rate) * 1000;
      setTimeout(sendNext, Math.max(0, dueAt - Date.now()));
    };
    sendNext();
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    image: (n, bytesPerSecond) => ({
      url:
        bytesPerSecond === undefined
          ? `${url}/image/${n}`
          : `${url}/image/${n}/rate/${Math.round(bytesPerSecond)}`,
      md5: md5Of(n),
    }),
    served: () => served,
    stop: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
