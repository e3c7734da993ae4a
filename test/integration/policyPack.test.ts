import { ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import { credentials } from "@grpc/grpc-js";
import { AnalyzerClient } from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import {
  AnalyzeDiagnostic,
  AnalyzerPropertyDependencies,
  AnalyzerResource,
  AnalyzerResourceOptions,
  AnalyzeResponse,
  AnalyzeStackRequest,
  AnalyzerInfo,
} from "@pulumi/pulumi/proto/analyzer_pb";
import { Empty } from "google-protobuf/google/protobuf/empty_pb";
import { Struct } from "google-protobuf/google/protobuf/struct_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Registration, runMockProgram, stackConfig } from "../unit/support/mockProgram";

/**
 * The engine cannot run a policy pack here (no Node.js language host), so this test plays its part:
 * it starts policy/ with the same runner the language host uses (@pulumi/pulumi's run-policy-pack,
 * which compiles the TypeScript with ts-node and type-checks it) and calls the analyzer over gRPC
 * with the resources of the mocked program, as the engine does at the end of a preview.
 */
const ROOT = path.resolve(__dirname, "../..");
const RUNNER = path.join(ROOT, "node_modules", "@pulumi", "pulumi", "cmd", "run-policy-pack");
const withAdmin = { dbPassword: "secret", dbAdminPassword: "secret", sshPrivateKey: "secret" } as const;

let pack: ChildProcess | undefined;
let client: AnalyzerClient;
let packStderr = "";

async function servePolicyPack(): Promise<number> {
  // The runner wants an engine address; the analyzer only calls it to log, which these policies don't.
  pack = spawn(process.execPath, [RUNNER, "127.0.0.1:1", "."], {
    cwd: path.join(ROOT, "policy"),
    stdio: ["ignore", "pipe", "pipe"],
  });
  pack.stderr?.on("data", (chunk: Buffer) => (packStderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    let stdout = "";
    pack?.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const port = /^(\d+)\s*$/m.exec(stdout)?.[1];
      if (port) resolve(Number(port));
    });
    pack?.on("exit", (code) =>
      reject(new Error(`the policy pack exited (${code}) before serving:\n${stdout}\n${packStderr}`)),
    );
  });
}

function call<Req, Res>(method: (req: Req, cb: (err: Error | null, res: Res) => void) => unknown, req: Req) {
  return new Promise<Res>((resolve, reject) =>
    method.call(client, req, (err, res) => (err ? reject(err) : resolve(res))),
  );
}

const urnOf = (r: Registration, i: number) =>
  `urn:pulumi:prod::glance-rolling-upgrade::${r.type}::${r.name}#${i}`;

/** The captured registrations as the engine sends them: one AnalyzerResource per resource, by URN. */
function analyzeStackRequest(registrations: Registration[], propertyDependencyOf = new Set<string>()) {
  const urns = new Map<string, string>();
  registrations.forEach((r, i) => urns.set(r.name, urnOf(r, i)));
  const request = new AnalyzeStackRequest();
  request.setResourcesList(
    registrations.map((r, i) => {
      const resource = new AnalyzerResource();
      resource.setUrn(urnOf(r, i));
      resource.setType(r.type);
      resource.setName(r.name);
      resource.setProperties(Struct.fromJavaScript({}));
      resource.setOptions(new AnalyzerResourceOptions());
      const deps = r.dependsOn.map((d) => urns.get(d) as string);
      if (propertyDependencyOf.has(r.name)) {
        const property = new AnalyzerPropertyDependencies();
        property.setUrnsList(deps);
        resource.getPropertydependenciesMap().set("request", property);
      } else {
        resource.setDependenciesList(deps);
      }
      return resource;
    }),
  );
  return request;
}

async function analyze(registrations: Registration[], propertyDependencyOf?: Set<string>) {
  const response = await call<AnalyzeStackRequest, AnalyzeResponse>(
    client.analyzeStack,
    analyzeStackRequest(registrations, propertyDependencyOf),
  );
  return response.getDiagnosticsList().map((d: AnalyzeDiagnostic) => ({
    policy: d.getPolicyname(),
    message: d.getMessage(),
    urn: d.getUrn(),
    mandatory: d.getEnforcementlevel() === 1,
  }));
}

describe("the policy pack, served as the engine would run it", () => {
  beforeAll(async () => {
    const port = await servePolicyPack();
    client = new AnalyzerClient(`127.0.0.1:${port}`, credentials.createInsecure());
  });
  afterAll(() => {
    client?.close();
    pack?.kill();
  });

  it("loads (compiled and type-checked by the runner) and declares the six runbook policies, mandatory", async () => {
    const info = await call<Empty, AnalyzerInfo>(client.getAnalyzerInfo, new Empty());
    expect(info.getName()).toBe("glance-rolling-upgrade");
    const policies = info.getPoliciesList().map((p) => [p.getName(), p.getEnforcementlevel()]);
    expect(policies).toEqual([
      ["contract-after-every-admission", 1],
      ["drain-after-previous-wave", 1],
      ["upgrade-after-stop-and-drain", 1],
      ["expand-with-new-node-code", 1],
      ["prestage-before-own-drain", 1],
      ["declared-order", 1],
    ]);
  });

  it("passes the program as it is, with edges as dependsOn or as property dependencies", async () => {
    const { registrations } = await runMockProgram(stackConfig(3), withAdmin);
    expect(await analyze(registrations)).toEqual([]);
    expect(await analyze(registrations, new Set(["fleet/verify", "db/contract", "node-2/drain"]))).toEqual(
      [],
    );
  });

  it("refuses a program whose contract does not wait for node-3/admit, against db/contract's URN", async () => {
    const { registrations } = await runMockProgram(stackConfig(3), withAdmin);
    // The versions are read once node-2 is back, before the last wave (node-3) is.
    const broken = registrations.map((r) =>
      r.name.endsWith("/version")
        ? { ...r, dependsOn: r.dependsOn.map((d) => (d === "node-3/admit" ? "node-2/admit" : d)) }
        : r,
    );
    const diagnostics = await analyze(broken);
    const contractIndex = registrations.findIndex((r) => r.name === "db/contract");
    expect(diagnostics).toEqual([
      {
        policy: "contract-after-every-admission",
        message: expect.stringContaining("db/contract does not depend on node-3/admit"),
        urn: urnOf(registrations[contractIndex], contractIndex),
        mandatory: true,
      },
    ]);
  });

  it("refuses a program whose node-3/drain does not wait for node-2/admit", async () => {
    const { registrations } = await runMockProgram(stackConfig(3), withAdmin);
    const broken = registrations.map((r) => (r.name === "node-3/drain" ? { ...r, dependsOn: [] } : r));
    const diagnostics = await analyze(broken);
    // node-3's chain was contract's only path to node-1 and node-2, so contract is refused as well.
    expect(diagnostics.map((d) => d.policy)).toEqual([
      "contract-after-every-admission",
      "contract-after-every-admission",
      "drain-after-previous-wave",
    ]);
    expect(diagnostics[0].message).toContain("db/contract does not depend on node-1/admit");
    expect(diagnostics[1].message).toContain("db/contract does not depend on node-2/admit");
    expect(diagnostics[2].message).toContain("node-3/drain depends on no node's admit");
    expect(diagnostics[2].urn).toContain("::node-3/drain#");
  });
});
