/**
 * Echo connections built as the app builds them (`serveEcho`, the defaults
 * with the bench's raised limits, a memory guard, the registry's lease), on
 * socket stand-ins whose `send` only counts: the service's own per-message
 * JavaScript (`handler_cost.ts`) and per-connection heap
 * (`connection_heap.ts`) without Deno's WebSocket or the network.
 *
 * @module
 */
import { serveEcho } from "../lib/connection/echo_connection.ts";
import { ConnectionSweep } from "../lib/connection/sweep.ts";
import { parseConfig } from "../lib/config.ts";
import { PLAIN_ECHO } from "../lib/connection/parse_options.ts";
import { MemoryGuard } from "../lib/admission/memory_guard.ts";
import { Metrics } from "../lib/metrics.ts";
import { ConnectionRegistry, type Lease } from "../lib/admission/slots.ts";
import { heldReadBytes } from "../lib/connection/backlog.ts";
import { RAISED_LIMITS } from "./run/targets.ts";

/** Counts sends; `bufferedAmount` stays 0 (a client that reads). */
export class CountingSocket {
  binaryType: BinaryType = "blob";
  readyState: number = WebSocket.OPEN;
  bufferedAmount = 0;
  sent = 0;
  listener: EventListenerObject | undefined;
  send(_data: string | ArrayBuffer): void {
    this.sent++;
  }
  close(): void {}
  addEventListener(_type: string, listener: EventListenerObject): void {
    this.listener = listener;
  }
}

/** What {@link StandIns.open} built, and how to let go of it. */
export class StandIns {
  readonly config = parseConfig(RAISED_LIMITS);
  readonly metrics = new Metrics();
  readonly memory = new MemoryGuard({
    budgetBytes: this.config.memoryBudgetBytes,
    maxRssBytes: this.config.maxRssBytes,
    freshBytes: heldReadBytes(this.config.maxMessageBytes),
  });
  readonly registry = new ConnectionRegistry({
    maxPerIp: this.config.maxConnectionsPerIp,
    maxTotal: this.config.maxConnections,
    clientMessageRate: {
      perSecond: this.config.rateLimitIpMessagesPerSecond,
      burst: this.config.rateLimitIpMessageBurst,
    },
  });
  readonly sweep = new ConnectionSweep(this.config.idleTimeoutSeconds * 1000);
  /** One for every connection, as the app has one `Services`. */
  readonly #services = {
    config: this.config,
    metrics: this.metrics,
    memory: this.memory,
    log: () => {},
    sweep: this.sweep,
  };
  /** Every stand-in socket opened, in order. */
  readonly sockets: CountingSocket[] = [];

  /**
   * Opens `count` more echo connections from 127.0.0.1 (as every bench
   * client is), each past its `open` event.
   *
   * @returns Their listeners (the connections), in order.
   */
  open(count: number): EventListenerObject[] {
    const listeners: EventListenerObject[] = [];
    for (let i = 0; i < count; i++) {
      const socket = new CountingSocket();
      const lease = this.registry.admit("127.0.0.1") as Lease;
      serveEcho(socket as unknown as WebSocket, {
        services: this.#services,
        lease,
        ip: "127.0.0.1",
        id: `bench-${this.sockets.length + 1}`,
        echo: PLAIN_ECHO,
        prelude: [],
        closeCommands: false,
      });
      socket.listener!.handleEvent(new Event("open"));
      this.sockets.push(socket);
      listeners.push(socket.listener!);
    }
    return listeners;
  }

  /** Stops the timers the services hold. */
  dispose(): void {
    this.sweep.dispose?.();
    this.memory.dispose();
    this.registry.dispose();
  }
}
