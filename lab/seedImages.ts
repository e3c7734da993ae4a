/** The large images uploaded through HAProxy at lab up, for the load client to download and verify. */
import { createHash, randomBytes } from "node:crypto";
import * as http from "node:http";
import { type LabState, writeLabState } from "./state";

const SEED_IMAGE_COUNT = 2;
const SEED_IMAGE_BYTES = 8 * 1024 * 1024;

/** Creates an image and uploads `bytes` as its data through `frontendUrl`; resolves with its id. */
export function uploadImage(frontendUrl: string, name: string, bytes: Buffer): Promise<string> {
  const call = (method: string, urlPath: string, body: Buffer, contentType: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const req = http.request(
        new URL(urlPath, frontendUrl),
        {
          method,
          agent: false,
          headers: { "content-type": contentType, "content-length": body.length },
          timeout: 60_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            if ((res.statusCode ?? 0) >= 300)
              reject(new Error(`${method} ${urlPath}: HTTP ${res.statusCode} ${text.slice(0, 300)}`));
            else resolve(text);
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${urlPath}: no answer within 60 s`)));
      req.on("error", reject);
      req.end(body);
    });
  return call(
    "POST",
    "/v2/images",
    Buffer.from(JSON.stringify({ name, disk_format: "raw", container_format: "bare" })),
    "application/json",
  ).then(async (created) => {
    const id = (JSON.parse(created) as { id: string }).id;
    await call("PUT", `/v2/images/${id}/file`, bytes, "application/octet-stream");
    return id;
  });
}

/** Uploads the seed images the lab does not have yet, and records them in lab.json. */
export async function completeSeedImages(state: LabState, log: (line: string) => void): Promise<void> {
  if (state.seedImages.length < SEED_IMAGE_COUNT) {
    for (let i = state.seedImages.length; i < SEED_IMAGE_COUNT; i++) {
      const bytes = randomBytes(SEED_IMAGE_BYTES);
      const name = `seed-${i + 1}`;
      const id = await uploadImage(state.haproxy.frontendUrl, name, bytes);
      state.seedImages.push({
        id,
        name,
        sha256: createHash("sha256").update(bytes).digest("hex"),
        size: bytes.length,
      });
    }
    writeLabState(state);
    log(`seed images uploaded: ${state.seedImages.map((s) => `${s.name} ${s.id}`).join(", ")}`);
  }
}
