import * as net from "node:net";

/**
 * A TCP port on 127.0.0.1 that was free a moment ago: the kernel picks it, we release it at once.
 * Another process could take it before the caller binds it; on a test machine that race is rare.
 */
export function findFreePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0, exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error("could not read the port the kernel picked"));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}
