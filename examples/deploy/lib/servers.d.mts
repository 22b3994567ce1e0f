import type { RunningProcess } from './recipes.mjs';
export function nginxMainConfig(run: string, snippet: string): string;
export function lighttpdMainConfig(run: string, port: number, snippet: string): string;
export function apacheMainConfig(run: string, port: number, modules: string[], snippet: string): string;
export function prepareServer(server: string, options: { run: string; port: number; modules?: string[]; snippet: string }): [string, string[]];
export function startProcess(command: string, args: string[], options?: { cwd?: string; env?: NodeJS.ProcessEnv; shell?: boolean; echo?: (text: string) => void }): RunningProcess;
export function waitForAddress(address: string, options?: { timeoutMs?: number; child?: import('node:child_process').ChildProcess; what?: string }): Promise<void>;
export function allowSearchTo(path: string): void;
