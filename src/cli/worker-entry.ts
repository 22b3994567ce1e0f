/**
 * The executable entry of a worker process: the master forks this file with
 * the listening socket on fd 3 and the {@link WorkerSpec} as JSON in the
 * `NSGI_WORKER` environment variable.
 * @module
 */
import { runWorker, type WorkerSpec } from './worker.js';

const spec = JSON.parse(process.env.NSGI_WORKER ?? 'null') as WorkerSpec | null;
if (spec === null) {
  process.stderr.write('nsgi: worker-entry is started by `nsgi serve`, not by hand\n');
  process.exit(2);
}
delete process.env.NSGI_WORKER; // the app need not see it
void runWorker(spec);
