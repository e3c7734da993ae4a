/**
 * The config check: which options of the NEW NODE's glance-api config does the release it now runs
 * not read? oslo.config ignores options it does not know, so an option a release removed
 * (`location_strategy`, gone in 2024.2) or a misspelled one passes every other check and is silently
 * ignored once the node starts. `oslo-config-validator` alone cannot answer it: it does not know the
 * options Glance registers at run time (the stores of `enabled_backends` and the reserved stores,
 * `[glance_store] default_backend`, the import plugins' `[import_filtering_opts]`).
 *
 * So the check runs the release's own code on the node (GLANCE_CONFIG_CHECK_PY, read by the node's
 * Python from stdin): it registers what glance-api registers (the option namespaces of Glance's own
 * sample-config generator for glance-api, the image import plugins', oslo.limit's; the store options
 * the way glance-api registers them, multi-store with its reserved stores or single-store; the Keystone
 * auth plugin options of every section that names an `auth_type`), parses the config files with
 * oslo.config's own parser and reports every option no registered group knows. Exit 0: every option is
 * read (options deprecated for removal are named); 3: some are not (named as group/option); 2: the
 * check could not run.
 *
 * Validated against the lab's config and the fully uncommented sample config of every release from
 * 2023.1 to 2026.1 (test/integration/glanceConfigCheck.test.ts).
 */
import { shellQuote } from "../exec/shellQuote";
import type { UpgradeConfig } from "../../plan/config";

/** Exit codes of the program. */
export const CONFIG_CHECK_UNREAD = 3;
export const CONFIG_CHECK_ERROR = 2;

/** The heredoc's delimiter (it must not occur as a line of the program). */
const DELIMITER = "GLANCE_CONFIG_CHECK_PY";

/** `python - <files...> [--acknowledge=group/option ...]`, the program on stdin. */
export const GLANCE_CONFIG_CHECK_PY = String.raw`"""Which options of a glance-api config does the Glance this Python imports not read?"""
import os
import sys

# What glance-api reads: the namespaces of Glance's own sample-config generator for glance-api
# (etc/oslo-config-generator/glance-api.conf) without glance.multi_store (registered below as
# glance-api does it), the image import plugins' (namespace glance) and oslo.limit's. A namespace
# this release does not ship is left out.
NAMESPACES = ["castellan.config", "glance.api", "glance", "glance.store", "oslo.concurrency",
              "oslo.messaging", "oslo.db", "oslo.policy", "keystonemiddleware.auth_token", "oslo.log",
              "oslo.middleware.cors", "oslo.middleware.healthcheck", "oslo.middleware.http_proxy_to_wsgi",
              "oslo.reports", "oslo.limit"]


def fail(message):
    print("glance config check could not run: " + message, file=sys.stderr)
    return 2


def main(argv):
    files = [a for a in argv if not a.startswith("--acknowledge=")]
    acknowledged = set(a.split("=", 1)[1] for a in argv if a.startswith("--acknowledge="))
    if not files:
        return fail("no config file given")
    try:
        from oslo_config import cfg, generator
        import glance_store
        from glance.version import version_info
        version = version_info.version_string()
    except Exception as error:
        return fail("this Python does not import Glance and oslo.config (%s): set "
                    "nodeCommands.glancePythonCommand to the Python that runs the node's Glance" % error)

    def group_key(group):
        if group is None:
            return "DEFAULT"
        name = group.name if isinstance(group, cfg.OptGroup) else str(group)
        return name if name == "DEFAULT" else name.lower()

    def key(name):
        return name.replace("-", "_")

    sections = {}
    for path in files:
        if not os.path.isfile(path):
            return fail("%s is not a file on this node" % path)
        try:
            cfg.ConfigParser(path, sections).parse()
        except Exception as error:
            return fail("%s cannot be parsed: %s" % (path, error))

    conf = cfg.ConfigOpts()
    for namespace in NAMESPACES:
        try:
            listed = generator._list_opts([namespace])
        except Exception:
            continue
        for _, groups in listed:
            for group, opts in groups:
                for opt in opts:
                    try:
                        conf.register_opt(opt, group=None if group_key(group) == "DEFAULT" else group)
                    except cfg.DuplicateOptError:
                        pass

    # The stores, as glance-api registers them: with enabled_backends, each backend's group with its
    # driver's options and the reserved stores (glance_store.register_store_opts); without, every
    # driver's options in [glance_store] (glance_store.register_opts).
    backends = sections.get("DEFAULT", {}).get("enabled_backends")
    if backends and backends[-1].strip():
        try:
            from glance.common.wsgi_app import RESERVED_STORES as reserved
        except Exception:
            from glance.common.wsgi import RESERVED_STORES as reserved

        class Registrar(object):
            """What register_store_opts reads and calls, backed by conf."""

            def __init__(self, enabled):
                self.enabled_backends = enabled

            def register_opts(self, opts, group=None):
                conf.register_opts(opts, group=group)

        glance_store.register_store_opts(Registrar(cfg.types.Dict()(backends[-1])), reserved_stores=reserved)
    else:
        glance_store.register_opts(conf)

    known = {"DEFAULT": set()}
    doomed = set()

    def learn(group, opts):
        names = known.setdefault(group, set())
        for entry in opts.values():
            opt = entry["opt"]
            names.add(key(opt.name))
            names.add(key(opt.dest))
            if getattr(opt, "deprecated_for_removal", False):
                doomed.add("%s/%s" % (group, key(opt.dest)))
            for old in opt.deprecated_opts:
                known.setdefault(group_key(old.group) if old.group else group, set()).add(
                    key(old.name or opt.dest))

    learn("DEFAULT", conf._opts)
    for name, group in conf._groups.items():
        learn(group_key(name), group._opts)

    # A section that names a Keystone auth plugin (auth_type) is read for that plugin's options.
    for section, values in sections.items():
        auth_type = values.get("auth_type")
        if not auth_type:
            continue
        try:
            from keystoneauth1 import loading
            plugin = loading.get_plugin_loader(auth_type[-1])
            options = loading.get_auth_common_conf_options() + loading.get_auth_plugin_conf_options(plugin)
            known.setdefault(group_key(section), set()).update(key(o.dest) for o in options)
        except Exception:
            pass

    unread, ignored, deprecated, count = [], [], [], 0
    for section, values in sections.items():
        group = group_key(section)
        for name in values:
            count += 1
            option = "%s/%s" % (group, key(name))
            if key(name) in known.get(group, ()):
                if option in doomed:
                    deprecated.append(option)
            elif option in acknowledged or group + "/*" in acknowledged:
                ignored.append(option)
            else:
                unread.append(option)
    where = ", ".join(files)
    notes = ""
    if deprecated:
        notes += "; deprecated for removal (read now, gone in a later release): " + ", ".join(deprecated)
    if ignored:
        notes += "; not read, acknowledged: " + ", ".join(ignored)
    if unread:
        print("glance %s does not read %d option(s) of %s: %s%s" % (
            version, len(unread), where, ", ".join(unread), notes))
        return 3
    print("glance %s reads every option of %s (%d)%s" % (version, where, count, notes))
    return 0


sys.exit(main(sys.argv[1:]))
`;

/** The config files the check reads on a node, with {node} and {release} filled in. */
export function configCheckFiles(config: UpgradeConfig, node: { name: string }): string[] {
  return config.glanceConfig.files.map((file) =>
    file.replaceAll("{node}", node.name).replaceAll("{release}", config.targetRelease),
  );
}

/** The config-check step's bash: the program through the node's Python, its verdict in plain words. */
export function configCheckCommands(config: UpgradeConfig, node: { name: string }): string[] {
  const files = configCheckFiles(config, node);
  const args = [
    ...files.map(shellQuote),
    ...config.glanceConfig.acknowledge.map((option) => shellQuote(`--acknowledge=${option}`)),
  ].join(" ");
  const fix =
    "Nothing was changed (no schema step ran; the fleet serves): on the NEW NODE, remove or rename them " +
    `in ${files.join(", ")} (the new release's sample config names what it reads); an option Glance reads ` +
    "that this check does not know may be named in glanceConfig.acknowledge. Then run up again";
  return [
    "set +e",
    `report="$(${config.nodeCommands.glancePythonCommand} - ${args} <<'${DELIMITER}'`,
    ...GLANCE_CONFIG_CHECK_PY.trimEnd().split("\n"),
    DELIMITER,
    ')"',
    "rc=$?",
    "set -e",
    `case "$rc:$report" in`,
    `  0:glance\\ *) echo "config check: $report" ;;`,
    `  ${CONFIG_CHECK_UNREAD}:glance\\ *) echo "config check FAILED: $report. ${fix}" >&2; exit 1 ;;`,
    `  0:*) echo "config check ERROR: glancePythonCommand exited 0 without the check's verdict (it printed '$report'): is it the Python that runs the node's Glance? Nothing was changed" >&2; exit 1 ;;`,
    `  *) echo "config check ERROR (exit $rc): the check could not run on $GLANCE_NODE (its error is above); nothing was changed" >&2; exit 1 ;;`,
    "esac",
  ];
}
