// Config stream messages (wss on 15012, path /v1/stream). JSON text frames.
//
//   agent → control: hello                         control → agent: snapshot* snapshot-sent
//   agent → control: ack | nack (per version)      control → agent: delta*   error
//   agent → control: summary, tap-events           control → agent: tap-start, tap-stop
//                    (observability: control/api/summary.ts)
//
// After `snapshot-sent` the agent replaces its state with what the snapshot carried (dropping what
// it did not hear about) and acks that version. Every delta is acked or nacked with a reason.
import type { ResourceRecord } from './model.ts';
import type { SummaryMessage, TapEventsMessage, TapStartMessage, TapStopMessage } from './summary.ts';

export const STREAM_PATH = '/v1/stream';
export const STREAM_PROTOCOL_VERSION = 1;
/** Frames larger than this are a protocol error: a snapshot is chunked well below it. */
export const STREAM_MAX_FRAME = 16 * 1024 * 1024;

export interface HelloMessage {
  type: 'hello';
  protocol: number;
  node: string;
  agentVersion: string;
  credential: string;
  /**
   * Optional parts of the protocol this agent understands (FEATURE_KINDS in model.ts: record
   * kinds control sends only to agents that name them). Absent from agents older than the field;
   * a control older than it ignores it.
   */
  features?: string[];
}

export interface AckMessage {
  type: 'ack';
  version: number;
}

export interface NackMessage {
  type: 'nack';
  version: number;
  reason: string;
}

export type AgentMessage = HelloMessage | AckMessage | NackMessage | SummaryMessage | TapEventsMessage;

export interface SnapshotMessage {
  type: 'snapshot';
  version: number;
  resources: ResourceRecord[];
}

export interface SnapshotSentMessage {
  type: 'snapshot-sent';
  version: number;
  count: number;
  /** The features of the agent's hello this control honours (absent from older controls). */
  features?: string[];
}

export interface DeltaMessage {
  type: 'delta';
  version: number;
  upserts: ResourceRecord[];
  /** Resource ids (`kind:key`) that are gone. */
  removes: string[];
}

export interface StreamErrorMessage {
  type: 'error';
  code: string;
  message: string;
}

export type ControlMessage = SnapshotMessage | SnapshotSentMessage | DeltaMessage | StreamErrorMessage | TapStartMessage | TapStopMessage;
