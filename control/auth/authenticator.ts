// Who is this agent? The config stream and the CSR API both turn an agent's credential into the
// node it runs on, and authorize by that node. In a cluster the credential is a projected
// ServiceAccount token (checked with TokenReview); in the sandbox a per-node bootstrap token.
// Implementations register by name so control's config picks one without importing it directly.
import { ErrorCodes, WeftError } from '../../common/errors.ts';

export interface AuthenticatedNode {
  /** The node the credential was issued for: the only node this agent may act as. */
  node: string;
}

export interface NodeAuthenticator {
  readonly name: string;
  /**
   * Resolves the node behind a credential. Rejects with WEFT_ERR_STREAM_UNAUTHENTICATED when the
   * credential is unknown; the error never echoes the credential (it would land in logs).
   */
  authenticate(credential: string): Promise<AuthenticatedNode>;
}

/** Options are whatever the implementation documents; the factory validates them. */
export type NodeAuthenticatorFactory = (options: Readonly<Record<string, unknown>>) => Promise<NodeAuthenticator>;

const factories = new Map<string, NodeAuthenticatorFactory>();

export function registerNodeAuthenticator(name: string, factory: NodeAuthenticatorFactory): void {
  if (factories.has(name)) throw new Error(`node authenticator ${JSON.stringify(name)} registered twice`);
  factories.set(name, factory);
}

export function nodeAuthenticatorNames(): string[] {
  return [...factories.keys()].sort();
}

export async function createNodeAuthenticator(name: string, options: Readonly<Record<string, unknown>> = {}): Promise<NodeAuthenticator> {
  const factory = factories.get(name);
  if (factory === undefined) {
    throw new WeftError(
      ErrorCodes.CONFIG_INVALID,
      `unknown node authenticator ${JSON.stringify(name)}; known: ${nodeAuthenticatorNames().join(', ') || '(none)'}`,
    );
  }
  return factory(options);
}
