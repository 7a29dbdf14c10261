// What the codec throws or reports: a WeftError with the RFC 9113 error code the peer is told
// (in GOAWAY for a connection error, RST_STREAM for a stream error) and the stream it concerns
// (0 for the connection). Parsers throw these and nothing else on bad input.
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import { H2Code } from './constants.ts';

export class H2Error extends WeftError {
  /** RFC 9113 §7 error code sent to the peer. */
  readonly h2code: number;
  /** 0: a connection error (GOAWAY, close); otherwise the stream reset with RST_STREAM. */
  readonly streamId: number;

  constructor(h2code: number, streamId: number, message: string) {
    super(h2code === H2Code.COMPRESSION_ERROR ? ErrorCodes.H2_COMPRESSION : streamId === 0 ? ErrorCodes.H2_CONNECTION : ErrorCodes.H2_STREAM, message);
    this.name = 'H2Error';
    this.h2code = h2code;
    this.streamId = streamId;
  }
}

/** A connection error (§5.4.1). */
export function connError(h2code: number, message: string): H2Error {
  return new H2Error(h2code, 0, message);
}

/** A stream error (§5.4.2). */
export function streamError(h2code: number, streamId: number, message: string): H2Error {
  return new H2Error(h2code, streamId, message);
}
