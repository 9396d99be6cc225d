import { isIPv6 } from 'node:net';

/**
 * `host:port` addresses (kafka.brokers, $WEIR_KAFKA_BROKERS), written as in a URL's
 * authority (RFC 3986 §3.2.2–3.2.3): a name or IPv4 address as is, an IPv6 address in
 * brackets — `[::1]:9092` — since its own colons would otherwise run into the port's.
 * No zod here: the forwarder's thread needs the split without the config schema.
 */

export interface HostPort {
  /** Without brackets, as net.connect takes it. */
  host: string;
  port: number;
}

const BRACKETED = /^\[([^\]]*)\]:(\d{1,5})$/;
const PLAIN = /^([^\s:[\]]+):(\d{1,5})$/;

function parse(text: string): HostPort | string {
  const m = BRACKETED.exec(text) ?? PLAIN.exec(text);
  if (!m) {
    return text.indexOf(':') !== text.lastIndexOf(':') && !text.startsWith('[')
      ? 'must be host:port, with an IPv6 address in brackets, e.g. [::1]:9092 (RFC 3986 §3.2.2)'
      : 'must be host:port';
  }
  const host = m[1]!;
  const port = Number(m[2]);
  if (text.startsWith('[') && !isIPv6(host)) return `must be host:port; [${host}] is not an IPv6 address`;
  if (port < 1 || port > 65535) return 'must be host:port with a port of 1–65535';
  return { host, port };
}

/** What is wrong with `text` as host:port, or undefined when it is one. */
export function hostPortProblem(text: string): string | undefined {
  const r = parse(text);
  return typeof r === 'string' ? r : undefined;
}

/** Host and port of an address the config schema accepted (hostPortProblem); throws on any other. */
export function splitHostPort(text: string): HostPort {
  const r = parse(text);
  if (typeof r === 'string') throw new Error(`${text}: ${r}`);
  return r;
}
