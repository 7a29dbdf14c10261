// Where the dashboard may listen: loopback freely; anywhere else only with a token, checked at
// config time (all config errors at once) and again when the server starts.
import { ErrorCodes, WeftError } from '../../common/errors.ts';
import { isLoopbackHost } from '../../common/loopback.ts';

export { isLoopbackHost };

export function splitAddress(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[(.*)\]$/, '$1') || '0.0.0.0', port: Number(address.slice(i + 1)) };
}

/** Checks the bind and token before anything listens; the message tells the operator what to set. */
export function checkDashboardBind(address: string, token: string): void {
  const { host } = splitAddress(address);
  if (!isLoopbackHost(host) && token === '') {
    throw new WeftError(ErrorCodes.DASHBOARD_TOKEN_REQUIRED, `WEFT_DASHBOARD_ADDRESS ${address} is reachable beyond this machine: set WEFT_DASHBOARD_TOKEN (viewers send it as "Authorization: Bearer <token>" or ?token=), or bind to 127.0.0.1 and use kubectl port-forward`);
  }
}
