// Validation of what agents send. Everything from the socket is untrusted until it has passed
// through here: a frame that is not exactly one of the AgentMessage shapes is a protocol error.
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import type { AgentMessage, HelloMessage } from '../api/stream.ts';
import { checkObservabilityMessage } from '../metrics/summary-check.ts';

const MAX_NODE = 253;
const MAX_VERSION_STRING = 256;
const MAX_CREDENTIAL = 16 * 1024;
const MAX_FEATURES = 32;
const MAX_FEATURE = 64;
/** Nack reasons end up in logs and config dumps; an agent cannot flood them. */
export const MAX_NACK_REASON = 1024;

function protocolError(message: string): WeftError {
  return new WeftError(ErrorCodes.STREAM_PROTOCOL, message);
}

function isVersion(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

export function parseAgentMessage(text: string): AgentMessage {
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch {
    throw protocolError('frame is not JSON: the config stream carries JSON text frames');
  }
  if (m === null || typeof m !== 'object' || Array.isArray(m)) throw protocolError('frame is not a JSON object');
  const o = m as Record<string, unknown>;
  switch (o.type) {
    case 'hello': {
      if (!Number.isSafeInteger(o.protocol)) throw protocolError('hello.protocol must be an integer');
      if (typeof o.node !== 'string' || o.node === '' || o.node.length > MAX_NODE) throw protocolError('hello.node must be a node name');
      if (typeof o.agentVersion !== 'string' || o.agentVersion.length > MAX_VERSION_STRING) throw protocolError('hello.agentVersion must be a string');
      if (typeof o.credential !== 'string' || o.credential.length > MAX_CREDENTIAL) throw protocolError('hello.credential must be a string');
      const hello: HelloMessage = { type: 'hello', protocol: o.protocol as number, node: o.node, agentVersion: o.agentVersion, credential: o.credential };
      if (o.features !== undefined) {
        if (!Array.isArray(o.features) || o.features.length > MAX_FEATURES || !o.features.every((f) => typeof f === 'string' && f !== '' && f.length <= MAX_FEATURE)) {
          throw protocolError(`hello.features must be a list of at most ${MAX_FEATURES} feature names`);
        }
        hello.features = o.features as string[];
      }
      return hello;
    }
    case 'ack':
      if (!isVersion(o.version)) throw protocolError('ack.version must be a non-negative integer');
      return { type: 'ack', version: o.version };
    case 'nack':
      if (!isVersion(o.version)) throw protocolError('nack.version must be a non-negative integer');
      if (typeof o.reason !== 'string') throw protocolError('nack.reason must be a string');
      return { type: 'nack', version: o.version, reason: o.reason.slice(0, MAX_NACK_REASON) };
    case 'summary':
    case 'tap-events':
      return checkObservabilityMessage(o);
    default:
      throw protocolError(`unknown message type ${JSON.stringify(typeof o.type === 'string' ? o.type.slice(0, 64) : o.type)}`);
  }
}
