import assert from "node:assert/strict";
import type { ListenerState } from "../../lib/services.ts";
import { withDeadline } from "../_client.ts";
import { startTestServer } from "../_server.ts";

// superviseServe() updates its `state` object in place when accept() fails
// with EMFILE; startServer() hands that object to `services.listener`. The
// /healthz route must report it, not the placeholder createApp() made.
Deno.test("/healthz reports the live listener state (not_accepting, acceptFailures)", async () => {
  await using server = startTestServer();
  const live = server.services.listener as ListenerState;
  // What listener.ts does when descriptors run out (a keep-alive connection
  // or a load balancer's pooled connection can still reach /healthz then).
  live.accepting = false;
  live.acceptFailures = 3;
  live.lastAcceptError = "Too many open files (os error 24)";
  const response = await withDeadline(
    fetch(`${server.http}/healthz`),
    5000,
    "/healthz",
  );
  const body = await response.json();
  assert.equal(body.status, "not_accepting");
  assert.equal(body.listener.accepting, false);
  assert.equal(body.listener.acceptFailures, 3);
});
