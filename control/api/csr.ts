// Certificate signing API (HTTPS POST on 15012). The agent generates the key pair on its node and
// sends only a PKCS#10 CSR; the private key never leaves the node.

export const CSR_PATH = '/v1/certificates';
export const CSR_MAX_BODY = 64 * 1024;

export interface CsrRequest {
  /** PEM-encoded PKCS#10 certificate request with exactly one URI SAN: the SPIFFE ID. */
  csr: string;
  /** Requested lifetime in seconds; control caps it at its own maximum. */
  ttlSeconds?: number;
}

export interface CsrResponse {
  /** Leaf first, then intermediates (PEM). */
  certChain: string[];
  /** Every trust anchor agents must accept now (PEM); more than one during a rotation. */
  trustAnchors: string[];
  notBefore: string;
  notAfter: string;
  /** Control's clock when it signed (ISO 8601, ms): agents compare it with theirs to see skew. */
  issuedAt?: string;
}

/** Body of any 4xx/5xx answer from control's API. */
export interface ApiError {
  code: string;
  message: string;
}
