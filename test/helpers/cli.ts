// Running the nsgi command from the TypeScript sources (through tsx), so CLI tests never
// depend on a stale dist/ build.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// tsx's loader by absolute URL, so the command works from any directory (a web server's cwd, a CGI dir).
const TSX_LOADER = pathToFileURL(`${ROOT}node_modules/tsx/dist/loader.mjs`).href;

/** argv that runs `nsgi ...args` from source: [node, --import, <tsx loader>, src/cli/run.ts, ...args]. */
export function nsgiArgv(args: string[]): [string, string[]] {
  return [process.execPath, ['--import', TSX_LOADER, `${ROOT}src/cli/run.ts`, ...args]];
}

/** A shell command line that runs `nsgi ...args` from source (for a web server's bin-path or a CGI script). */
export function nsgiShellCommand(args: string[]): string {
  const [node, argv] = nsgiArgv(args);
  return [node, ...argv].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
}

/** Spawns `nsgi ...args`; stdout/stderr are collected into `output()`. */
export function spawnNsgi(args: string[], options: SpawnOptions = {}): ChildProcess & { output(): string } {
  const [node, argv] = nsgiArgv(args);
  const child = spawn(node, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...options }) as ChildProcess & { output(): string };
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  child.output = () => out;
  return child;
}

/** Runs `nsgi ...args` to completion; resolves with exit code and output. */
export function runNsgi(args: string[], options: SpawnOptions = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [node, argv] = nsgiArgv(args);
  return new Promise((resolve, reject) => {
    const child = spawn(node, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}
