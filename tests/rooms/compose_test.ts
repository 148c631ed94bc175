import assert from "node:assert/strict";
import { parse } from "yaml";
import { parseConfig } from "../../lib/config.ts";
import { ROOT } from "../_server.ts";

Deno.test("deploy/compose.yaml runs two instances that share rooms through its Redis", async () => {
  const compose = parse(
    await Deno.readTextFile(`${ROOT}/deploy/compose.yaml`),
    { merge: true },
  );
  const redis = compose.services.redis;
  assert.match(redis.image, /^redis:\d/);
  assert.deepEqual(
    redis.command,
    ["redis-server", "--save", "", "--appendonly", "no"],
    "pub/sub only: nothing saved",
  );
  const instances = Object.entries(compose.services)
    .filter(([name]) => name.startsWith("ws-echo"));
  assert.equal(instances.length, 2);
  const ports = new Set<string>();
  for (const [name, service] of instances) {
    const { environment, depends_on, build, ports: published } = service as {
      environment: Record<string, string>;
      depends_on: string[];
      build: { dockerfile: string };
      ports: string[];
    };
    assert.equal(build.dockerfile, "deploy/Dockerfile", name);
    assert.ok(depends_on.includes("redis"), `${name} starts after redis`);
    const config = parseConfig(environment);
    assert.equal(config.redisUrl, "redis://redis:6379", name);
    for (const port of published) ports.add(port.split(":")[0]!);
  }
  assert.equal(ports.size, 2, "each instance on its own host port");
});
