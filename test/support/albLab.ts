/**
 * What the tests on a lab with the lab ALB (lab/labAlb.ts) set up alike: test AWS credentials in the
 * environment (the steps reach the lab ALB's ELBv2 API, or moto's, through the SDK: moto wants
 * credentials, any will do) and the lab's ALB, known to be there.
 */
import type { LabState } from "../../lab/lab";
import type { LabAlbState } from "../../lab/state";

/**
 * Puts test credentials in the environment (no session token, no profile: nothing of the machine's
 * own); returns what restores the environment as it was before.
 */
export function useTestAwsCredentials(): () => void {
  const savedEnv = { ...process.env };
  process.env.AWS_ACCESS_KEY_ID = "test";
  process.env.AWS_SECRET_ACCESS_KEY = "test";
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  return () => {
    process.env = savedEnv;
  };
}

/** The lab's ALB; throws if lab.json has none. */
export function albOf(state: LabState): LabAlbState {
  if (state.alb === undefined) throw new Error("lab.json has no alb");
  return state.alb;
}
