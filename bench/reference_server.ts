/**
 * The reference for `bench/run.ts`: the bare Deno echo, nothing else. Kept
 * minimal on purpose: every figure of the service is divided by this one's.
 *
 * Usage: `PORT=9000 deno run --allow-net --allow-env=PORT bench/reference_server.ts`
 */
Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.env.get("PORT")),
  onListen() {},
}, (request) => {
  const { socket, response } = Deno.upgradeWebSocket(request);
  socket.binaryType = "arraybuffer";
  socket.onmessage = (event) => socket.send(event.data);
  return response;
});
