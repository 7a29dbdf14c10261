// The stream state machine of RFC 9113 §5.1, as pure transitions: what receiving or sending a
// frame does to a stream's state, and the error the section mandates when the frame is not
// allowed. Push is disabled (SETTINGS_ENABLE_PUSH 0 both ways), so the reserved states are never
// entered: a PUSH_PROMISE is refused by the connection before it reaches a stream.
import { H2Code } from './constants.ts';

export const StreamState = {
  IDLE: 0,
  OPEN: 1,
  HALF_CLOSED_LOCAL: 2,
  HALF_CLOSED_REMOTE: 3,
  CLOSED: 4,
} as const;
export type StreamStateValue = (typeof StreamState)[keyof typeof StreamState];

/** Frame kinds that matter to the state machine. */
export const StreamEvent = {
  HEADERS: 0,
  DATA: 1,
  RST_STREAM: 2,
  PRIORITY: 3,
  WINDOW_UPDATE: 4,
} as const;
export type StreamEventValue = (typeof StreamEvent)[keyof typeof StreamEvent];

/** How a closed stream got closed: what a late frame on it means (§5.1 "closed"). */
export const ClosedBy = {
  /** Both sides sent END_STREAM. */
  END_STREAM: 0,
  /** We sent RST_STREAM: frames the peer sent before seeing it are ignored. */
  RESET_SENT: 1,
  /** The peer sent RST_STREAM. */
  RESET_RECEIVED: 2,
} as const;
export type ClosedByValue = (typeof ClosedBy)[keyof typeof ClosedBy];

/**
 * A transition's outcome, packed in one number to stay allocation-free:
 * ≥ 0 the next state; IGNORE: drop the frame, state unchanged; otherwise -(1 + code) for a stream
 * error, or -(0x100 + code) for a connection error, code being the RFC 9113 error code.
 */
export const IGNORE = -0x1000;
export function streamErr(code: number): number {
  return -(1 + code);
}
export function connErr(code: number): number {
  return -(0x100 + code);
}
export function isStreamErr(r: number): boolean {
  return r < 0 && r > -0x100;
}
export function isConnErr(r: number): boolean {
  return r <= -0x100 && r > IGNORE;
}
export function errCode(r: number): number {
  return isStreamErr(r) ? -r - 1 : -r - 0x100;
}

/**
 * Receiving a frame of kind `ev` (with END_STREAM or not) on a stream in `state`. `closedBy`
 * matters only for CLOSED. Stream admission (ids, concurrency) is the connection's; this is the
 * §5.1 table.
 */
export function onReceive(state: StreamStateValue, ev: StreamEventValue, endStream: boolean, closedBy: ClosedByValue = ClosedBy.END_STREAM): number {
  if (ev === StreamEvent.PRIORITY) return state; // allowed in every state
  switch (state) {
    case StreamState.IDLE:
      // "Receiving any frame other than HEADERS or PRIORITY on a stream in this state MUST be treated as a connection error of type PROTOCOL_ERROR."
      if (ev === StreamEvent.HEADERS) return endStream ? StreamState.HALF_CLOSED_REMOTE : StreamState.OPEN;
      return connErr(H2Code.PROTOCOL_ERROR);
    case StreamState.OPEN:
      if (ev === StreamEvent.RST_STREAM) return StreamState.CLOSED;
      if (endStream && (ev === StreamEvent.HEADERS || ev === StreamEvent.DATA)) return StreamState.HALF_CLOSED_REMOTE;
      return StreamState.OPEN;
    case StreamState.HALF_CLOSED_LOCAL:
      if (ev === StreamEvent.RST_STREAM) return StreamState.CLOSED;
      if (endStream && (ev === StreamEvent.HEADERS || ev === StreamEvent.DATA)) return StreamState.CLOSED;
      return StreamState.HALF_CLOSED_LOCAL;
    case StreamState.HALF_CLOSED_REMOTE:
      // "If an endpoint receives additional frames, other than WINDOW_UPDATE, PRIORITY, or RST_STREAM, for a stream that is in this state, it MUST respond with a stream error of type STREAM_CLOSED."
      if (ev === StreamEvent.RST_STREAM) return StreamState.CLOSED;
      if (ev === StreamEvent.WINDOW_UPDATE) return state;
      return streamErr(H2Code.STREAM_CLOSED);
    case StreamState.CLOSED:
      // After we reset: ignore what the peer had in flight. WINDOW_UPDATE / RST_STREAM may
      // cross our END_STREAM or RST: ignored. Anything else after the peer's RST is a stream
      // error STREAM_CLOSED; after its END_STREAM a connection error STREAM_CLOSED.
      if (closedBy === ClosedBy.RESET_SENT) return IGNORE;
      if (ev === StreamEvent.WINDOW_UPDATE || ev === StreamEvent.RST_STREAM) return IGNORE;
      if (closedBy === ClosedBy.RESET_RECEIVED) return streamErr(H2Code.STREAM_CLOSED);
      return connErr(H2Code.STREAM_CLOSED);
  }
  return connErr(H2Code.INTERNAL_ERROR);
}

/** Sending: the state after we send `ev`, or -1 when it may not be sent in `state` (a programming error of the caller). */
export function onSend(state: StreamStateValue, ev: StreamEventValue, endStream: boolean): number {
  if (ev === StreamEvent.PRIORITY) return state;
  if (ev === StreamEvent.RST_STREAM) return state === StreamState.IDLE || state === StreamState.CLOSED ? -1 : StreamState.CLOSED;
  switch (state) {
    case StreamState.IDLE:
      if (ev !== StreamEvent.HEADERS) return -1;
      return endStream ? StreamState.HALF_CLOSED_LOCAL : StreamState.OPEN;
    case StreamState.OPEN:
      return endStream && ev !== StreamEvent.WINDOW_UPDATE ? StreamState.HALF_CLOSED_LOCAL : StreamState.OPEN;
    case StreamState.HALF_CLOSED_REMOTE:
      return endStream && ev !== StreamEvent.WINDOW_UPDATE ? StreamState.CLOSED : StreamState.HALF_CLOSED_REMOTE;
    case StreamState.HALF_CLOSED_LOCAL:
      // Only WINDOW_UPDATE (and PRIORITY, RST_STREAM above) after our END_STREAM.
      return ev === StreamEvent.WINDOW_UPDATE ? state : -1;
    case StreamState.CLOSED:
      return -1;
  }
  return -1;
}
