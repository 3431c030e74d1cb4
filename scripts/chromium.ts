/**
 * Headless Chromium for the report's tests and the bench: find a browser, run it on a page with a
 * throw-away profile and nothing that reaches the network, and read what the page's own script
 * recorded on its <body> (data-images, data-images-ok, data-load-ms).
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** `$CHROMIUM`, or the first of chromium, chromium-browser, google-chrome on PATH that runs. */
export function findChromium(): string | undefined {
  for (const name of [process.env.CHROMIUM, 'chromium', 'chromium-browser', 'google-chrome'].filter((n): n is string => !!n)) {
    if (spawnSync(name, ['--version'], { stdio: 'ignore' }).status === 0) return name;
  }
  return undefined;
}

/** Runs the browser headless with `args`; its stdout (the DOM with --dump-dom). */
export async function headless(browser: string, ...args: string[]): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'ddps-chromium-'));
  try {
    const { stdout } = await run(
      browser,
      ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, ...args],
      { timeout: 120_000, maxBuffer: 256 << 20 },
    );
    return stdout;
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

/** The body's data-* attributes once the page has loaded, as the report's script set them. */
export async function loadedPage(browser: string, file: string, windowSize = '1280,2000'): Promise<Record<string, string>> {
  const dom = await headless(browser, `--window-size=${windowSize}`, '--dump-dom', `file://${file}`);
  const body = /<body[^>]*>/.exec(dom)?.[0] ?? '';
  return Object.fromEntries([...body.matchAll(/data-([a-z-]+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
}
