// Where an outbound request's attempt goes once the exchange chose an endpoint (the Forwarder of
// agent/http/exchange.ts): a pod on this node straight through LocalUpstream, after this node's
// policy (the agent is the destination's too; a denial is a 403 that never reaches the pod); a
// pod on another node as an HTTP/2 stream on the pooled mTLS session to its agent, opened at once
// when the source's certificate context is at hand, or after it (PeerAttempt) on an identity's
// first request.
import { PassThrough, Readable } from 'node:stream';
import { startH2Attempt } from '../http/h2-stream-attempt.ts';
import { requestHeaderList } from '../http/headers.ts';
import type { LocalUpstream } from '../http/local-upstream.ts';
import type { PeerKey, PeerSessions } from '../http/peer-sessions.ts';
import type { HttpEndpoint, Router } from '../http/router.ts';
import type { OutgoingHttpHeaders } from 'node:http';
import { endRequest, type AttemptBody, type AttemptRequest, type AttemptSink, type UpstreamAttempt } from '../http/upstream.ts';
import type { InboundAuthorizer } from '../policy/authorizer.ts';
import type { PolicyDecision } from '../policy/evaluate.ts';
import { authorizeHttp, deniedHeaders } from '../policy/http-authz.ts';

export interface OutboundForwardDeps {
  router: Router;
  local: LocalUpstream;
  peers: PeerSessions;
  hbonePort: number;
  /** Authorization of same-node requests (this agent is the destination's too). */
  policy?: InboundAuthorizer;
}

export class OutboundForwarder {
  readonly #d: OutboundForwardDeps;

  constructor(deps: OutboundForwardDeps) {
    this.#d = deps;
  }

  /** The exchange's Forwarder (bound once). */
  readonly forward = (ep: HttpEndpoint, r: AttemptRequest, sink: AttemptSink): UpstreamAttempt => {
    const d = this.#d;
    if (ep.local) {
      if (d.policy !== undefined) {
        const v = authorizeHttp(
          d.policy,
          { sourceIdentity: r.source, sourceAddress: r.sourceAddress, destination: ep.workload.key, destinationIdentity: ep.workload.identity, port: ep.port, transport: 'local' },
          { method: r.method, path: r.path, headers: r.headers },
        );
        if (v.denied !== undefined) return denied(v.denied, sink);
      }
      return d.local.start(r, sink);
    }
    const nodeIp = d.router.view.nodeAddress(ep.workload.node);
    if (nodeIp === undefined) {
      const a = new PassThrough();
      queueMicrotask(() => sink.onFailure(false, new Error(`node ${ep.workload.node} of ${ep.workload.key} is unknown`)));
      return { body: a, abort: () => a.destroy(), endWithTrailers: () => a.end() };
    }
    const key = { sourceIdentity: r.source, destinationIdentity: ep.workload.identity, node: { host: nodeIp, port: d.hbonePort } };
    const entry = d.peers.acquireNow(key);
    if (entry !== undefined) {
      // The common case: a recent certificate context, so the stream opens now.
      try {
        return startH2Attempt(entry.session, requestHeaderList(r, ep.id), r.bodyless, sink, d.peers, entry, r.mayTrail);
      } catch {
        d.peers.release(entry);
      }
    }
    return new PeerAttempt(d.peers, key, ep, r, sink);
  };
}

/** A same-node request the destination's policy denies: answered here, 403, never delivered. */
function denied(d: PolicyDecision, sink: AttemptSink): UpstreamAttempt {
  const body = Readable.from([]);
  queueMicrotask(() => {
    sink.onResponse(403, deniedHeaders(d), body);
    body.resume();
    body.once('end', () => sink.onEnd(undefined));
  });
  const sinkBody = new PassThrough();
  sinkBody.resume();
  return { body: sinkBody, abort: () => body.destroy(), endWithTrailers: () => sinkBody.end() };
}

/**
 * A request to a peer agent when the source's certificate context is not at hand: waits for it
 * (and the pooled session), buffering the body in a PassThrough meanwhile. The first request of
 * an identity goes this way; the rest take the synchronous path in `forward`.
 */
class PeerAttempt implements UpstreamAttempt {
  readonly body = new PassThrough();
  #inner: UpstreamAttempt | undefined = undefined;
  #aborted = false;
  /** The request's trailers: they end the inner attempt's body once the buffer is relayed. */
  trailers: OutgoingHttpHeaders | undefined = undefined;

  constructor(peers: PeerSessions, key: PeerKey, ep: HttpEndpoint, r: AttemptRequest, sink: AttemptSink) {
    const headers = requestHeaderList(r, ep.id);
    peers.acquire(key).then(
      (entry) => {
        if (this.#aborted) {
          peers.release(entry);
          return;
        }
        try {
          this.#inner = startH2Attempt(entry.session, headers, r.bodyless, sink, peers, entry, r.mayTrail);
        } catch (err) {
          peers.release(entry);
          sink.onFailure(false, err as Error);
          return;
        }
        // A bodyless request's stream ended with its HEADERS; the buffer has nothing to give it.
        if (r.bodyless) this.body.resume();
        else relayBody(this.body, this.#inner, this);
      },
      (err: unknown) => {
        if (!this.#aborted) sink.onFailure(false, err as Error);
      },
    );
  }

  abort(): void {
    this.#aborted = true;
    this.#inner?.abort();
    this.body.destroy();
  }

  endWithTrailers(trailers: OutgoingHttpHeaders): void {
    this.trailers = trailers;
    this.body.end();
  }
}

/**
 * The buffered body into the attempt's (a node Writable or the codec attempt's plain object, so no
 * pipe()): write, wait for 'drain' when it says stop, end. Once per identity's first request.
 */
function relayBody(from: PassThrough, inner: UpstreamAttempt, outer: PeerAttempt): void {
  const to: AttemptBody = inner.body;
  const resume = (): void => {
    from.resume();
  };
  from.on('data', (c: Buffer) => {
    if (to.destroyed) return;
    if (!to.write(c)) {
      from.pause();
      to.once('drain', resume);
    }
  });
  from.once('end', () => endRequest(inner, outer.trailers));
}
