/**
 * passConnectionToGlanceManage through sudo: the connection travels as an exported variable, which
 * sudo's env_reset drops unless asked to keep it (verified under Debian 12's default sudoers,
 * test/integration/glanceManageSudo.test.ts).
 */
import { key, show } from "./problemText";
import { ParsedStack } from "./schema";
import { simpleCommands } from "./shellCommands";

/** sudo's options that take their value as the next word. */
const SUDO_OPTIONS_WITH_VALUE = new Set([
  "-u",
  "-g",
  "-p",
  "-C",
  "-D",
  "-r",
  "-t",
  "-T",
  "-U",
  "-h",
  "--user",
  "--group",
  "--prompt",
  "--close-from",
  "--chdir",
  "--role",
  "--type",
  "--command-timeout",
  "--other-user",
  "--host",
]);

/** Whether the sudo options starting at `words[0]` keep OS_DATABASE__CONNECTION (or the whole environment). */
function sudoKeepsConnection(words: string[]): boolean {
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    if (word === "--") return false;
    if (!word.startsWith("-")) return false;
    if (word === "--preserve-env" || /^-[A-Za-z]*E[A-Za-z]*$/.test(word)) return true;
    const list = /^--preserve-env=(.*)$/.exec(word);
    if (
      list &&
      list[1]
        .replace(/^["']|["']$/g, "")
        .split(",")
        .includes("OS_DATABASE__CONNECTION")
    )
      return true;
    if (SUDO_OPTIONS_WITH_VALUE.has(word)) i++;
  }
  return false;
}

/**
 * With passConnectionToGlanceManage, the connection reaches glance-manage as the exported variable
 * OS_DATABASE__CONNECTION. sudo's env_reset (Debian's default sudoers) drops it, and glance-manage
 * then runs silently on the node's own config: sudo must be asked to keep it, which also makes sudo
 * refuse loudly when its sudoers rule does not allow it. Writing the value into the command would
 * put the secret in argv.
 */
export function glanceManageSudoProblems(stack: ParsedStack): string[] {
  if (!stack.database.passConnectionToGlanceManage) return [];
  const command = stack.nodeCommands.glanceManageCommand;
  const dropping = simpleCommands(command).find((simple) => {
    const words = simple.split(/\s+/);
    const at = words.findIndex((word) => /(^|\/)sudo$/.test(word));
    return at >= 0 && !sudoKeepsConnection(words.slice(at + 1));
  });
  if (dropping === undefined) return [];
  return [
    `${key(["nodeCommands", "glanceManageCommand"])} = ${show(command)}: database.passConnectionToGlanceManage gives glance-manage its connection as the variable OS_DATABASE__CONNECTION, and sudo's env_reset drops it, so glance-manage would run on the node's own config instead: ask sudo to keep it (e.g. sudo --preserve-env=OS_DATABASE__CONNECTION -u glance glance-manage), and allow that in the node's sudoers (Defaults:<ssh user> env_keep += "OS_DATABASE__CONNECTION", or the SETENV tag on the rule); never write the value into the command, where it would be in argv`,
  ];
}
