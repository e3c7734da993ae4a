/**
 * The lab ALB as a process of its own, so it outlives `lab up` (as HAProxy does):
 *   node dist/lab/services/albMain.js '<StartLabAlbOptions as JSON>' <ready file>
 * Writes `{endpoint, motoEndpoint, logPath}` to the ready file once it answers; SIGTERM stops it
 * (moto with it).
 */
import * as fs from "node:fs";
import { startLabAlb, StartLabAlbOptions } from "./alb";

async function main(): Promise<void> {
  const [optionsJson, readyFile] = process.argv.slice(2);
  if (!optionsJson || !readyFile) throw new Error("usage: albMain.js '<options JSON>' <ready file>");
  const alb = await startLabAlb(JSON.parse(optionsJson) as StartLabAlbOptions);
  const stop = (): void => {
    void alb.stop().then(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  const ready = { endpoint: alb.endpoint, motoEndpoint: alb.motoEndpoint, logPath: alb.logPath };
  fs.writeFileSync(`${readyFile}.tmp`, JSON.stringify(ready));
  fs.renameSync(`${readyFile}.tmp`, readyFile);
}

main().catch((error: unknown) => {
  process.stderr.write(`lab ALB: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
