/** Reported in the config stream hello and /config_dump; bumped with each release. */
export const AGENT_VERSION = '0.1.0';
