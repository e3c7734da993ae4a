/**
 * The lab's command line (after `npm run build`):
 *   node dist/lab/cli.js up [--dir D] [--nodes N] [--from R] [--to R] [--realistic-upgrade] [--alb] [--uwsgi]
 *   node dist/lab/cli.js down [--dir D] [--purge]
 *   node dist/lab/cli.js status [--dir D]
 *   node dist/lab/cli.js up --galera ...         a 3-member Galera cluster behind HAProxy (lab/galeraLab.ts)
 *   node dist/lab/cli.js galera status|stop|kill|start|restart [MEMBER] [--dir D]   one Galera member
 * The dir defaults to $GLANCE_LAB_DIR, else /var/tmp/glance-rolling-upgrade-lab.
 * --alb: also the lab ALB (lab/labAlb.ts) in front of the nodes, for a stack with loadBalancer.type alb.
 * --realistic-upgrade: the "wheelhouse" upgrade mode (lab/state.ts UpgradeMode): a node's upgrade is a
 * real offline pip install into its own environment, which `glance-node prestage` can do ahead.
 * --uwsgi: new nodes serve glance-api under uWSGI (glance.wsgi.api; releases 2025.1 on), not eventlet.
 */
import { parseArgs } from "node:util";
import { GALERA_MEMBER_ACTIONS, type GaleraMemberAction, galeraMemberCommand } from "./galeraLab";
import { labDown, labStatus, labUp } from "./lab";

const USAGE =
  "usage: node dist/lab/cli.js up|down|status [--dir D] [--nodes N] [--from RELEASE] [--to RELEASE] [--realistic-upgrade] [--alb] [--galera] [--uwsgi] [--purge]\n" +
  "       node dist/lab/cli.js galera status|stop|kill|start|restart [MEMBER] [--dir D]";

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      dir: { type: "string" },
      nodes: { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
      purge: { type: "boolean" },
      "realistic-upgrade": { type: "boolean" },
      alb: { type: "boolean" },
      galera: { type: "boolean" },
      uwsgi: { type: "boolean" },
    },
  });
  const command = positionals[0];
  switch (command) {
    case "up": {
      const nodes = values.nodes === undefined ? undefined : Number(values.nodes);
      if (nodes !== undefined && (!Number.isInteger(nodes) || nodes < 1))
        throw new Error(`--nodes must be a positive integer, not "${values.nodes}"`);
      const state = await labUp({
        dir: values.dir,
        nodes,
        fromRelease: values.from,
        toRelease: values.to,
        upgradeMode: values["realistic-upgrade"] === true ? "wheelhouse" : "switch",
        server: values.uwsgi === true ? "uwsgi" : "eventlet",
        outliveProcess: true,
        ...(values.alb === true ? { alb: true } : {}),
        galera: values.galera === true,
      });
      process.stdout.write(
        `${JSON.stringify(
          {
            dir: state.dir,
            frontendUrl: state.haproxy.frontendUrl,
            runtimeApi: state.haproxy.runtimeApi,
            runtimeApiTcp: state.haproxy.runtimeApiTcp,
            nodes: state.nodes.map((n) => n.address),
            db: `${state.db.host}:${state.db.port}/${state.db.database}`,
            glanceNode: state.glanceNodeBin,
            upgradeMode: state.upgradeMode,
            ...(state.alb
              ? {
                  alb: {
                    frontendUrl: state.alb.frontendUrl,
                    endpoint: state.alb.endpoint,
                    targetGroupArn: state.alb.targetGroupArn,
                  },
                }
              : {}),
            ...(state.galera
              ? { galera: state.galera.cluster.members.map((m) => `${m.name} 127.0.0.1:${m.port}`) }
              : {}),
          },
          null,
          2,
        )}\n`,
      );
      return 0;
    }
    case "down":
      await labDown(values.dir, { purge: values.purge === true });
      return 0;
    case "status": {
      const status = await labStatus(values.dir);
      process.stdout.write(`${JSON.stringify(status, null, 2)}\n`);
      return status.up ? 0 : 3;
    }
    case "galera": {
      const action = positionals[1] as GaleraMemberAction;
      if (!GALERA_MEMBER_ACTIONS.includes(action)) {
        process.stderr.write(`${USAGE}\n`);
        return 2;
      }
      const members = await galeraMemberCommand(values.dir, action, positionals[2], { outliveProcess: true });
      process.stdout.write(`${JSON.stringify(members, null, 2)}\n`);
      return 0;
    }
    default:
      process.stderr.write(`${USAGE}\n`);
      return 2;
  }
}

// Exit explicitly: the services run as children of this process, and they must outlive it.
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`lab: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
