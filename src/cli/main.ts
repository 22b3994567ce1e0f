/**
 * The `nsgi` command: dispatches to its subcommands. Exit codes: 0 success,
 * 1 runtime failure, 2 usage or configuration error.
 * @module
 */
import { readFileSync } from 'node:fs';
import { NsgiError } from '../errors.js';
import { requestCommand } from './request.js';
import { serveCommand } from './serve.js';

/** Subcommands by name; each resolves to an exit code. */
export const commands: Record<string, (argv: string[]) => Promise<number>> = {
  serve: serveCommand,
  request: requestCommand,
};

const HELP = `Usage: nsgi <command> [options]

Commands:
  serve MODULE[:EXPORT]   serve an app over HTTP, FastCGI, SCGI or CGI, with
                          worker processes, graceful reloads (SIGHUP) and
                          recycling (nsgi serve --help for options)
  serve config:FILE.ini   serve a PasteDeploy-style pipeline file
  request --fastcgi ADDR PATH
                          send one request to a FastCGI or SCGI app and print
                          the response; --trace shows every record
                          (nsgi request --help for options)

Options:
  -h, --help              this help
  -v, --version           print the version

Exit codes: 0 success (a clean stop after SIGTERM/SIGINT), 1 runtime failure,
2 usage or configuration error. nsgi request adds: 1 for a status >= 400.
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === '-v' || command === '--version') {
    process.stdout.write(`nsgi ${version()}\n`);
    return 0;
  }
  const run = commands[command];
  if (run === undefined) {
    process.stderr.write(`nsgi: unknown command ${JSON.stringify(command)}\n\n${HELP}`);
    return 2;
  }
  try {
    return await run(rest);
  } catch (err) {
    const usage = err instanceof NsgiError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
    process.stderr.write(`nsgi: ${(err as Error).message}\n`);
    return usage ? 2 : 1;
  }
}
