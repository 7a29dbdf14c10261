// Why the agent cannot reach control, said so an operator knows what to check. A pure function of
// the failure's code (Node's system and TLS codes) and where the agent dials; the stream client
// logs its answer (agent/state/stream-client.ts) and `weft check` shows the same cause.

export interface ControlTarget {
  /** host:port from WEFT_CONTROL_ADDRESS. */
  address: string;
  /** WEFT_CONTROL_SOCKET when set: the agent dials this instead of the address. */
  socketPath?: string | undefined;
}

const NAME_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA']);
const TRUST_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_SIGNATURE_FAILURE', 'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED', 'CERT_REJECTED',
]);

function hostOf(address: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (m !== null) return m[1];
  const i = address.lastIndexOf(':');
  return i < 0 ? address : address.slice(0, i);
}

/** What to tell the operator for a failed attempt to reach control (`cause`: the error's code). */
export function explainControlFailure(cause: string, target: ControlTarget): string {
  if (target.socketPath !== undefined) {
    const where = `control's unix socket ${target.socketPath}`;
    if (cause === 'ENOENT') return `${where} does not exist (ENOENT): is control running, and is WEFT_CONTROL_SOCKET right?`;
    if (cause === 'ECONNREFUSED') return `nothing accepts connections on ${where} (ECONNREFUSED): is control running?`;
    if (cause === 'EACCES') return `${where} may not be opened by the agent (EACCES): check its owner and mode`;
  } else {
    const where = `control at ${target.address}`;
    if (NAME_CODES.has(cause)) {
      return `control's name ${hostOf(target.address)} does not resolve (${cause}): check WEFT_CONTROL_ADDRESS (${target.address}) and this node's DNS; ` +
        'in a cluster, is the weft-control Service in weft-system, and does the agent pod use cluster DNS (dnsPolicy: ClusterFirstWithHostNet)?';
    }
    if (cause === 'ECONNREFUSED') return `nothing accepts connections at ${target.address} (ECONNREFUSED): is control running, and is WEFT_CONTROL_ADDRESS right?`;
    if (cause === 'ETIMEDOUT') return `connecting to ${where} timed out (ETIMEDOUT): is a NetworkPolicy or firewall blocking it?`;
    if (cause === 'EHOSTUNREACH' || cause === 'ENETUNREACH') return `no route to ${where} (${cause}): check the node's network and WEFT_CONTROL_ADDRESS`;
  }
  if (TRUST_CODES.has(cause)) {
    return `control's serving certificate is not trusted (${cause}): check WEFT_CONTROL_CA_FILE (the trust-anchor ConfigMap) and WEFT_CONTROL_SERVER_NAME`;
  }
  const where = target.socketPath === undefined ? target.address : target.socketPath;
  return `cannot reach control at ${where} (${cause}): is control running and reachable?`;
}
