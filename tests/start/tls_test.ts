import assert from "node:assert/strict";
import { spawnService, startTestServer, waitForExit } from "../_server.ts";

/** Makes a self-signed certificate for localhost with Debian's openssl. */
async function selfSignedCertificate(dir: string) {
  const cert = `${dir}/cert.pem`;
  const key = `${dir}/key.pem`;
  const { code, stderr } = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-keyout",
      key,
      "-out",
      cert,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return { cert, key };
}

/**
 * What `wss://localhost:<port>/echo` echoes to "over TLS", asked by a
 * separate Deno process that trusts only `cert` (via --cert).
 */
async function echoOverTls(port: number, cert: string): Promise<string> {
  const client = `
    const ws = new WebSocket("wss://localhost:${port}/echo");
    ws.onopen = () => ws.send("over TLS");
    ws.onmessage = (event) => { console.log(event.data); ws.close(); };
    ws.onerror = () => { console.log("error"); Deno.exit(1); };
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--cert", cert, client],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const [stdout, { code }] = await Promise.all([
    new Response(child.stdout).text(),
    waitForExit(child),
  ]);
  assert.equal(code, 0, stdout);
  return stdout.trim();
}

Deno.test("TLS_CERT_FILE and TLS_KEY_FILE serve wss:// to a client that trusts the certificate", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ws-echo-tls-" });
  try {
    const { cert, key } = await selfSignedCertificate(dir);
    await using server = startTestServer({
      TLS_CERT_FILE: cert,
      TLS_KEY_FILE: key,
    });
    assert.equal(
      server.server.urls.echo,
      `wss://127.0.0.1:${server.port}/echo`,
    );
    assert.equal(await echoOverTls(server.port, cert), "over TLS");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** Starts main.ts with these TLS files (reads allowed everywhere): its exit code and stderr. */
async function startWithTls(cert: string, key: string) {
  const child = await spawnService({
    PORT: "0",
    BIND_ADDRESS: "127.0.0.1",
    TLS_CERT_FILE: cert,
    TLS_KEY_FILE: key,
  }, {
    args: ["run", "--allow-net", "--allow-read", "--allow-env", "main.ts"],
  });
  const [stderr, { code }] = await Promise.all([
    new Response(child.stderr).text(),
    waitForExit(child),
    child.stdout.cancel(),
  ]);
  return { code, stderr };
}

Deno.test("an unreadable TLS file stops start-up with a message naming the variable", async () => {
  // Reads allowed everywhere, so the missing file, not a permission, stops it.
  const { code, stderr } = await startWithTls(
    "/nonexistent/cert.pem",
    "/nonexistent/key.pem",
  );
  assert.equal(code, 2);
  assert.match(
    stderr,
    /^ws-echo: Cannot read TLS_CERT_FILE "\/nonexistent\/cert\.pem": .*No such file/,
  );
});

Deno.test("an empty TLS file stops start-up with a message naming its variable, not the address", async () => {
  const empty = await Deno.makeTempFile({ suffix: ".pem" });
  try {
    const { code, stderr } = await startWithTls(empty, empty);
    assert.equal(code, 2);
    assert.equal(
      stderr,
      `ws-echo: Cannot use TLS_CERT_FILE "${empty}": the file is empty\n`,
    );
  } finally {
    await Deno.remove(empty);
  }
});

Deno.test("a TLS file that is no PEM certificate or key stops start-up naming both variables, not the address", async () => {
  const { code, stderr } = await startWithTls("README.md", "README.md");
  assert.equal(code, 2);
  assert.match(
    stderr,
    /^ws-echo: Cannot use TLS_CERT_FILE and TLS_KEY_FILE: No certificates found in certificate data \(expected a PEM certificate and its PEM private key\)\n$/,
  );
});
