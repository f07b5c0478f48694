// A stand-in for Electron's utilityProcess under plain Node: a child_process.fork whose child gets a
// process.parentPort shaped like Electron's (message events carry { data, ports }), so the code under
// test takes its utility-process path. Shared by the in-process fake and the bundle's stand-in.
import { fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';

const childShim = fileURLToPath(new URL('./utility-child.mjs', import.meta.url));

/** utilityProcess.fork(modulePath, args, options); every call is pushed to `forks` as { modulePath, options }. */
export function utilityProcessStandIn(forks) {
  return {
    fork(modulePath, args = [], options = {}) {
      if (typeof modulePath !== 'string') throw new TypeError('utilityProcess.fork: modulePath must be a string');
      forks.push({ modulePath, options });
      const child = fork(modulePath, args, { execArgv: ['--import', childShim, ...(options.execArgv ?? [])], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      const u = new EventEmitter();
      u.pid = child.pid;
      child.on('message', (m) => u.emit('message', m));
      child.on('exit', (code) => {
        u.pid = undefined;
        u.emit('exit', code ?? 1);
      });
      u.postMessage = (m) => child.send(m);
      u.kill = () => child.kill('SIGTERM');
      return u;
    },
  };
}
