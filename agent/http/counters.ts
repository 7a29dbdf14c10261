// L7 counters: plain numbers, summed across workers and shown under /config_dump proxy.l7.
export interface L7Counters {
  detectedHttp1: number;
  detectedH2: number;
  detectedTcp: number;
  /** Connections that sent nothing within the detection timeout (carried as TCP). */
  detectTimeouts: number;
  requests: number;
  responses5xx: number;
  retries: number;
  retryBudgetExhausted: number;
  timeouts: number;
  idleTimeouts: number;
  upgrades: number;
  ejections: number;
  probes: number;
  recoveries: number;
  ejectionsCapped: number;
  /** Request trailer fields the rule of trailer-fields.ts kept from the next hop (framing, routing, auth…). */
  requestTrailerFieldsDropped: number;
  /** Response trailer fields the same rule kept from the app (or, on the destination agent, from the peer). */
  responseTrailerFieldsDropped: number;
  /** Request trailer sections dropped whole: the pod's request was framed by Content-Length, which carries none (h1-client.ts). */
  requestTrailersDropped: number;
}

export function newL7Counters(): L7Counters {
  return {
    detectedHttp1: 0, detectedH2: 0, detectedTcp: 0, detectTimeouts: 0, requests: 0, responses5xx: 0, retries: 0,
    retryBudgetExhausted: 0, timeouts: 0, idleTimeouts: 0, upgrades: 0, ejections: 0, probes: 0, recoveries: 0, ejectionsCapped: 0,
    requestTrailerFieldsDropped: 0, responseTrailerFieldsDropped: 0, requestTrailersDropped: 0,
  };
}
