import assert from "node:assert/strict";
import { createApp } from "../../routes/app.ts";
import { DEFAULT_CONFIG } from "../../lib/config.ts";

/** The Strict-Transport-Security header `url` gets from an app with `config`. */
async function hsts(
  url: string,
  config: Partial<typeof DEFAULT_CONFIG> = {},
  headers: Record<string, string> = {},
): Promise<string | null> {
  const { fetch, services } = createApp(
    { ...DEFAULT_CONFIG, ...config },
    { log: () => {} },
  );
  try {
    const response = await fetch(new Request(url, { headers }));
    await response.body?.cancel();
    return response.headers.get("strict-transport-security");
  } finally {
    services.memory.dispose();
  }
}

Deno.test("Strict-Transport-Security goes only on https answers for a public host", async (t) => {
  await t.step("https: 180 days, without includeSubDomains", async () => {
    assert.equal(await hsts("https://echo.example/"), "max-age=15552000");
    assert.equal(
      await hsts("https://echo.example/healthz"),
      "max-age=15552000",
    );
  });
  await t.step("plain http: none (browsers ignore it there)", async () => {
    assert.equal(await hsts("http://echo.example/"), null);
    assert.equal(await hsts("http://echo.example/healthz"), null);
  });
  for (
    const host of [
      "localhost",
      "localhost:9998",
      "app.localhost",
      "127.0.0.1:9998",
      "127.1.2.3",
      "[::1]:9998",
    ]
  ) {
    await t.step(
      `https://${host}: none, it would pin this machine`,
      async () => {
        assert.equal(await hsts(`https://${host}/`), null);
      },
    );
  }
  await t.step(
    "HSTS_INCLUDE_SUBDOMAINS=true adds includeSubDomains",
    async () => {
      assert.equal(
        await hsts("https://echo.example/", { hstsIncludeSubdomains: true }),
        "max-age=15552000; includeSubDomains",
      );
    },
  );
  await t.step(
    "behind a trusted proxy, X-Forwarded-Proto: https counts",
    async () => {
      const forwarded = { "x-forwarded-proto": "https" };
      assert.equal(
        await hsts("http://echo.example/", { trustProxy: 1 }, forwarded),
        "max-age=15552000",
      );
      assert.equal(
        await hsts("http://echo.example/", {}, forwarded),
        null,
        "not from a client when no proxy is trusted",
      );
      assert.equal(
        await hsts("http://localhost/", { trustProxy: 1 }, forwarded),
        null,
      );
    },
  );
});
