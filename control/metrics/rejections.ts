// Control's count of refused input — malformed or slow HTTP on its API and dashboard, CSRs it
// would not sign, credentials it did not accept, config-stream frames that broke the protocol —
// by a reason from a small fixed set, served as Prometheus text on GET /metrics of the API port.
// Same metric name as the agent's, so one alert covers the mesh.

export const REJECTED_METRIC = 'weft_rejected_input_total';

export class Rejections {
  readonly #counts = new Map<string, number>();

  count(reason: string): void {
    this.#counts.set(reason, (this.#counts.get(reason) ?? 0) + 1);
  }

  get(reason: string): number {
    return this.#counts.get(reason) ?? 0;
  }

  /** Every reason counted so far, with its count (control's OTLP export). */
  entries(): Array<[string, number]> {
    return [...this.#counts];
  }

  /** Prometheus text exposition (format 0.0.4). Reasons are ours, never client text. */
  render(): string {
    const lines = [
      `# HELP ${REJECTED_METRIC} Bad input control refused (HTTP parse errors and header timeouts, refused CSRs and credentials, config-stream protocol errors), by reason.`,
      `# TYPE ${REJECTED_METRIC} counter`,
    ];
    for (const [reason, n] of [...this.#counts].sort((a, b) => (a[0] < b[0] ? -1 : 1))) lines.push(`${REJECTED_METRIC}{reason="${reason}"} ${n}`);
    return lines.join('\n') + '\n';
  }
}

/** `WEFT_ERR_CSR_FORBIDDEN` → `csr_forbidden`: a stable code as a label value. */
export function reasonOf(code: string): string {
  return code.replace(/^WEFT_ERR_/, '').toLowerCase();
}
