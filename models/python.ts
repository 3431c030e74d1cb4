/**
 * The one module that starts Python. Training (students for `ddps evaluate`, the small diffusion
 * pack) runs in PyTorch, where people train models; ddps drives it as a child process that prints
 * one JSON object per line on stdout (progress events, then a result) and explains failures on stderr.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DdpsError, type ErrorCode } from '../core/errors.js';

/** The interpreter ddps runs for training, and the torch and torchvision versions it has. */
export interface PythonInfo {
  executable: string;
  version: string;
  torch: string;
  torchvision: string;
}

/** The folder holding the project's Python packages (`python/` at the package root, beside dist/). */
export const PYTHON_ROOT = findPythonRoot(dirname(fileURLToPath(import.meta.url)));

function findPythonRoot(from: string): string {
  // Source and compiled layouts differ by one level (models/ vs dist/models/).
  for (let dir = from, i = 0; i < 4; i++, dir = dirname(dir)) {
    if (existsSync(join(dir, 'python', 'ddps_eval'))) return join(dir, 'python');
  }
  return resolve(from, '../../python');
}

const INSTALL_HINT =
  'Install PyTorch >= 1.13 and torchvision for the Python ddps uses:\n' +
  '  Debian/Ubuntu: apt-get install python3-torch python3-torchvision python3-pil\n' +
  '  or: python3 -m pip install torch torchvision pillow\n' +
  'or point DDPS_PYTHON at an interpreter that has them.';

const PROBE = 'import json, sys, torch, torchvision, PIL; print(json.dumps({"version": sys.version.split()[0], "torch": torch.__version__, "torchvision": torchvision.__version__}))';

function probe(executable: string): PythonInfo | string {
  const r = spawnSync(executable, ['-c', PROBE], { encoding: 'utf8', timeout: 120_000 });
  if (r.error) return `${executable}: ${r.error.message}`;
  if (r.status !== 0) return `${executable}: ${(r.stderr.trim().split('\n').pop() ?? '').trim() || `exit ${r.status}`}`;
  const info = JSON.parse(r.stdout.trim().split('\n').pop()!) as Omit<PythonInfo, 'executable'>;
  const [major, minor] = info.torch.split('.').map(Number);
  if (major! < 1 || (major === 1 && minor! < 13)) return `${executable}: torch ${info.torch} is older than 1.13`;
  return { executable, ...info };
}

/** Probing starts a Python process: once per value of $DDPS_PYTHON ('' when unset). */
const found = new Map<string, PythonInfo>();

/**
 * The interpreter that has torch and torchvision: $DDPS_PYTHON when set (and then only it), else the
 * first of /usr/bin/python3 (Debian's python3-torch installs there, while a pyenv or venv `python3`
 * may come first on PATH without it), python3, python. Throws MISSING_DEPENDENCY with install advice.
 */
export function findPython(): PythonInfo {
  const env = process.env.DDPS_PYTHON;
  const known = found.get(env ?? '');
  if (known) return known;
  const candidates = env ? [env] : ['/usr/bin/python3', 'python3', 'python'];
  const tried: string[] = [];
  for (const c of candidates) {
    const r = probe(c);
    if (typeof r !== 'string') {
      found.set(env ?? '', r);
      return r;
    }
    tried.push(r);
  }
  throw new DdpsError('MISSING_DEPENDENCY', `no Python with torch and torchvision found (tried ${tried.join('; ')}).\n${INSTALL_HINT}`);
}

/** Options of runPython: events, threads, environment and cancellation. */
export interface PythonRunOptions {
  /** Each JSON object the child prints on a line of stdout. */
  onEvent?: (event: Record<string, unknown>) => void;
  /** Torch's CPU threads (Debian's torch starts with one). */
  threads?: number;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

/** What a finished Python child left: its last event (the result) and its stderr. */
export interface PythonRunResult {
  /** The last event the child printed (by convention its result). */
  last?: Record<string, unknown>;
  stderr: string;
}

/**
 * glibc serves an allocation above its mmap threshold (32 MB at most, by default) with a fresh mapping,
 * and gives a freed heap top back to the system. A ConvNet-3 student's activations (52 MB a layer at
 * batch 100) were mapped, faulted in page by page and unmapped at every step: a third of its CPU time
 * in the kernel. Kept in the heap, a step ran 6x faster (1.22 s -> 0.20 s, same loss and weights to
 * the last bit). Ignored where the C library is not glibc.
 */
export const PYTHON_MALLOC_TUNABLES = 'glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=2147483647';

/** A Python child's environment: ddps' package on PYTHONPATH, the thread count, and the allocator tunables before the user's own (theirs win). */
export function pythonEnv(base: NodeJS.ProcessEnv, opts: Pick<PythonRunOptions, 'threads' | 'env'> = {}): NodeJS.ProcessEnv {
  const given = { ...base, ...opts.env };
  return {
    ...given,
    PYTHONPATH: [PYTHON_ROOT, base.PYTHONPATH].filter(Boolean).join(':'),
    PYTHONUNBUFFERED: '1',
    GLIBC_TUNABLES: [PYTHON_MALLOC_TUNABLES, given.GLIBC_TUNABLES].filter(Boolean).join(':'),
    ...(opts.threads !== undefined ? { DDPS_THREADS: String(opts.threads), OMP_NUM_THREADS: String(opts.threads) } : {}),
  };
}

/**
 * Runs `python -m <module> ...args` with PYTHON_ROOT on PYTHONPATH. When it exits non-zero it rejects
 * with the error the child reported as its last line ({"event": "error", "code", "message", "file"?},
 * see python/ddps_eval/errors.py), else with CHILD_FAILED carrying the end of its stderr. Lines of
 * stdout that are not JSON are passed to stderr (a library printing) rather than lost.
 */
export function runPython(module: string, args: readonly string[], opts: PythonRunOptions = {}): Promise<PythonRunResult> {
  const py = findPython();
  const env = pythonEnv(process.env, opts);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(py.executable, ['-m', module, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], ...(opts.signal ? { signal: opts.signal } : {}) });
    let stderr = '';
    let pending = '';
    let last: Record<string, unknown> | undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (!line) continue;
        let event: unknown;
        try {
          event = JSON.parse(line);
        } catch {
          process.stderr.write(`${line}\n`);
          continue;
        }
        if (event !== null && typeof event === 'object' && !Array.isArray(event)) {
          last = event as Record<string, unknown>;
          opts.onEvent?.(last);
        }
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      // Keep the tail only: a long training run can warn a lot.
      stderr = (stderr + chunk).slice(-20_000);
    });
    child.on('error', (err) => reject(new DdpsError('MISSING_DEPENDENCY', `cannot run ${py.executable} -m ${module}: ${err.message}`, { cause: err })));
    child.on('close', (code, signal) => {
      if (code === 0) resolvePromise({ ...(last ? { last } : {}), stderr });
      else if (last?.event === 'error' && typeof last.code === 'string' && typeof last.message === 'string') {
        // The child's own diagnosis (ddps_eval.errors.EvalError): its code, and the file it names.
        reject(new DdpsError(last.code as ErrorCode, last.message, typeof last.file === 'string' ? { file: last.file } : {}));
      } else {
        const tail = stderr.trim().split('\n').slice(-15).join('\n');
        reject(new DdpsError('CHILD_FAILED', `${py.executable} -m ${module} ${signal ? `was killed by ${signal}` : `exited with code ${code}`}${tail ? `:\n${tail}` : ''}`));
      }
    });
  });
}
