import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { defaultLabLayout, labStackConfig, LOCAL_STACK_BAKE_SECONDS } from "../../lab/stack";
import { parseConfigEntries } from "../../plan/config";

const committed = parse(fs.readFileSync(path.join(__dirname, "..", "..", "Pulumi.local.yaml"), "utf8")) as {
  config: Record<string, unknown>;
  encryptionsalt?: string;
};

describe("the committed local stack (Pulumi.local.yaml)", () => {
  it("describes exactly the default lab, as lab/stack.ts renders it", () => {
    const plain = Object.fromEntries(
      Object.entries(committed.config)
        .filter(([key]) => !key.endsWith(":dbPassword") && !key.endsWith(":dbAdminPassword"))
        .map(([key, value]) => [key.replace("glance-rolling-upgrade:", ""), value]),
    );
    expect({ ...plain, targetVersion: String(plain.targetVersion) }).toEqual(
      labStackConfig(defaultLabLayout(), { transport: "local", bakeSeconds: LOCAL_STACK_BAKE_SECONDS }),
    );
  });

  it("holds its lab-only secrets encrypted, never in plaintext", () => {
    expect(committed.encryptionsalt).toMatch(/^v1:/);
    for (const key of ["dbPassword", "dbAdminPassword"]) {
      expect(committed.config[`glance-rolling-upgrade:${key}`]).toEqual({
        secure: expect.stringMatching(/^v1:/),
      });
    }
    const text = fs.readFileSync(path.join(__dirname, "..", "..", "Pulumi.local.yaml"), "utf8");
    expect(text).not.toContain("lab-only-password");
  });

  it("is a valid stack config", () => {
    const entries = Object.entries(committed.config).map(([key, value]) => ({
      key,
      value: typeof value === "string" ? value : JSON.stringify(value),
      secret: typeof value === "object" && value !== null && "secure" in value,
    }));
    const config = parseConfigEntries(entries);
    expect(config.exec).toBe("native");
    expect(config.nodes.map((n) => n.name)).toEqual(["node-1", "node-2", "node-3"]);
  });
});
