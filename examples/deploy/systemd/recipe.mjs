// How examples/deploy/run.mjs and test/deploy start this recipe. systemd cannot run here, so
// systemd-socket-activate (from the systemd package) plays nsgi.socket: it binds the socket,
// waits for the first connection and then runs nsgi.service's ExecStart with the socket on
// fd 3 (LISTEN_FDS=1), as systemd does. The command is read from the unit files, so what runs
// is what they say; only the machine's paths differ: /srv/app (WorkingDirectory) is this
// folder, the nsgi executable is this checkout's, and /run/nsgi is the run folder. `exec` makes
// the shell systemd-socket-activate and then nsgi, so the process stopped at Ctrl-C is the master.
import { readFileSync } from 'node:fs';

/** `[Section] Key=value` lines of a unit file, as { 'Section.Key': value }. */
export function readUnit(file) {
  const unit = {};
  let section = '';
  for (const line of readFileSync(new URL(file, import.meta.url), 'utf8').split('\n')) {
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) section = header[1];
    const setting = /^(\w+)=(.*)$/.exec(line);
    if (setting) unit[`${section}.${setting[1]}`] = setting[2];
  }
  return unit;
}

const socket = readUnit('nsgi.socket');
const service = readUnit('nsgi.service');
const [executable, ...args] = service['Service.ExecStart'].split(' ');
if (!executable.endsWith('/nsgi') || args.some((a) => !/^[\w:./-]+$/.test(a))) throw new Error(`nsgi.service: ExecStart is not "/path/to/nsgi ARGS..." with plain words: ${service['Service.ExecStart']}`);
const sock = socket['Socket.ListenStream'].replace(/^.*\//, '{{RUN}}/');

export default {
  title: 'systemd: nsgi.socket + nsgi.service, socket-activated (fd 3), for nginx',
  server: 'nginx',
  config: 'nginx.conf',
  templates: ['nsgi.socket', 'nsgi.service'],
  backends: [{ command: `cd {{HERE}} && exec systemd-socket-activate -l ${sock} -- {{NSGI}} ${args.join(' ')}`, listen: `unix:${sock}` }],
  mount: '',
  static: '/static/hello.txt',
};
