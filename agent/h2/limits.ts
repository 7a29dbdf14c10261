// The limits a public-facing HTTP/2 peer holds, in one place with their defaults, and the
// counter they share. Each is a decision the connection asks for; none is a timer.
//  - rapid reset (CVE-2023-44487): RST_STREAMs from the peer, plus streams we refused, per window;
//  - CONTINUATION floods (CVE-2024-27316 and kin): a header block's encoded size and frame count;
//  - HPACK bombs: the decoded header list size (SETTINGS_MAX_HEADER_LIST_SIZE, RFC 9113 §10.5.1);
//  - control-frame floods (CVE-2019-9512/9515/9518): PINGs, SETTINGS and empty frames per window;
//  - concurrency: SETTINGS_MAX_CONCURRENT_STREAMS; flow control: windows (FLOW_CONTROL_ERROR).

export interface H2Limits {
  /** SETTINGS_MAX_CONCURRENT_STREAMS we announce; streams over it are refused (REFUSED_STREAM). */
  maxConcurrentStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE we announce and enforce on decoded header lists. */
  maxHeaderListSize: number;
  /** Largest encoded header block (HEADERS + CONTINUATION payloads) before ENHANCE_YOUR_CALM. */
  maxHeaderBlockSize: number;
  /** Most CONTINUATION frames in one header block before ENHANCE_YOUR_CALM. */
  maxContinuationFrames: number;
  /** Peer RST_STREAMs plus refused streams allowed per `resetWindowMs` before GOAWAY ENHANCE_YOUR_CALM. */
  maxResetsPerWindow: number;
  resetWindowMs: number;
  /** PING + SETTINGS frames and empty DATA/HEADERS-less frames from the peer per `controlWindowMs`. */
  maxControlFramesPerWindow: number;
  controlWindowMs: number;
  /** How long the peer may take to acknowledge our SETTINGS (SETTINGS_TIMEOUT). */
  settingsTimeoutMs: number;
  /** Closed streams remembered, to tell late frames from protocol errors (§5.1 closed). */
  closedStreamMemory: number;
}

export const DEFAULT_LIMITS: H2Limits = {
  maxConcurrentStreams: 256,
  maxHeaderListSize: 64 * 1024,
  maxHeaderBlockSize: 128 * 1024,
  maxContinuationFrames: 32,
  // Well above what a legitimate peer does: a source agent whose client gives up on all 256
  // concurrent streams at once resets 256 in an instant (an app shutting down, a deadline
  // storm), and a false ENHANCE_YOUR_CALM would fail every other request on that session. The
  // attack needs tens of thousands per second to matter; 1000 bounds the stream setups a peer
  // can make us waste (nghttp2 allows a burst of 1000 too).
  maxResetsPerWindow: 1000,
  resetWindowMs: 1000,
  maxControlFramesPerWindow: 1000,
  controlWindowMs: 1000,
  settingsTimeoutMs: 10_000,
  closedStreamMemory: 256,
};

/** Events in a fixed window: `hit(now)` counts one and says whether the count went over `limit`. */
export class WindowCounter {
  #start = 0;
  #count = 0;
  readonly limit: number;
  readonly windowMs: number;

  constructor(limit: number, windowMs: number) {
    this.limit = limit;
    this.windowMs = windowMs;
  }

  hit(now: number): boolean {
    if (now - this.#start >= this.windowMs) {
      this.#start = now;
      this.#count = 0;
    }
    this.#count++;
    return this.#count > this.limit;
  }
}
