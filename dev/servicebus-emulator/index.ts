/**
 * Local Service Bus emulator: AMQP 1.0 on rhea, good enough that the real `@azure/service-bus` client
 * runs unchanged against it, with several namespaces, SAS and Entra (JWT) authorization, and optional
 * persistence. `startServiceBusEmulator(config)` for tests and the dev stack; `cli.ts` for a terminal.
 */
import path from "node:path";
import { ensureDevCertificate } from "../certs";
import { EmulatorConfig, parseEmulatorConfig, WELL_KNOWN_KEY, WELL_KNOWN_KEY_NAME } from "./config";
import { Namespace } from "./namespace";
import { Logger, NamespaceServer } from "./server";
import type { NamespaceStats } from "./stats";

export { parseEmulatorConfig, EmulatorConfigError } from "./config";
export type { EmulatorConfig } from "./config";
export type { EntityStatsView, NamespaceStats } from "./stats";

export interface EmulatorOptions {
  /** Listen address; loopback by default. */
  host?: string;
  /**
   * Persist here (per namespace a snapshot and a write-ahead log, see persistence.ts): an acknowledged
   * operation survives kill -9. In memory when omitted.
   */
  dataDir?: string;
  /** Folder of the dev certificate for TLS ports (generated when missing); default `<dataDir or cwd>/.certs`. */
  certDir?: string;
  log?: Logger;
}

export interface RunningNamespace {
  name: string;
  /** The host name clients put in connection strings or use as fullyQualifiedNamespace. */
  fqdn: string;
  port: number;
  tlsPort?: number;
  /** `sb://127.0.0.1:<port>`: the plain endpoint. */
  endpoint: string;
  /** `sb://127.0.0.1:<tlsPort>`: for `customEndpointAddress` with a TokenCredential. */
  tlsEndpoint?: string;
  /** A development connection string with a Manage policy. */
  connectionString: string;
  namespace: Namespace;
}

export interface RunningEmulator {
  namespaces: RunningNamespace[];
  namespace(name: string): RunningNamespace;
  /** Operation counters by namespace name (see stats.ts for exactly what is counted). */
  stats(): Record<string, NamespaceStats>;
  stop(): Promise<void>;
}

export async function startServiceBusEmulator(
  config: unknown,
  options: EmulatorOptions = {},
): Promise<RunningEmulator> {
  const parsed: EmulatorConfig = parseEmulatorConfig(config);
  const host = options.host ?? "127.0.0.1";
  const servers: NamespaceServer[] = [];
  const running: RunningNamespace[] = [];
  const needsTls = parsed.UserConfig.Namespaces.some((n) => n.TlsPort !== undefined);
  const cert = needsTls
    ? await ensureDevCertificate(options.certDir ?? path.join(options.dataDir ?? process.cwd(), ".certs"))
    : undefined;
  try {
    for (const nsConfig of parsed.UserConfig.Namespaces) {
      const ns = new Namespace(nsConfig, options.dataDir, (error) =>
        options.log?.("error", "emulator: namespace error (sweep or write-ahead log)", {
          namespace: nsConfig.Name,
          error: String(error),
        }),
      );
      const server = new NamespaceServer(ns, options.log);
      servers.push(server);
      const port = await server.listen({ port: nsConfig.Port, host });
      const tlsPort =
        nsConfig.TlsPort !== undefined && cert
          ? await server.listen({ port: nsConfig.TlsPort, host, tls: { cert: cert.cert, key: cert.key } })
          : undefined;
      const policy = nsConfig.SharedAccessPolicies.find((p) => p.Rights.includes("Manage")) ?? {
        Name: WELL_KNOWN_KEY_NAME,
        Key: WELL_KNOWN_KEY,
      };
      running.push({
        name: nsConfig.Name,
        fqdn: nsConfig.Fqdn ?? "localhost",
        port,
        tlsPort,
        endpoint: `sb://127.0.0.1:${port}`,
        // By name: TLS clients send it as SNI, which an IP address cannot be.
        tlsEndpoint: tlsPort === undefined ? undefined : `sb://localhost:${tlsPort}`,
        connectionString: `Endpoint=sb://localhost:${port};SharedAccessKeyName=${policy.Name};SharedAccessKey=${policy.Key};UseDevelopmentEmulator=true;`,
        namespace: ns,
      });
    }
  } catch (error) {
    await Promise.all(servers.map((s) => s.close()));
    for (const s of servers) s.ns.close();
    throw error;
  }
  return {
    namespaces: running,
    namespace(name: string) {
      const found = running.find((n) => n.name.toLowerCase() === name.toLowerCase());
      if (!found) throw new Error(`No emulated namespace named "${name}".`);
      return found;
    },
    stats() {
      return Object.fromEntries(running.map((n) => [n.name, n.namespace.stats()]));
    },
    async stop() {
      await Promise.all(servers.map((s) => s.close()));
      for (const s of servers) s.ns.close();
    },
  };
}
