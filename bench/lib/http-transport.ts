// Transport on node:http with a keep-alive Agent: the reference, and what real Node apps use.
import http from 'node:http';
import { codedError, type RequestSpec, type Transport } from './transport.ts';

export function httpTransport(spec: RequestSpec): Transport {
  const reuse = spec.newConnection !== true;
  const agent = new http.Agent({ keepAlive: reuse, maxSockets: spec.connections, maxFreeSockets: spec.connections });
  const headers: http.OutgoingHttpHeaders = { 'user-agent': 'weft-load' };
  if (!reuse) headers.connection = 'close';
  if (spec.body !== undefined) {
    headers['content-length'] = spec.body.length;
    headers['content-type'] = 'application/octet-stream';
  }
  return {
    name: 'http',
    send() {
      return new Promise((resolve, reject) => {
        const req = http.request(spec.url, { agent, method: spec.method, headers }, (res) => {
          res.on('data', () => {});
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        });
        req.setTimeout(spec.timeoutMs, () => req.destroy(codedError('ETIMEDOUT', `no response within ${spec.timeoutMs} ms`)));
        req.on('error', reject);
        req.end(spec.body);
      });
    },
    close() {
      agent.destroy();
    },
  };
}
