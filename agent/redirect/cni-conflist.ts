// Chaining weft-cni into the node's CNI configuration, as pure functions: the conflist text with
// {"type":"weft-cni"} appended last (after the plugin that gives the pod its address, which the
// relay needs as prevResult), or removed. undefined when nothing changes. cni-install.ts writes.
import { ErrorCodes, WeftError } from '../../common/errors.ts';

export const PLUGIN_TYPE = 'weft-cni';

interface Conflist {
  plugins?: Array<{ type?: unknown }>;
}

function parse(text: string, file: string): Conflist {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new WeftError(ErrorCodes.CONFIG_INVALID, `CNI configuration ${file} is not JSON: ${(err as Error).message}`);
  }
  if (doc === null || typeof doc !== 'object' || !Array.isArray((doc as Conflist).plugins)) {
    throw new WeftError(ErrorCodes.CONFIG_INVALID, `CNI configuration ${file} has no "plugins" list (a .conflist is needed to chain weft-cni)`);
  }
  return doc as Conflist;
}

/** The conflist with weft-cni chained last, or undefined if it already is. */
export function chainWeftCni(text: string, file: string): string | undefined {
  const doc = parse(text, file);
  const plugins = doc.plugins ?? [];
  const at = plugins.findIndex((p) => p?.type === PLUGIN_TYPE);
  if (at === plugins.length - 1) return undefined;
  const others = plugins.filter((p) => p?.type !== PLUGIN_TYPE);
  return `${JSON.stringify({ ...doc, plugins: [...others, { type: PLUGIN_TYPE }] }, null, 2)}\n`;
}

/** The conflist without weft-cni, or undefined if it is not there. */
export function unchainWeftCni(text: string, file: string): string | undefined {
  const doc = parse(text, file);
  const plugins = doc.plugins ?? [];
  if (!plugins.some((p) => p?.type === PLUGIN_TYPE)) return undefined;
  return `${JSON.stringify({ ...doc, plugins: plugins.filter((p) => p?.type !== PLUGIN_TYPE) }, null, 2)}\n`;
}

/** The conflist the runtime uses: the first *.conflist by name (what containerd and CRI-O pick). */
export function primaryConflist(names: readonly string[]): string | undefined {
  return names.filter((n) => n.endsWith('.conflist')).sort()[0];
}
