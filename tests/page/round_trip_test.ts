/**
 * The page's round trip (static/connection.js) runs from before `send()` to
 * the echo's message event, so it is never shorter than the time the
 * message was really away: tested with a fake WebSocket and a fake clock,
 * without a browser.
 */
import assert from "node:assert/strict";
import { Connection } from "../../static/connection.js";

/** A WebSocket that is open at once and whose send() takes `sendMs`. */
class SlowSendSocket extends EventTarget {
  static OPEN = 1;
  static CLOSING = 2;
  static last: SlowSendSocket | undefined;
  readyState = 1;
  bufferedAmount = 0;
  binaryType = "blob";
  constructor(readonly url: string) {
    super();
    SlowSendSocket.last = this;
  }
  send(_data: unknown) {
    clock += sendMs;
  }
  close() {
    this.readyState = 3;
  }
}

let clock = 1000;
let sendMs = 0;

Deno.test("the round trip counts from before send(): a send that takes 40 ms is inside it", async (t) => {
  const realSocket = globalThis.WebSocket;
  const realNow = performance.now;
  Object.assign(globalThis, { WebSocket: SlowSendSocket });
  performance.now = () => clock;
  try {
    const connection = new Connection();
    const trips: number[] = [];
    connection.addEventListener("message", (event) => {
      trips.push((event as CustomEvent).detail.roundTrip);
    });
    connection.open(new URL("ws://localhost:9998/echo"), []);
    const socket = SlowSendSocket.last!;
    const echo = (data: string) =>
      socket.dispatchEvent(new MessageEvent("message", { data }));

    await t.step("send()", () => {
      sendMs = 40;
      connection.send("hello");
      clock += 300;
      echo("hello");
      assert.deepEqual(trips, [340]);
    });
    await t.step("a burst: each message from before its own send()", () => {
      sendMs = 10;
      connection.sendMany(new Uint8Array(4), 2);
      clock += 100;
      echo("a");
      echo("b");
      assert.deepEqual(trips.slice(1), [120, 110]);
    });
  } finally {
    Object.assign(globalThis, { WebSocket: realSocket });
    performance.now = realNow;
  }
});
