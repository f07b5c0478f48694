// Inside a stand-in utility process: Electron's process.parentPort over Node's IPC channel. Like
// Electron's, it queues messages until a 'message' listener is added, and the process ends with its
// parent.
import { EventEmitter } from 'node:events';

const port = new EventEmitter();
const queued = [];
process.on('message', (data) => {
  if (port.listenerCount('message') > 0) port.emit('message', { data, ports: [] });
  else queued.push(data);
});
port.on('newListener', (name) => {
  if (name === 'message') setImmediate(() => queued.splice(0).forEach((data) => port.emit('message', { data, ports: [] })));
});
port.postMessage = (m) => process.send(m);
process.parentPort = port;
process.on('disconnect', () => process.exit(0));
