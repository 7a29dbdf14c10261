// The Date field of a response (RFC 9110 §6.6.1, IMF-fixdate), formatted once per second: node:http
// adds one to every response that lacks it, and so does the agent's own HTTP/1 writer.
let second = -1;
let text = '';

export function httpDate(nowMs: number = Date.now()): string {
  const s = Math.floor(nowMs / 1000);
  if (s !== second) {
    second = s;
    text = new Date(s * 1000).toUTCString();
  }
  return text;
}
