import { PolicyPack } from "@pulumi/policy";
import { toRunbookView } from "./resources";
import { RUNBOOK_RULES } from "./rules";

// Run with `pulumi preview --policy-pack policy` (CI does, in .github/workflows/preview.yml).
new PolicyPack("glance-rolling-upgrade", {
  policies: RUNBOOK_RULES.map((rule) => ({
    name: rule.name,
    description: rule.description,
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
      const view = toRunbookView(args.resources);
      for (const violation of rule.check(view.resources)) {
        const urn = violation.resource === undefined ? undefined : view.urnOf(violation.resource);
        reportViolation(violation.message, urn);
      }
    },
  })),
});
