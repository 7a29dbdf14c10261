// The --url flag of the bench's clients (load-cli.ts, hold-cli.ts): required, and plain http://
// (h2c included), since the mesh is what adds TLS.
import { UsageError } from '../../tests/apps/app-cli.ts';

export function httpUrlFlag(raw: string | undefined): URL {
  if (raw === undefined) throw new UsageError('--url is required');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--url ${JSON.stringify(raw)} is not a URL`);
  }
  if (url.protocol !== 'http:') throw new UsageError('--url must be http://');
  return url;
}
