/**
 * What counts as "the same step", pinned (issue 31, item 2). A finished step runs again only when its
 * identity changes (steps/identity.ts), so a refactor that changed an identity, or the request a step
 * carries, between a checkpoint and its approval would re-run finished steps. These pins are written
 * out literally (no snapshot file that updates itself): such a change fails here, and whoever makes it
 * on purpose must say so by editing them. They were checked against the build before the kinds were
 * named after their ids: only db/verify's and fleet/verify's `kind` differ, and RENAMED_KINDS maps them.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import {
  canonicalJson,
  currentKindName,
  IdentifiedInputs,
  RENAMED_KINDS,
  sameStep,
} from "../../steps/identity";
import { parseStepId } from "../../plan/stepIds";
import { STEP_KINDS } from "../../plan/stepKinds";
import { Registration, runMockProgram } from "./support/mockProgram";
import { identityRecord, PIN_CONFIGS, pinnedRequest } from "./support/stepPins";

/** Per `config step`: its identity record and request (a step resource) or its triggers (a Command). */
const PINS: Record<
  string,
  { identity: string; request: string } | { triggers: string; replacementTrigger: string }
> = {
  "haproxy preflight": {
    identity:
      '{"identity":{"release":"2024.1","version":"28.2.0"},"kind":"preflight","node":null,"release":"2024.1","step":"preflight"}',
    request:
      '{"adminUser":"admin","db":{"database":"glance","host":"db.internal","port":3306,"ssl":false,"user":"glance"},"kind":"preflight","lb":{"backend":"glance_api","expected":["node-1","node-2","node-3"],"runtimeApis":["unix:/run/haproxy/admin.sock"],"type":"haproxy"},"nodes":[{"healthUrl":"http://10.0.1.10:9292/healthcheck","name":"node-1","version":{"script":"sha256:d321f371c273e02b","ssh":{"connectTimeoutSeconds":10,"host":"10.0.1.10","hostKeyPolicy":"strict","knownHostsFile":"$KNOWN_HOSTS","port":22,"user":"ubuntu"},"timeoutSeconds":1800,"transport":"ssh"}},{"healthUrl":"http://10.0.1.11:9292/healthcheck","name":"node-2","version":{"script":"sha256:f5bbaba96b8accc0","ssh":{"connectTimeoutSeconds":10,"host":"10.0.1.11","hostKeyPolicy":"strict","knownHostsFile":"$KNOWN_HOSTS","port":22,"user":"ubuntu"},"timeoutSeconds":1800,"transport":"ssh"}},{"healthUrl":"http://10.0.1.12:9292/healthcheck","name":"node-3","version":{"script":"sha256:b5308b37efc1aa3a","ssh":{"connectTimeoutSeconds":10,"host":"10.0.1.12","hostKeyPolicy":"strict","knownHostsFile":"$KNOWN_HOSTS","port":22,"user":"ubuntu"},"timeoutSeconds":1800,"transport":"ssh"}}],"rollout":{"drainTimeoutSeconds":300,"healthTimeoutSeconds":120},"target":{"release":"2024.1","version":"28.2.0"}}',
  },
  "haproxy db/backup": {
    identity:
      '{"identity":{"release":"2024.1"},"kind":"backup","node":null,"release":"2024.1","step":"db/backup"}',
    request:
      '{"db":{"database":"glance","host":"db.internal","port":3306,"ssl":false,"user":"glance"},"kind":"backup-mysqldump","path":"/var/backups/glance/glance-2024.1.sql"}',
  },
  "haproxy node-2/prestage": {
    identity:
      '{"identity":{"release":"2024.1","unit":{"address":"10.0.1.11","exec":"native","member":"node-2","node":"node-2","transport":"ssh"},"version":"28.2.0"},"kind":"prestage","node":"node-2","release":"2024.1","step":"node-2/prestage"}',
    request:
      '{"kind":"script","run":{"script":"sha256:86f63308cb29523c","ssh":{"connectTimeoutSeconds":10,"host":"10.0.1.11","hostKeyPolicy":"strict","knownHostsFile":"$KNOWN_HOSTS","port":22,"user":"ubuntu"},"timeoutSeconds":1800,"transport":"ssh"}}',
  },
  "haproxy node-1/upgrade-check": {
    identity:
      '{"identity":{"release":"2024.1","unit":{"address":"10.0.1.10","exec":"native","member":"node-1","node":"node-1","transport":"ssh"},"version":"28.2.0"},"kind":"upgrade-check","node":"node-1","release":"2024.1","step":"node-1/upgrade-check"}',
    request:
      '{"kind":"script","run":{"script":"sha256:ccf4d8a99c10d5d2","ssh":{"connectTimeoutSeconds":10,"host":"10.0.1.10","hostKeyPolicy":"strict","knownHostsFile":"$KNOWN_HOSTS","port":22,"user":"ubuntu"},"timeoutSeconds":1800,"transport":"ssh"}}',
  },
  "haproxy node-1/config-check": {
    identity:
      '{"identity":{"release":"2024.1","unit":{"address":"10.0.1.10","exec":"native","member":"node-1","node":"node-1","transport":"ssh"},"version":"28.2.0"},"kind":"config-check","node":"node-1","release":"2024.1","step":"node-1/config-check"}',
    request:
      '{"kind":"script","run":{"script":"sha256:3d562281a5ca7d85","ssh":{"connectTimeoutSeconds":10,"host":"10.0.1.10","hostKeyPolicy":"strict","knownHostsFile":"$KNOWN_HOSTS","port":22,"user":"ubuntu"},"timeoutSeconds":1800,"transport":"ssh"}}',
  },
  "haproxy db/allow-functions": {
    identity:
      '{"identity":{"release":"2024.1","version":"28.2.0"},"kind":"allow-functions","node":null,"release":"2024.1","step":"db/allow-functions"}',
    request:
      '{"adminUser":"admin","db":{"database":"glance","host":"db.internal","port":3306,"ssl":false,"user":"glance"},"kind":"allow-functions"}',
  },
  "haproxy db/expand": {
    identity:
      '{"identity":{"release":"2024.1","version":"28.2.0"},"kind":"expand","node":"node-1","release":"2024.1","step":"db/expand"}',
    request:
      '{"kind":"script","run":{"script":"sha256:5dfb75c05dede885","ssh":{"connectTimeoutSeconds":10,"host":"10.0.1.10","hostKeyPolicy":"strict","knownHostsFile":"$KNOWN_HOSTS","port":22,"user":"ubuntu"},"timeoutSeconds":1800,"transport":"ssh"}}',
  },
  "haproxy db/migrate": {
    identity:
      '{"identity":{"release":"2024.1","version":"28.2.0"},"kind":"migrate","node":"node-1","release":"2024.1","step":"db/migrate"}',
    request:
      '{"kind":"script","run":{"script":"sha256:afdd24ad8b5bdf4b","ssh":{"connectTimeoutSeconds":10,"host":"10.0.1.10","hostKeyPolicy":"strict","knownHostsFile":"$KNOWN_HOSTS","port":22,"user":"ubuntu"},"timeoutSeconds":1800,"transport":"ssh"}}',
  },
  "haproxy db/verify": {
    identity:
      '{"identity":{"release":"2024.1","version":"28.2.0"},"kind":"verify","node":"node-1","release":"2024.1","step":"db/verify"}',
    request:
      '{"kind":"script","run":{"script":"sha256:2f44ac77b9ae9468","ssh":{"connectTimeoutSeconds":10,"host":"10.0.1.10","hostKeyPolicy":"strict","knownHostsFile":"$KNOWN_HOSTS","port":22,"user":"ubuntu"},"timeoutSeconds":1800,"transport":"ssh"}}',
  },
  "haproxy node-2/drain": {
    identity:
      '{"identity":{"release":"2024.1","unit":{"address":"10.0.1.11","exec":"native","member":"node-2","node":"node-2","transport":"ssh"},"version":"28.2.0"},"kind":"drain","node":"node-2","release":"2024.1","step":"node-2/drain"}',
    request:
      '{"drainTimeoutSeconds":300,"imports":{"db":{"database":"glance","host":"db.internal","port":3306,"ssl":false,"user":"glance"},"onTimeout":"halt","selfUrl":"http://10.0.1.11:9292","timeoutSeconds":1800},"kind":"drain","lb":{"backend":"glance_api","runtimeApis":["unix:/run/haproxy/admin.sock"],"server":"node-2","type":"haproxy"},"minHealthy":1}',
  },
  "haproxy node-2/stop": {
    identity:
      '{"identity":{"release":"2024.1","unit":{"address":"10.0.1.11","exec":"native","member":"node-2","node":"node-2","transport":"ssh"},"version":"28.2.0"},"kind":"stop","node":"node-2","release":"2024.1","step":"node-2/stop"}',
    request:
      '{"kind":"script","run":{"script":"sha256:b69ef105cad4e8d3","ssh":{"connectTimeoutSeconds":10,"host":"10.0.1.11","hostKeyPolicy":"strict","knownHostsFile":"$KNOWN_HOSTS","port":22,"user":"ubuntu"},"timeoutSeconds":1800,"transport":"ssh"}}',
  },
  "haproxy node-2/upgrade": {
    identity:
      '{"identity":{"release":"2024.1","unit":{"address":"10.0.1.11","exec":"native","member":"node-2","node":"node-2","transport":"ssh"},"version":"28.2.0"},"kind":"upgrade","node":"node-2","release":"2024.1","step":"node-2/upgrade"}',
    request:
      '{"kind":"script","run":{"script":"sha256:4e020717dba58d02","ssh":{"connectTimeoutSeconds":10,"host":"10.0.1.11","hostKeyPolicy":"strict","knownHostsFile":"$KNOWN_HOSTS","port":22,"user":"ubuntu"},"timeoutSeconds":1800,"transport":"ssh"}}',
  },
  "haproxy node-2/start": {
    identity:
      '{"identity":{"release":"2024.1","unit":{"address":"10.0.1.11","exec":"native","member":"node-2","node":"node-2","transport":"ssh"},"version":"28.2.0"},"kind":"start","node":"node-2","release":"2024.1","step":"node-2/start"}',
    request:
      '{"healthGate":{"timeoutSeconds":120,"url":"http://10.0.1.11:9292/healthcheck"},"kind":"script","run":{"script":"sha256:77e90988188ef346","ssh":{"connectTimeoutSeconds":10,"host":"10.0.1.11","hostKeyPolicy":"strict","knownHostsFile":"$KNOWN_HOSTS","port":22,"user":"ubuntu"},"timeoutSeconds":1800,"transport":"ssh"}}',
  },
  "haproxy node-2/admit": {
    identity:
      '{"identity":{"release":"2024.1","unit":{"address":"10.0.1.11","exec":"native","member":"node-2","node":"node-2","transport":"ssh"},"version":"28.2.0"},"kind":"admit","node":"node-2","release":"2024.1","step":"node-2/admit"}',
    request:
      '{"healthTimeoutSeconds":120,"kind":"admit","lb":{"backend":"glance_api","runtimeApis":["unix:/run/haproxy/admin.sock"],"server":"node-2","type":"haproxy"}}',
  },
  "haproxy node-2/bake": {
    identity:
      '{"identity":{"release":"2024.1","unit":{"address":"10.0.1.11","exec":"native","member":"node-2","node":"node-2","transport":"ssh"},"version":"28.2.0"},"kind":"bake","node":"node-2","release":"2024.1","step":"node-2/bake"}',
    request:
      '{"errorBudget":0,"kind":"bake","lb":{"backend":"glance_api","runtimeApis":["unix:/run/haproxy/admin.sock"],"server":"node-2","type":"haproxy"},"windowSeconds":60}',
  },
  "haproxy node-2/version": {
    identity:
      '{"identity":{"release":"2024.1","unit":{"address":"10.0.1.11","exec":"native","member":"node-2","node":"node-2","transport":"ssh"},"version":"28.2.0"},"kind":"version","node":"node-2","release":"2024.1","step":"node-2/version"}',
    request:
      '{"kind":"script","run":{"script":"sha256:f5bbaba96b8accc0","ssh":{"connectTimeoutSeconds":10,"host":"10.0.1.11","hostKeyPolicy":"strict","knownHostsFile":"$KNOWN_HOSTS","port":22,"user":"ubuntu"},"timeoutSeconds":1800,"transport":"ssh"}}',
  },
  "haproxy fleet/verify": {
    identity:
      '{"identity":{"release":"2024.1","version":"28.2.0"},"kind":"verify","node":null,"release":"2024.1","step":"fleet/verify"}',
    request:
      '{"kind":"fleet-verify","lb":{"backend":"glance_api","expected":["node-1","node-2","node-3"],"runtimeApis":["unix:/run/haproxy/admin.sock"],"type":"haproxy"},"reported":{"node-1":"","node-2":"","node-3":""},"targetVersion":"28.2.0"}',
  },
  "haproxy db/contract": {
    identity:
      '{"identity":{"release":"2024.1","version":"28.2.0"},"kind":"contract","node":"node-1","release":"2024.1","step":"db/contract"}',
    request:
      '{"kind":"script","run":{"script":"sha256:8c575a494eff0898","ssh":{"connectTimeoutSeconds":10,"host":"10.0.1.10","hostKeyPolicy":"strict","knownHostsFile":"$KNOWN_HOSTS","port":22,"user":"ubuntu"},"timeoutSeconds":1800,"transport":"ssh"}}',
  },
  "haproxy db/restore-setting": {
    identity:
      '{"identity":{"release":"2024.1","version":"28.2.0"},"kind":"restore-setting","node":null,"release":"2024.1","step":"db/restore-setting"}',
    request:
      '{"adminUser":"admin","changed":false,"db":{"database":"glance","host":"db.internal","port":3306,"ssl":false,"user":"glance"},"kind":"restore-setting","previous":false}',
  },
  "provisioned node-new/upgrade": {
    identity:
      '{"identity":{"release":"2024.1","unit":{"address":"10.0.9.9","exec":"native","member":"node-new/provision-id","node":"node-new","transport":"ssh"},"version":"28.2.0"},"kind":"upgrade","node":"node-new","release":"2024.1","step":"node-new/upgrade"}',
    request:
      '{"kind":"script","run":{"script":"sha256:427e39e8353e5984","ssh":{"connectTimeoutSeconds":10,"host":"10.0.9.9","hostKeyPolicy":"accept-new","knownHostsFile":"$KNOWN_HOSTS","port":22,"user":"ubuntu"},"timeoutSeconds":1800,"transport":"ssh"}}',
  },
  "provisioned node-new/admit": {
    identity:
      '{"identity":{"release":"2024.1","unit":{"address":"10.0.9.9","exec":"native","member":"node-new/provision-id","node":"node-new","transport":"ssh"},"version":"28.2.0"},"kind":"admit","node":"node-new","release":"2024.1","step":"node-new/admit"}',
    request:
      '{"healthTimeoutSeconds":120,"kind":"admit","lb":{"port":9292,"targetGroupArn":"arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/glance/0123456789abcdef","targetId":"node-new/provision-id","type":"alb"}}',
  },
  "provisioned node-1/drain": {
    identity:
      '{"identity":{"release":"2024.1","unit":{"address":"10.0.1.10","exec":"native","member":"i-00000000000000100","node":"node-1","transport":"ssh"},"version":"28.2.0"},"kind":"drain","node":"node-1","release":"2024.1","step":"node-1/drain"}',
    request:
      '{"drainTimeoutSeconds":300,"idle":{"connections":{"script":"sha256:27e81dab74eb65dd","ssh":{"connectTimeoutSeconds":10,"host":"10.0.1.10","hostKeyPolicy":"accept-new","knownHostsFile":"$KNOWN_HOSTS","port":22,"user":"ubuntu"},"timeoutSeconds":1800,"transport":"ssh"},"propagationSeconds":5},"imports":{"db":{"database":"glance","host":"db.internal","port":3306,"ssl":false,"user":"glance"},"onTimeout":"halt","selfUrl":"http://10.0.1.10:9292","timeoutSeconds":1800},"kind":"drain","lb":{"port":9292,"targetGroupArn":"arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/glance/0123456789abcdef","targetId":"i-00000000000000100","type":"alb"},"minHealthy":1}',
  },
  "command db/verify": {
    triggers: '["2024.1","node-1","verify-migrations"]',
    replacementTrigger: '{"release":"2024.1","version":"28.2.0"}',
  },
  "command node-2/drain": {
    identity:
      '{"identity":{"release":"2024.1","unit":{"address":"10.0.1.11","exec":"command","member":"node-2","node":"node-2","transport":"ssh"},"version":"28.2.0"},"kind":"drain","node":"node-2","release":"2024.1","step":"node-2/drain"}',
    request:
      '{"drainTimeoutSeconds":300,"imports":{"db":{"database":"glance","host":"db.internal","port":3306,"ssl":false,"user":"glance"},"onTimeout":"halt","selfUrl":"http://10.0.1.11:9292","timeoutSeconds":1800},"kind":"drain","lb":{"backend":"glance_api","runtimeApis":["unix:/run/haproxy/admin.sock"],"server":"node-2","type":"haproxy"},"minHealthy":1}',
  },
  "command node-2/stop": {
    triggers: '["2024.1","node-2","stop"]',
    replacementTrigger:
      '{"release":"2024.1","unit":{"address":"10.0.1.11","exec":"command","member":"node-2","node":"node-2","transport":"ssh"},"version":"28.2.0"}',
  },
  "command node-2/start": {
    triggers: '["2024.1","node-2","start"]',
    replacementTrigger:
      '{"release":"2024.1","unit":{"address":"10.0.1.11","exec":"command","member":"node-2","node":"node-2","transport":"ssh"},"version":"28.2.0"}',
  },
  "command node-2/version": {
    triggers: '["2024.1","node-2","version"]',
    replacementTrigger:
      '{"release":"2024.1","unit":{"address":"10.0.1.11","exec":"command","member":"node-2","node":"node-2","transport":"ssh"},"version":"28.2.0"}',
  },
};

const registered = new Map<string, Registration[]>();

beforeAll(async () => {
  for (const [name, config] of Object.entries(PIN_CONFIGS)) {
    const { registrations } = await runMockProgram(config.stack, config.secrets);
    registered.set(name, registrations);
  }
});

function registration(config: string, step: string): Registration {
  const found = registered
    .get(config)
    ?.find(
      (r) =>
        r.name === step && (r.type === "pulumi-nodejs:dynamic:Resource" || r.type.startsWith("command:")),
    );
  if (!found) throw new Error(`${config} registers no ${step}`);
  return found;
}

const resolved = (input: pulumi.Input<string> | undefined): Promise<string | undefined> =>
  new Promise((resolve) => pulumi.output(input).apply(resolve));

describe("the pinned identity and request of every step kind", () => {
  it.each(Object.keys(PINS))("%s", async (key) => {
    const [config, step] = key.split(" ");
    const r = registration(config, step);
    const pin = PINS[key];
    if ("identity" in pin) {
      expect(r.type).toBe("pulumi-nodejs:dynamic:Resource");
      expect(identityRecord(r.inputs ?? {})).toBe(pin.identity);
      expect(pinnedRequest(r.inputs?.request)).toBe(pin.request);
    } else {
      expect(r.type).toBe("command:remote:Command");
      expect(JSON.stringify(r.inputs?.triggers)).toBe(pin.triggers);
      expect(await resolved((r.opts as pulumi.CustomResourceOptions).replacementTrigger)).toBe(
        pin.replacementTrigger,
      );
    }
  });

  it("(negative control) fail on an identity that gained a field; ignore a request's key order", () => {
    const inputs = registration("haproxy", "node-2/stop").inputs ?? {};
    const pin = PINS["haproxy node-2/stop"] as { identity: string; request: string };
    const identity = inputs.identity as Record<string, unknown>;
    expect(identityRecord({ ...inputs, identity: { ...identity, wave: 1 } })).not.toBe(pin.identity);
    expect(pinnedRequest(reversed(inputs.request))).toBe(pin.request);
    expect(pinnedRequest({ ...(inputs.request as object), timeoutSeconds: 1 })).not.toBe(pin.request);
  });

  it("cover every step kind but the NEW NODE's launch (an EC2 instance, launched once: ignoreChanges)", () => {
    const pinned = new Set(
      Object.keys(PINS).map((key) => {
        const parsed = parseStepId(key.split(" ")[1]);
        return parsed && `${parsed.scope}/${parsed.kind}`;
      }),
    );
    const declared = Object.entries(STEP_KINDS).flatMap(([scope, kinds]) =>
      Object.keys(kinds).map((kind) => `${scope}/${kind}`),
    );
    expect(declared.filter((kind) => !pinned.has(kind))).toEqual(["node/provision"]);
  });

  it("and each step's kind is the last segment of its id", () => {
    for (const registrations of registered.values())
      for (const r of registrations.filter((r) => r.type === "pulumi-nodejs:dynamic:Resource")) {
        const parsed = parseStepId(String(r.inputs?.step));
        expect(r.inputs?.kind, r.name).toBe(parsed?.kind);
      }
  });
});

/** The same value with every object's keys in reverse order. */
function reversed(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversed);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value)
      .reverse()
      .map(([k, v]) => [k, reversed(v)]),
  );
}

describe("sameStep: key order never counts, a changed value always does", () => {
  const identities = Object.values(PINS).flatMap((pin) =>
    "identity" in pin ? [JSON.parse(pin.identity) as IdentifiedInputs] : [],
  );

  it("reordered keys are the same step, in every pinned identity", () => {
    expect(identities.length).toBeGreaterThan(20);
    for (const inputs of identities) {
      const reorderedInputs = reversed(inputs) as IdentifiedInputs;
      expect(JSON.stringify(reorderedInputs)).not.toBe(JSON.stringify(inputs));
      expect(canonicalJson(reorderedInputs)).toBe(canonicalJson(inputs));
      expect(sameStep(reorderedInputs, inputs)).toBe(true);
    }
  });

  it("(negative control) one changed value in an identity is another step", () => {
    for (const inputs of identities) {
      const other = { ...inputs, identity: { ...inputs.identity!, release: "2025.1" } };
      expect(sameStep(other, inputs)).toBe(false);
      if (inputs.identity?.unit) {
        const moved = {
          ...inputs,
          identity: { ...inputs.identity, unit: { ...inputs.identity.unit, address: "10.9.9.9" } },
        };
        expect(sameStep(moved, inputs)).toBe(false);
      }
    }
  });
});

/** What the build before the kinds were named after their ids wrote for the renamed steps (checked). */
const WRITTEN_BEFORE_THE_RENAME: IdentifiedInputs[] = [
  JSON.parse(
    '{"identity":{"release":"2024.1","version":"28.2.0"},"kind":"verify-migrations","node":"node-1","release":"2024.1","step":"db/verify"}',
  ) as IdentifiedInputs,
  JSON.parse(
    '{"identity":{"release":"2024.1","version":"28.2.0"},"kind":"fleet-verify","node":null,"release":"2024.1","step":"fleet/verify"}',
  ) as IdentifiedInputs,
];

describe("renamed kinds: no finished step runs again", () => {
  const now = (step: string) =>
    JSON.parse((PINS[`haproxy ${step}`] as { identity: string }).identity) as IdentifiedInputs;

  it("a state of the build before (identities, old kind names) is the same step", () => {
    for (const old of WRITTEN_BEFORE_THE_RENAME) {
      const current = now(old.step ?? "");
      expect(old.kind).not.toBe(current.kind);
      expect(sameStep(old, current)).toBe(true);
    }
  });

  it("a state from before step identities (the legacy fixtures) is the same step, kind mapped", () => {
    const fixtures = path.join(__dirname, "..", "e2e", "fixtures", "legacy-state");
    let mapped = 0;
    for (const file of ["checkpoint.json", "failed.json"]) {
      const state = JSON.parse(fs.readFileSync(path.join(fixtures, file), "utf8")) as {
        deployment: { resources: Array<{ type: string; inputs: IdentifiedInputs }> };
      };
      const steps = state.deployment.resources.filter((r) => r.type === "pulumi-nodejs:dynamic:Resource");
      expect(steps.length).toBeGreaterThan(10);
      for (const { inputs: old } of steps) {
        expect(old.identity, old.step).toBeUndefined();
        const current = registration("haproxy", old.step ?? "").inputs as IdentifiedInputs;
        expect(sameStep(old, current), old.step).toBe(true);
        if (old.kind !== current.kind) mapped++;
      }
    }
    // db/verify in each fixture was written as verify-migrations.
    expect(mapped).toBe(2);
  });

  it("(negative control) without the mapping those steps would run again; no other kind is mapped", () => {
    const legacy = { step: "db/verify", kind: "verify-migrations", node: "node-1", release: "2024.1" };
    expect(sameStep(legacy, { ...legacy, kind: "verify" })).toBe(true);
    expect(sameStep({ ...legacy, kind: "expand" }, { ...legacy, kind: "verify" })).toBe(false);
    expect(
      sameStep(
        { ...legacy, step: "node-1/stop", kind: "verify-migrations" },
        { ...legacy, step: "node-1/stop", kind: "verify" },
      ),
    ).toBe(false);
    expect(currentKindName("db/verify", "fleet-verify")).toBe("fleet-verify");
    expect(Object.keys(RENAMED_KINDS)).toEqual(["db/verify", "fleet/verify"]);
  });
});
