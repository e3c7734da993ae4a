import { z } from "zod";

/**
 * The value alphabets the stack config schema is built from. Every value that can reach a shell
 * script is either constrained here to a shell-safe alphabet or quoted by the script builder;
 * free-form commands are operator-authored and rejected when they contain control characters.
 */

export const safeName = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9-]{0,62}$/,
    "use lower-case letters, digits and '-' (e.g. node-1), at most 63 characters",
  );
export const release = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "use letters, digits, '.', '_' or '-' (e.g. 2024.1)");
export const hostOrIp = z
  .string()
  .regex(
    /^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$|^\[?[0-9A-Fa-f:]+\]?$/,
    "use a host name or an IP address",
  );
export const port = z.number().int().min(1).max(65535);
export const positiveSeconds = (max: number) => z.number().int().min(1).max(max);
export const command = z
  .string()
  .min(1, "must not be empty")
  // eslint-disable-next-line no-control-regex
  .regex(/^[^\u0000-\u0008\u000a-\u001f\u007f]*$/, "must be one line without control characters");
export const absolutePath = z
  .string()
  .regex(
    /^\/[A-Za-z0-9._/{}-]*$/,
    "use an absolute path of letters, digits, '.', '_', '-', '/' and {release}",
  );
export const url = z
  .string()
  .regex(/^https?:\/\/[A-Za-z0-9.:[\]{}/_-]+$/, "use an http(s) URL, e.g. http://{address}:9292/healthcheck");

export const posixUser = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/, "use a POSIX user name such as ubuntu");

/**
 * A Glance version as versionCommand prints it. At least major.minor.patch: versions match as a
 * dotted prefix (steps/version.ts), so 28.2 would match both 28.2.0 and 28.2.1, and a point upgrade's
 * old nodes would pass its version checks.
 */
export const packageVersion = (example: string) =>
  z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9.+~:_-]{0,63}$/, `use the package version, e.g. ${example}`)
    .regex(
      /^(\d+:)?\d+\.\d+\.\d+/,
      `write the full version, at least major.minor.patch (e.g. ${example}), as versionCommand prints it: a shorter one would also match other releases' versions (28.2 matches 28.2.0 and 28.2.1), so a node not yet changed could pass the version checks`,
    );

/**
 * A list's refinement that names every repeated entry by its first place: `duplicate of
 * <key>[<first>]; list each <noun> once`.
 */
export function eachOnce(key: string, noun: string) {
  return (names: string[], ctx: z.RefinementCtx): void => {
    names.forEach((name, index) => {
      const first = names.indexOf(name);
      if (first !== index) {
        ctx.addIssue({
          code: "custom",
          path: [index],
          message: `duplicate of ${key}[${first}]; list each ${noun} once`,
        });
      }
    });
  };
}
