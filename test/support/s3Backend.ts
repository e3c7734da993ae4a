/**
 * A shared Pulumi state backend for tests: moto server's S3 on a loopback port, one bucket, and a
 * TestStack whose state, lock and secrets provider setup all go through that backend.
 */
import { RunningMoto, startMoto } from "../../lab/services/moto";
import { TestStack } from "./driverFixture";
import { randomBytes } from "node:crypto";

/**
 * Dummy credentials (moto accepts any) and no response-checksum warning from the CLI's AWS SDK,
 * which moto's answers would otherwise trigger on every call.
 */
export const MOTO_AWS_ENV = {
  AWS_ACCESS_KEY_ID: "test",
  AWS_SECRET_ACCESS_KEY: "test",
  AWS_REGION: "us-east-1",
  AWS_RESPONSE_CHECKSUM_VALIDATION: "when_required",
} as const;

/** The backend URL form the pinned CLI (v3.274.1, gocloud on AWS SDK v2) accepts for an S3-compatible endpoint. */
export function s3BackendUrl(endpoint: string, bucket: string): string {
  return `s3://${bucket}?endpoint=${endpoint}&use_path_style=true&region=us-east-1`;
}

export interface S3StateBackend {
  /** `http://127.0.0.1:P` */
  endpoint: string;
  bucket: string;
  /** PULUMI_BACKEND_URL plus the AWS settings the CLI needs to reach it. */
  env: Record<string, string>;
  /** The bucket's object keys under `prefix` (one page of up to 1000, plenty for a test). */
  keys(prefix?: string): Promise<string[]>;
  /** One object's body as text. */
  read(key: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * moto reads the access key from the Authorization header but does not check the signature; without
 * one a request is anonymous, and moto refuses an anonymous GET of a private object (403).
 */
const MOTO_AUTHORIZATION =
  "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";

async function checkedFetch(url: string, init: RequestInit = {}): Promise<string> {
  const res = await fetch(url, {
    ...init,
    headers: { authorization: MOTO_AUTHORIZATION },
    signal: AbortSignal.timeout(10_000),
  });
  const body = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? "GET"} ${url}: HTTP ${res.status}: ${body.slice(0, 300)}`);
  return body;
}

/** Starts moto and creates the bucket with a path-style PUT. */
export async function startS3Backend(
  bucket = `gru-state-${randomBytes(3).toString("hex")}`,
): Promise<S3StateBackend> {
  const moto: RunningMoto = await startMoto();
  try {
    await checkedFetch(`${moto.endpoint}/${bucket}`, { method: "PUT" });
  } catch (error) {
    await moto.stop();
    throw error;
  }
  const bucketUrl = `${moto.endpoint}/${bucket}`;
  return {
    endpoint: moto.endpoint,
    bucket,
    env: { PULUMI_BACKEND_URL: s3BackendUrl(moto.endpoint, bucket), ...MOTO_AWS_ENV },
    keys: async (prefix = "") => {
      const xml = await checkedFetch(`${bucketUrl}?list-type=2&prefix=${encodeURIComponent(prefix)}`);
      return [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]);
    },
    read: (key) => checkedFetch(`${bucketUrl}/${key.split("/").map(encodeURIComponent).join("/")}`),
    stop: () => moto.stop(),
  };
}

/** Where the diy backend keeps a stack's state and locks inside the bucket. */
export function s3StackKeys(project: string, stack: string): { state: string; lockDir: string } {
  return {
    state: `.pulumi/stacks/${project}/${stack}.json`,
    lockDir: `.pulumi/locks/organization/${project}/${stack}/`,
  };
}

/**
 * A TestStack on the S3 backend: the base class's `env` names the file backend, so this one
 * overrides it, and sets the secrets only once that override is in place (the base constructor
 * would create the stack and its secrets on the file backend).
 */
export class S3TestStack extends TestStack {
  private readonly backendEnv: Record<string, string>;

  constructor(
    name: string,
    config: Record<string, unknown>,
    secrets: Record<string, string>,
    backend: Pick<S3StateBackend, "env">,
  ) {
    super(name, config);
    this.backendEnv = backend.env;
    if (Object.keys(secrets).length > 0) this.setSecrets(secrets);
  }

  override get env(): NodeJS.ProcessEnv {
    return { ...super.env, ...this.backendEnv };
  }
}

export function uniqueS3TestStack(
  prefix: string,
  config: Record<string, unknown>,
  secrets: Record<string, string>,
  backend: Pick<S3StateBackend, "env">,
): S3TestStack {
  return new S3TestStack(`${prefix}-${randomBytes(3).toString("hex")}`, config, secrets, backend);
}
