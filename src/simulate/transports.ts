import { createSocket, type Socket } from 'node:dgram';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage as HttpResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { isIPv6 } from 'node:net';
import { Agent as CoapAgent, type IncomingMessage as CoapResponse } from 'coap';
import mqtt, { type MqttClient } from 'mqtt';
import type { Outcome, SimStats, Transport } from './runner.js';

export interface TransportOptions {
  /** How long one message may wait for its answer before it counts as failed (timeout). */
  timeoutMs: number;
  stats: SimStats;
}

/**
 * What every transport shares: sends queue behind a reboot's disconnect (so nothing
 * overtakes it), and a disconnect waits for the answers outstanding before it.
 */
class Lane {
  private gate: Promise<void> = Promise.resolve();
  private readonly outstanding = new Set<Promise<Outcome>>();

  send(fn: () => Promise<Outcome>): Promise<Outcome> {
    const p = this.gate.then(fn).catch((err: Error) => ({ code: 'error', outcome: 'fail' as const, detail: err.message }));
    this.outstanding.add(p);
    void p.finally(() => this.outstanding.delete(p));
    return p;
  }

  /** Runs `fn` once every message sent so far is answered; later sends wait for it. */
  after(fn: () => Promise<void> | void): Promise<void> {
    const waitFor = [...this.outstanding];
    this.gate = this.gate.then(async () => {
      await Promise.all(waitFor);
      await fn();
    }).catch(() => undefined);
    return this.gate;
  }
}

/** Resolves `p`, or rejects with a timeout error after `ms`. */
function withTimeout<T>(p: Promise<T>, ms: number, onTimeout?: () => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      onTimeout?.();
      reject(Object.assign(new Error(`no answer in ${ms} ms`), { timeout: true }));
    }, ms);
    p.then((v) => (clearTimeout(timer), resolve(v)), (err: unknown) => (clearTimeout(timer), reject(err)));
  });
}

const failure = (err: Error & { timeout?: boolean }): Outcome => ({ code: err.timeout ? 'timeout' : 'error', outcome: 'fail', detail: err.message });

/**
 * MQTT: one client (one TCP connection) per device, client id `weir-sim-<device>`,
 * persistent session (clean: false), publishing at `qos`. A reboot drops the TCP
 * connection without DISCONNECT, as a power cut would; the next reading opens a new
 * connection with the same client id, which resumes the session.
 */
export function mqttTransport(url: string, deviceId: string, topic: string, qos: 0 | 1 | 2, opts: TransportOptions): Transport {
  const lane = new Lane();
  let client: MqttClient | null = null;
  const connect = () => {
    const c = mqtt.connect(url, { clientId: `weir-sim-${deviceId}`, clean: false, reconnectPeriod: 1000, connectTimeout: Math.min(opts.timeoutMs, 30_000) });
    c.on('connect', () => opts.stats.connections++);
    c.on('error', () => undefined); // surfaces as the publishes' timeouts or errors
    return c;
  };
  const acked: Outcome = qos === 0 ? { code: 'QoS0', outcome: 'none' } : { code: qos === 1 ? 'PUBACK' : 'PUBCOMP', outcome: 'ack' };
  const drop = (force: boolean) => lane.after(async () => {
    const c = client;
    client = null;
    if (!c) return;
    // A graceful end waits for unacknowledged publishes and never returns while the broker is unreachable.
    if (force || !c.connected) return c.endAsync(true);
    await withTimeout(c.endAsync(false), 2000).catch(() => c.endAsync(true));
  });
  return {
    send: (payload) => lane.send(() => {
      client ??= connect();
      return withTimeout(client.publishAsync(topic, payload, { qos }), opts.timeoutMs).then(() => acked, failure);
    }),
    disconnect: () => drop(true),
    close: () => drop(false),
  };
}

/** A CoAP target from `--coap`: a coap:// URL or host:port; the URL's path, if any, replaces the profile's. */
export function coapTarget(spec: string, profilePath: string): { host: string; port: number; path: string } {
  const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(spec) ? spec : `coap://${spec}`);
  if (url.protocol !== 'coap:') throw new Error(`--coap: only coap:// is supported (no DTLS), not ${url.protocol}//`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  return { host, port: url.port ? Number(url.port) : 5683, path: url.pathname !== '/' && url.pathname !== '' ? url.pathname : profilePath };
}

function coapOutcome(res: CoapResponse): Outcome {
  const cls = res.code[0];
  const detail = cls === '2' ? undefined : res.payload?.toString('utf8') || undefined;
  return { code: res.code, outcome: cls === '2' ? 'ack' : cls === '4' ? 'reject' : 'fail', ...(detail ? { detail } : {}) };
}

/**
 * CoAP: confirmable POSTs with Content-Format application/json, from one endpoint (one
 * UDP socket and one coap.Agent) per device. Message IDs are 16 bits per endpoint
 * (RFC 7252 §4.4) and the server deduplicates by (endpoint, MID) for EXCHANGE_LIFETIME
 * (247 s): many devices sharing one socket at a high rate would wrap the MID space
 * within that time, and a reused MID would be answered from the dedup cache instead of
 * being processed — a silent loss. One endpoint per device keeps each device within
 * 65536 MIDs per 247 s (≈ 265 messages/s; the CLI refuses higher rates). The Agent
 * gets its socket handed in, so it keeps it (and its source port and MID sequence)
 * between requests instead of closing it whenever nothing is in flight. A reboot
 * closes the endpoint; the device comes back on a new port with a new MID sequence.
 */
export function coapTransport(target: { host: string; port: number; path: string }, opts: TransportOptions): Transport {
  const lane = new Lane();
  let endpoint: { socket: Socket; agent: CoapAgent } | null = null;
  const open = () => {
    const socket = createSocket(isIPv6(target.host) ? 'udp6' : 'udp4');
    socket.on('error', () => undefined); // surfaces as the requests' errors or timeouts
    opts.stats.connections++;
    return { socket, agent: new CoapAgent({ socket }) };
  };
  const drop = () => lane.after(() => new Promise<void>((resolve) => {
    const e = endpoint;
    endpoint = null;
    if (!e) return resolve();
    e.socket.close(() => resolve());
  }));
  return {
    send: (payload) => lane.send(() => {
      endpoint ??= open();
      const { agent } = endpoint;
      const req = agent.request({ hostname: target.host, port: target.port, pathname: target.path, method: 'POST', confirmable: true, contentFormat: 'application/json' });
      const answer = new Promise<Outcome>((resolve, reject) => {
        req.on('response', (res: CoapResponse) => {
          res.resume();
          resolve(coapOutcome(res));
        });
        req.on('error', reject);
        req.on('timeout', (err: Error) => reject(Object.assign(err, { timeout: true })));
      });
      req.end(payload);
      // Our own deadline, shorter than the library's EXCHANGE_LIFETIME; aborting stops the retransmissions.
      return withTimeout(answer, opts.timeoutMs, () => agent.abort(req)).catch(failure);
    }),
    disconnect: drop,
    close: drop,
  };
}

/**
 * HTTP(S): POST to `url`, one keep-alive connection per device (an Agent with
 * maxSockets 1, as a device's HTTP client has), so a device's requests go one after
 * another and in order. A reboot destroys the connection; the next request opens one.
 */
export function httpTransport(url: URL, opts: TransportOptions): Transport {
  const lane = new Lane();
  const https = url.protocol === 'https:';
  if (!https && url.protocol !== 'http:') throw new Error(`--http: expected an http:// or https:// URL, not ${url.protocol}//`);
  const seen = new WeakSet<object>();
  let agent: HttpAgent | null = null;
  const drop = () => lane.after(() => {
    agent?.destroy();
    agent = null;
  });
  return {
    send: (payload, contentType) => lane.send(() => {
      agent ??= https ? new HttpsAgent({ keepAlive: true, maxSockets: 1 }) : new HttpAgent({ keepAlive: true, maxSockets: 1 });
      const req = (https ? httpsRequest : httpRequest)(url, { method: 'POST', agent, headers: { 'content-type': contentType, 'content-length': payload.length } });
      req.on('socket', (s) => {
        if (!seen.has(s)) opts.stats.connections++;
        seen.add(s);
      });
      const answer = new Promise<Outcome>((resolve, reject) => {
        req.on('response', (res: HttpResponse) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            const cls = Math.floor(status / 100);
            const detail = cls === 2 ? undefined : Buffer.concat(chunks).toString('utf8').trim().slice(0, 200) || undefined;
            resolve({ code: String(status), outcome: cls === 2 ? 'ack' : cls === 4 ? 'reject' : 'fail', ...(detail ? { detail } : {}) });
          });
        });
        req.on('error', reject);
      });
      req.end(payload);
      return withTimeout(answer, opts.timeoutMs, () => req.destroy()).catch(failure);
    }),
    disconnect: drop,
    close: drop,
  };
}
