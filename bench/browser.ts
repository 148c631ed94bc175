/**
 * Finds a Chromium or Chrome for the browser tests, where people usually have
 * one: CHROMIUM_PATH first, then Debian's /usr/bin/chromium, other Linux
 * names, and the macOS and Windows install locations. Never downloads one.
 *
 * @module
 */

/** The variable that names a browser explicitly. */
export const BROWSER_VARIABLE = "CHROMIUM_PATH";

/** Where Chromium and Chrome are installed by default, most likely first. */
export function browserCandidates(
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): string[] {
  const local = env("LOCALAPPDATA");
  const programFiles = [env("PROGRAMFILES"), env("PROGRAMFILES(X86)")];
  return [
    env(BROWSER_VARIABLE),
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
    "/snap/bin/chromium",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    ...programFiles.map((folder) =>
      folder && `${folder}\\Google\\Chrome\\Application\\chrome.exe`
    ),
    local && `${local}\\Google\\Chrome\\Application\\chrome.exe`,
    local && `${local}\\Chromium\\Application\\chrome.exe`,
  ].filter((path): path is string => Boolean(path));
}

/**
 * The first candidate that is a file, or undefined.
 *
 * `named` is what CHROMIUM_PATH says. A set variable that names no file is a
 * mistake to report, not a reason to fall back quietly to another browser.
 *
 * @throws Error naming the variable and its value when `named` is set and is
 *   not a file.
 */
export function findBrowser(
  candidates: string[] = browserCandidates(),
  named: string | undefined = Deno.env.get(BROWSER_VARIABLE),
): string | undefined {
  if (named && !isFile(named)) {
    throw new Error(
      `${BROWSER_VARIABLE}=${named} is not a file: name a Chromium or Chrome executable, or unset it`,
    );
  }
  return candidates.find(isFile);
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Why and how, when no browser is found: one line, after a prefix. */
export const NO_BROWSER_MESSAGE =
  `no Chromium or Chrome found. Set ${BROWSER_VARIABLE}=/path/to/chrome, or install one (Debian/Ubuntu: apt-get install chromium)`;
