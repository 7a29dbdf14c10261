// The redirect door: the Redirector seam, its registry, and the built-in implementations
// (importing this module registers them).
export {
  createRedirector, registerRedirector, redirectorNames, resolveRedirectorOptions, REDIRECT_DEFAULTS,
  type Redirector, type RedirectWorkload, type RedirectorOptions, type RedirectorFactory, type ResolvedRedirectorOptions,
} from './redirector.ts';
export { runCommand, type CommandRunner, type CommandResult } from './command-runner.ts';
export { IptablesRedirector } from './iptables-redirector.ts';
export { EbpfRedirector, defaultObjectDir, type EbpfRedirectorOptions } from './ebpf-redirector.ts';
export {
  createPodCapture, registerPodCapture, podCaptureNames,
  type PodCapture, type PodCaptureOptions, type PodCaptureFactory, type PodNetns, type OriginalDestination,
} from './pod-capture.ts';
export { InpodIptablesCapture } from './inpod-iptables.ts';
