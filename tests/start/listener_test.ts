import assert from "node:assert/strict";
import { superviseServe } from "../../lib/start/listener.ts";
import { isDescriptorExhaustion } from "../../lib/os_errors.ts";
import { formatText } from "../../lib/log.ts";
import { prometheusText } from "../../lib/metric_catalogue.ts";
import { Metrics } from "../../lib/metrics.ts";
import { openWebSocket, until, withDeadline } from "../_client.ts";

/** A stand-in for Deno.serve whose accept loop the test ends. */
class FakeServer {
  static started: FakeServer[] = [];
  static failListens = 0;
  static listenAttempts = 0;
  static failWith = () => new Error("Too many open files (os error 24)");
  readonly addr: Deno.NetAddr;
  readonly finished: Promise<void>;
  shutdowns = 0;
  /** What the supervisor passed as the request handler. */
  handler: Deno.ServeHandler<Deno.NetAddr> | undefined;
  #settle!: { resolve: () => void; reject: (error: unknown) => void };

  constructor(port: number) {
    this.addr = { transport: "tcp", hostname: "127.0.0.1", port: port || 4321 };
    this.finished = new Promise((resolve, reject) => {
      this.#settle = { resolve, reject };
    });
  }
  static serve(
    options: Deno.ServeTcpOptions,
    handler: Deno.ServeHandler<Deno.NetAddr>,
  ): Deno.HttpServer<Deno.NetAddr> {
    FakeServer.listenAttempts++;
    if (FakeServer.failListens > 0) {
      FakeServer.failListens--;
      throw FakeServer.failWith();
    }
    const server = new FakeServer(options.port ?? 0);
    server.handler = handler;
    FakeServer.started.push(server);
    return server as unknown as Deno.HttpServer<Deno.NetAddr>;
  }
  fail(error: unknown) {
    this.#settle.reject(error);
  }
  /** Passes one request to the supervisor's handler, as Deno would. */
  request(path = "/healthz") {
    const addr = this.addr;
    return this.handler!(new Request(`http://127.0.0.1${path}`), {
      remoteAddr: addr,
      completed: Promise.resolve(),
    });
  }
  shutdown() {
    this.shutdowns++;
    this.#settle.resolve();
    return this.finished.catch(() => {});
  }
}

Deno.test("superviseServe() listens again on the same port after EMFILE", async (t) => {
  FakeServer.started = [];
  FakeServer.failListens = 0;
  const lines: string[] = [];
  const server = superviseServe(() => new Response("ok"), {
    serve: { port: 0, hostname: "127.0.0.1" },
    log: (record) => lines.push(formatText(record)),
    retryMinMs: 1,
    retryMaxMs: 1000,
    // However slow the machine, the third step's failure is within it.
    logIntervalMs: 60_000,
    serveFn: FakeServer.serve,
  });
  const first = FakeServer.started[0]!;
  // Every listen fails until the second step lets one through: the retries
  // come 1 ms apart, faster than a test can look between them.
  FakeServer.failListens = Number.MAX_SAFE_INTEGER;
  assert.equal(server.addr.port, 4321);
  assert.deepEqual(server.state, {
    accepting: true,
    acceptFailures: 0,
    listenFailures: 0,
    recycles: 0,
  });

  await t.step("failure: one line, not accepting", async () => {
    first.fail(
      new Deno.errors.Http("Error: Too many open files (os error 24)"),
    );
    await until(() => lines.length === 1, "failure line");
    assert.equal(server.state.accepting, false);
    assert.equal(server.state.acceptFailures, 1);
    assert.equal(
      server.state.lastAcceptError,
      "Too many open files (os error 24)",
    );
    assert.equal(
      lines[0],
      'listener accept failed port=4321 error="Too many open files (os error 24)" retry_ms=1 failures=1',
    );
  });
  await t.step(
    "failed listens, then accepting on the same port",
    async () => {
      const attempts = FakeServer.listenAttempts;
      await until(
        () => FakeServer.listenAttempts >= attempts + 2,
        "two more failed listens",
      );
      assert.equal(server.state.accepting, false);
      assert.equal(lines.length, 1, "a failed listen logs nothing");
      FakeServer.failListens = 0;
      await until(() => server.state.accepting, "accepting again");
      assert.equal(FakeServer.started.length, 2);
      assert.equal(FakeServer.started[1]!.addr.port, 4321);
      assert.equal(lines.length, 2);
      const tries = Number(lines[1]!.match(/attempts=(\d+)$/)?.[1]);
      assert.match(
        lines[1]!,
        /^listener accepting port=4321 after_ms=\d+ attempts=\d+$/,
      );
      assert.ok(tries >= 3, lines[1]);
    },
  );
  await t.step(
    "failing again soon after: back as soon, counted but not logged",
    async () => {
      FakeServer.started[1]!.fail(
        new Deno.errors.Http("Error: Too many open files (os error 24)"),
      );
      await until(() => FakeServer.started.length === 3, "listening again");
      await until(() => server.state.accepting, "accepting again");
      assert.equal(server.state.acceptFailures, 2);
      assert.equal(lines.length, 2);
    },
  );
  await t.step("shutdown stops every server, old and new", async () => {
    await server.shutdown();
    await server.shutdown();
    await server.finished;
    assert.deepEqual(FakeServer.started.map((s) => s.shutdowns), [1, 1, 1]);
    assert.equal(server.state.accepting, false);
  });
});

Deno.test("superviseServe() listens again after retryMinMs however often accepting fails, and logs one line per logIntervalMs counting the failures between", async (t) => {
  FakeServer.started = [];
  FakeServer.failListens = 0;
  const emfile = () =>
    new Deno.errors.Http("Error: Too many open files (os error 24)");
  const lines: string[] = [];
  /** When each failure line was logged (`performance.now()` ms). */
  const failedLinesAt: number[] = [];
  const server = superviseServe(() => new Response("ok"), {
    serve: { port: 0, hostname: "127.0.0.1" },
    log: (record) => {
      lines.push(formatText(record));
      if (record.event === "listener_accept_failed") {
        failedLinesAt.push(performance.now());
      }
    },
    retryMinMs: 20,
    retryMaxMs: 1000,
    logIntervalMs: 400,
    serveFn: FakeServer.serve,
  });
  /** The `failures=` count of each failure line, in order. */
  const counted = () =>
    lines.filter((line) => line.startsWith("listener accept failed"))
      .map((line) => Number(line.match(/ failures=(\d+)$/)?.[1]));
  try {
    await t.step("ten failures at once: each listened again", async () => {
      for (let index = 0; index < 10; index++) {
        FakeServer.started[index]!.fail(emfile());
        await until(
          () => FakeServer.started.length === index + 2,
          `back after failure ${index + 1}`,
        );
      }
      assert.equal(server.state.acceptFailures, 10);
    });
    await t.step(
      "the first failure's line at once, then at most one per logIntervalMs, each with its recovery; every retry after retryMinMs",
      () => {
        // Ten failures take ~250 ms quiet, so one line; on a busy machine
        // they can outlast logIntervalMs and log a second: both are right.
        assert.equal(counted()[0], 1, lines.join("\n"));
        for (let index = 1; index < failedLinesAt.length; index++) {
          const apart = failedLinesAt[index]! - failedLinesAt[index - 1]!;
          assert.ok(apart >= 400, `lines ${Math.round(apart)} ms apart`);
        }
        lines.forEach((line, index) =>
          assert.match(
            line,
            index % 2 === 0
              // Before, each failure within retryMaxMs of coming back
              // doubled the wait: 20, 40, 80 ... 1000 ms.
              ? /^listener accept failed .* retry_ms=20 failures=\d+$/
              : /^listener accepting /,
          )
        );
      },
    );
    await t.step(
      "after logIntervalMs, the next failure's line counts the unlogged failures and itself",
      async () => {
        const before = lines.length;
        const unlogged = 10 - counted().reduce((a, b) => a + b);
        const last = failedLinesAt.at(-1)!;
        await until(() => performance.now() - last > 450, "450 ms");
        FakeServer.started.at(-1)!.fail(emfile());
        await until(
          () => lines.length === before + 2,
          "a failure and its recovery",
        );
        assert.match(
          lines[before]!,
          new RegExp(`^listener accept failed .* failures=${unlogged + 1}$`),
        );
        assert.match(lines[before + 1]!, /^listener accepting /);
      },
    );
  } finally {
    await server.shutdown();
  }
});

Deno.test("superviseServe() logs and counts every attempt to listen again that finds the port taken (another process may answer on it)", async () => {
  FakeServer.started = [];
  FakeServer.failListens = 0;
  const lines: string[] = [];
  const server = superviseServe(() => new Response("ok"), {
    serve: { port: 0, hostname: "127.0.0.1" },
    log: (record) => lines.push(formatText(record)),
    retryMinMs: 1,
    retryMaxMs: 8,
    logIntervalMs: 60_000,
    serveFn: FakeServer.serve,
  });
  try {
    FakeServer.failWith = () =>
      new Deno.errors.AddrInUse("Address already in use (os error 98)");
    FakeServer.failListens = 3;
    FakeServer.started[0]!.fail(
      new Deno.errors.Http("Error: Too many open files (os error 24)"),
    );
    await until(() => FakeServer.started.length === 2, "listening again");
    const failed = lines.filter((line) =>
      line.startsWith("listener listen failed")
    );
    assert.deepEqual(
      failed.map((line) => line.replace(/ retry_ms=\d+/, "")),
      [1, 2, 3].map((attempt) =>
        `listener listen failed port=4321 error="Address already in use (os error 98)" attempt=${attempt} failures=1`
      ),
      lines.join("\n"),
    );
    assert.equal(server.state.listenFailures, 3);
    assert.equal(
      server.state.lastListenError,
      "Address already in use (os error 98)",
    );
    assert.match(
      prometheusText(new Metrics(), { listener: server.state }),
      /^ws_echo_listener_listen_failures_total 3$/m,
    );
  } finally {
    FakeServer.failWith = () => new Error("Too many open files (os error 24)");
    await server.shutdown();
  }
});

/**
 * Stands a clock the test moves in for `performance.now` (what the
 * supervisor reads) until disposed; `until()` keeps the real one.
 */
function testClock() {
  const clock = {
    ms: 0,
    [Symbol.dispose]() {
      delete (performance as { now?: unknown }).now;
    },
  };
  Object.defineProperty(performance, "now", {
    value: () => clock.ms,
    configurable: true,
  });
  return clock;
}

Deno.test("superviseServe() counts a listener back for less than retryMaxMs before failing again as never back (downSince kept)", async (t) => {
  FakeServer.started = [];
  FakeServer.failListens = 0;
  // The stretches are read on this clock: a slow look between two failures
  // takes no time on it (on the real one, a look of 200 ms, retryMaxMs,
  // made "failing again at once" a new stretch).
  using clock = testClock();
  const emfile = () =>
    new Deno.errors.Http("Error: Too many open files (os error 24)");
  // The stretch's start as each failure is logged (the retry is 1 ms away).
  const sinces: number[] = [];
  const server = superviseServe(() => new Response("ok"), {
    serve: { port: 0, hostname: "127.0.0.1" },
    log: (record) => {
      if (record.event === "listener_accept_failed") {
        sinces.push(server.state.downSince!);
      }
    },
    retryMinMs: 1,
    retryMaxMs: 200,
    // Every failure logged: the log call is where its stretch is read.
    logIntervalMs: 0,
    serveFn: FakeServer.serve,
  });
  /** Each failure 1 ms after the last look: moments stay apart. */
  const fail = async (index: number) => {
    clock.ms += 1;
    FakeServer.started[index]!.fail(emfile());
    await until(
      () => FakeServer.started.length > index + 1,
      `back after failure ${index}`,
    );
    return sinces[index]!;
  };
  await t.step(
    "failing again at once: the first failure's moment",
    async () => {
      const first = await fail(0);
      assert.equal(await fail(1), first);
      assert.equal(await fail(2), first);
    },
  );
  await t.step("after retryMaxMs accepting: a new stretch", async () => {
    const before = await fail(3);
    clock.ms += 250;
    assert.ok((await fail(4)) > before);
  });
  await t.step(
    "a request through a listener started within the stretch: a new one",
    async () => {
      const stretch = await fail(5);
      assert.equal(await fail(6), stretch);
      // A crowd of clients ran it out, not a stuck process: it accepted.
      await FakeServer.started[7]!.request();
      assert.ok((await fail(7)) > stretch);
    },
  );
  await t.step(
    "a request through the listener that began the stretch: the same one",
    async () => {
      clock.ms += 250;
      const back = clock.ms;
      const stretch = await fail(8);
      assert.ok(stretch > back);
      // Its connections were accepted before it failed.
      await FakeServer.started[8]!.request();
      assert.equal(await fail(9), stretch);
    },
  );
  await server.shutdown();
});

/** A 101 as `Deno.upgradeWebSocket` makes (the constructor refuses 101). */
function switchingProtocols(): Response {
  return Object.defineProperty(
    Object.create(Response.prototype),
    "status",
    { value: 101 },
  ) as Response;
}

Deno.test("superviseServe() shuts down a failed listener that holds no WebSocket once its failure is retryMaxMs old; the first and one that passed on a 101 stay", async (t) => {
  FakeServer.started = [];
  FakeServer.failListens = 0;
  const emfile = () =>
    new Deno.errors.Http("Error: Too many open files (os error 24)");
  const server = superviseServe(
    (request) =>
      new URL(request.url).pathname === "/echo"
        ? switchingProtocols()
        : new Response("Server full", { status: 503 }),
    {
      serve: { port: 0, hostname: "127.0.0.1" },
      log: () => {},
      retryMinMs: 1,
      retryMaxMs: 50,
      serveFn: FakeServer.serve,
    },
  );
  const started = FakeServer.started;
  const fail = async (index: number) => {
    started[index]!.fail(emfile());
    await until(() => started.length > index + 1, `back after ${index}`);
  };
  try {
    await t.step(
      "a WebSocket through the second, a 503 through the third",
      async () => {
        await fail(0);
        await started[1]!.request("/echo");
        await fail(1);
        await started[2]!.request();
        await fail(2);
        assert.deepEqual(started.map((s) => s.shutdowns), [0, 0, 0, 0]);
      },
    );
    await t.step(
      "the next failure, 60 ms on: the third is shut down",
      async () => {
        const since = performance.now();
        await until(() => performance.now() - since > 60, "60 ms");
        await fail(3);
        assert.deepEqual(started.map((s) => s.shutdowns), [0, 0, 1, 0, 0]);
      },
    );
    await t.step("shutdown: the rest, once each", async () => {
      await server.shutdown();
      assert.deepEqual(started.map((s) => s.shutdowns), [1, 1, 1, 1, 1]);
    });
  } finally {
    await server.shutdown();
  }
});

Deno.test("superviseServe() shutdown cancels a pending retry", async () => {
  FakeServer.started = [];
  FakeServer.failListens = 0;
  const lines: string[] = [];
  const server = superviseServe(() => new Response("ok"), {
    serve: { port: 0 },
    log: (record) => lines.push(formatText(record)),
    retryMinMs: 1,
    retryMaxMs: 2,
    serveFn: FakeServer.serve,
  });
  FakeServer.failListens = Number.MAX_SAFE_INTEGER;
  FakeServer.started[0]!.fail(
    new Deno.errors.Http("Error: Too many open files in system (os error 23)"),
  );
  try {
    await until(() => lines.length === 1, "failure line");
    await server.shutdown();
    await server.finished;
    assert.equal(FakeServer.started.length, 1);
    assert.equal(server.state.acceptFailures, 1);
  } finally {
    FakeServer.failListens = 0;
  }
});

Deno.test("superviseServe() rejects finished on other accept errors", async () => {
  FakeServer.started = [];
  FakeServer.failListens = 0;
  const server = superviseServe(() => new Response("ok"), {
    serve: { port: 0 },
    log: () => {},
    serveFn: FakeServer.serve,
  });
  FakeServer.started[0]!.fail(new Deno.errors.Http("Error: boom"));
  await assert.rejects(server.finished, /boom/);
  await server.shutdown();
});

Deno.test("isDescriptorExhaustion() matches EMFILE and ENFILE only", () => {
  assert.ok(isDescriptorExhaustion(
    new Deno.errors.Http("Error: Too many open files (os error 24)"),
  ));
  assert.ok(isDescriptorExhaustion(
    new Error("Too many open files in system (os error 23)"),
  ));
  assert.ok(
    !isDescriptorExhaustion(new Error("Connection reset (os error 104)")),
  );
  assert.ok(!isDescriptorExhaustion(undefined));
});

Deno.test("superviseServe() counts a port the other workers still accept on as accepting, and joins them once it can listen", async (t) => {
  FakeServer.started = [];
  FakeServer.failListens = Number.MAX_SAFE_INTEGER;
  FakeServer.failWith = () =>
    new Deno.errors.AddrInUse("Address already in use (os error 98)");
  let othersAccepting = true;
  const lines: string[] = [];
  const server = superviseServe(() => new Response("ok"), {
    serve: { port: 4321, hostname: "127.0.0.1", reusePort: true },
    log: (record) => lines.push(formatText(record)),
    retryMinMs: 1,
    retryMaxMs: 20,
    failedWith: new Deno.errors.Http(
      "Error: Too many open files (os error 24)",
    ),
    otherWorkersAccepting: () => Promise.resolve(othersAccepting),
    serveFn: FakeServer.serve,
  });
  try {
    await t.step(
      "while another worker accepts: accepting, one line",
      async () => {
        await until(() => server.state.viaOtherWorkers === true, "shared");
        assert.equal(server.state.accepting, true);
        assert.equal(server.state.downSince, undefined);
        // It keeps trying, quietly.
        const attempts = FakeServer.listenAttempts;
        await until(
          () => FakeServer.listenAttempts >= attempts + 2,
          "two more attempts",
        );
        assert.deepEqual(lines, [
          'listener accept failed port=4321 error="Too many open files (os error 24)" retry_ms=1 failures=1',
          "listener served by other workers port=4321 retry_ms=20",
        ]);
      },
    );
    await t.step("once no other worker accepts: down again", async () => {
      othersAccepting = false;
      await until(() => !server.state.accepting, "down");
      assert.equal(server.state.viaOtherWorkers, undefined);
      assert.equal(typeof server.state.downSince, "number");
      // Now the port is held by no worker of this process: each try says so.
      await until(
        () => lines.some((line) => line.startsWith("listener listen failed")),
        "a listen failure logged",
      );
    });
    await t.step("once the port is free: listening, one line", async () => {
      FakeServer.failListens = 0;
      await until(() => server.state.accepting, "accepting");
      assert.equal(FakeServer.started.length, 1);
      assert.equal(server.state.viaOtherWorkers, undefined);
      const others = lines.filter((line) =>
        !line.startsWith("listener listen failed")
      );
      assert.equal(others.length, 3);
      assert.match(
        others[2]!,
        /^listener accepting port=4321 after_ms=\d+ attempts=\d+$/,
      );
      assert.equal(
        lines.filter((line) => line.startsWith("listener listen failed"))
          .length,
        server.state.listenFailures,
      );
    });
  } finally {
    FakeServer.failListens = 0;
    FakeServer.failWith = () => new Error("Too many open files (os error 24)");
    await server.shutdown();
  }
});

Deno.test("superviseServe() recycle: the closes queued just before it reach the clients (1013, not Deno's 1001), and the port accepts again", async () => {
  const CLIENTS = 10;
  const accepted: WebSocket[] = [];
  const server = superviseServe((request) => {
    const { socket, response } = Deno.upgradeWebSocket(request);
    accepted.push(socket);
    return response;
  }, { serve: { port: 0, hostname: "127.0.0.1" }, log: () => {} });
  const url = `ws://127.0.0.1:${server.addr.port}/`;
  const clients = await Promise.all(
    Array.from({ length: CLIENTS }, () => openWebSocket(url)),
  );
  try {
    const codes = clients.map((client) =>
      withDeadline(
        new Promise<number>((resolve) => {
          client.onclose = (event) => resolve(event.code);
        }),
        10_000,
        "the client's close",
      )
    );
    await until(
      () =>
        accepted.filter((s) => s.readyState === WebSocket.OPEN).length ===
          CLIENTS,
      "every server socket open",
    );
    // As the overload watch does: the closes, then the recycle, with no
    // turn of the event loop in between (a held loop gives none).
    for (const socket of accepted) socket.close(1013, "recycle");
    const downMs = await server.recycle(() => Promise.resolve(), 5000);
    assert.ok(downMs >= 0);
    assert.deepEqual(await Promise.all(codes), clients.map(() => 1013));
    assert.equal(server.state.recycles, 1);
    assert.equal(server.state.accepting, true);
    const again = await openWebSocket(url);
    const closedAgain = withDeadline(
      new Promise((resolve) => again.onclose = resolve),
      5000,
      "the new client's close",
    );
    again.close();
    await closedAgain;
  } finally {
    for (const client of clients) client.close();
    await server.shutdown();
  }
});
