// What the main thread holds of one proxy instance: a worker thread, or the proxy running inline
// on the main thread itself (WEFT_PROXY_INLINE). Both speak the same worker-protocol messages —
// inline over a MessageChannel inside the one isolate — so app.ts drives them alike and the proxy
// code does not know which it is. Inline saves a whole V8 isolate (its heap, its copy of the
// code and of the model), which is most of the agent's idle memory on a small node.
import { EventEmitter } from 'node:events';
import { MessageChannel, Worker, type MessagePort } from 'node:worker_threads';
import type { GuardedSink } from '../common/log-sink.ts';
import type { LogSink } from '../common/log.ts';
import { workerHeap, type HeapReading } from './admin/memory.ts';
import type { FromWorker, ToWorker, WorkerInit } from './worker-protocol.ts';

export interface ProxyThread {
  /** True when the proxy shares the main thread's isolate. */
  readonly inline: boolean;
  postMessage(m: ToWorker): void;
  onMessage(listener: (m: FromWorker) => void): void;
  /** The proxy failed (a worker crashed, or the inline proxy threw). */
  onError(listener: (err: Error) => void): void;
  /** Once, when the proxy has finished (after a drain) or was terminated. */
  onceExit(listener: () => void): void;
  terminate(): Promise<void>;
  /** Its own V8 heap; null inline (the main thread's heap is it) or when it does not answer. */
  heap(timeoutMs: number): Promise<HeapReading | null>;
}

export interface ProxyThreadOptions {
  init: WorkerInit;
  /** The agent's bundle (a worker runs the same file). */
  entry: URL;
  resourceLimits: { maxYoungGenerationSizeMb?: number; maxOldGenerationSizeMb?: number };
  /** The main thread's guarded stdout and stderr: every proxy's output goes through them. */
  sinks: { stdout: GuardedSink; stderr: GuardedSink };
}

/** What runWorker needs from where it runs (agent/worker.ts). */
export interface ProxyIo {
  port: MessagePort;
  stdout: LogSink;
  stderr: LogSink;
  inline: boolean;
}

class WorkerProxy implements ProxyThread {
  readonly inline = false;
  readonly #worker: Worker;

  constructor(o: ProxyThreadOptions) {
    this.#worker = new Worker(o.entry, { workerData: o.init, resourceLimits: o.resourceLimits, stdout: true, stderr: true });
    this.#worker.stdout.on('data', (d: Buffer) => o.sinks.stdout.write(d));
    this.#worker.stderr.on('data', (d: Buffer) => o.sinks.stderr.write(d));
  }

  postMessage(m: ToWorker): void {
    this.#worker.postMessage(m);
  }

  onMessage(listener: (m: FromWorker) => void): void {
    this.#worker.on('message', listener);
  }

  onError(listener: (err: Error) => void): void {
    this.#worker.on('error', listener);
  }

  onceExit(listener: () => void): void {
    this.#worker.once('exit', listener);
  }

  async terminate(): Promise<void> {
    await this.#worker.terminate();
  }

  heap(timeoutMs: number): Promise<HeapReading | null> {
    return workerHeap(this.#worker, timeoutMs);
  }
}

class InlineProxy implements ProxyThread {
  readonly inline = true;
  readonly #port: MessagePort;
  readonly #events = new EventEmitter();
  #exited = false;

  constructor(o: ProxyThreadOptions) {
    const { port1, port2 } = new MessageChannel();
    this.#port = port2;
    this.#port.on('message', (m: FromWorker) => this.#events.emit('message', m));
    const io: ProxyIo = { port: port1, stdout: o.sinks.stdout, stderr: o.sinks.stderr, inline: true };
    // Loaded only here: a main thread that runs workers never parses the proxy (scripts/build.ts).
    import('./worker.ts')
      .then(({ runWorker }) => runWorker(o.init, io))
      .then(() => this.#exit(), (err: unknown) => {
        this.#events.emit('error', err instanceof Error ? err : new Error(String(err)));
        this.#exit();
      });
  }

  postMessage(m: ToWorker): void {
    if (!this.#exited) this.#port.postMessage(m);
  }

  onMessage(listener: (m: FromWorker) => void): void {
    this.#events.on('message', listener);
  }

  onError(listener: (err: Error) => void): void {
    this.#events.on('error', listener);
  }

  onceExit(listener: () => void): void {
    if (this.#exited) queueMicrotask(listener);
    else this.#events.once('exit', listener);
  }

  /**
   * Nothing can be killed on the thread we run on: the ports close, so the proxy hears nothing
   * more. Called after a drain (the proxy has closed its listeners) or when starting failed.
   */
  async terminate(): Promise<void> {
    this.#exit();
  }

  heap(): Promise<HeapReading | null> {
    return Promise.resolve(null);
  }

  #exit(): void {
    if (this.#exited) return;
    this.#exited = true;
    this.#port.close();
    this.#events.emit('exit');
  }
}

export function startProxyThread(o: ProxyThreadOptions, inline: boolean): ProxyThread {
  return inline ? new InlineProxy(o) : new WorkerProxy(o);
}
