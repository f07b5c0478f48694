/**
 * ONNX Runtime's process and the photo decoding processes in Electron: utility processes (Chromium's
 * service launcher), because child_process.fork would need ELECTRON_RUN_AS_NODE, which the packaged
 * app's fuses turn off.
 */
import { fileURLToPath } from 'node:url';
import { utilityProcess } from 'electron';
import type { FromOnnxHost } from '../engine/onnx-protocol';
import type { SpawnOnnxHost } from '../engine/onnx-host';
import type { SpawnDecodeChild } from '../io/decode-host';
import type { DecodeReply } from '../io/decode-protocol';

/** Starts the engine's ONNX Runtime process with utilityProcess.fork (see main/engine/onnx-host). */
export const utilityOnnxHost: SpawnOnnxHost = (file, execArgv, events) => {
  const child = utilityProcess.fork(fileURLToPath(file), [], { serviceName: 'Convmap ONNX Runtime', execArgv, stdio: 'inherit' });
  let ended = false;
  child.on('message', (msg: FromOnnxHost) => events.message(msg));
  // A fatal V8 error in the child is followed by its exit, which reports it; unheard, the 'error' event would throw in main.
  child.on('error', () => undefined);
  // Emitted once, when the process has ended.
  child.on('exit', (code: number) => {
    ended = true;
    events.exit(code);
  });
  return {
    post: (msg) => {
      if (!ended) child.postMessage(msg);
    },
    // child.kill() sends SIGTERM, which a process inside a run may not see until the run ends.
    kill: () => {
      const pid = child.pid;
      if (pid === undefined) child.kill();
      else process.kill(pid, 'SIGKILL');
    },
  };
};

/**
 * Starts a photo decoding process with utilityProcess.fork (see main/io/decode-host): the photo's
 * bytes and the pixels travel in the messages (a utility process has no extra descriptors).
 */
export const utilityDecodeChild: SpawnDecodeChild = (file, execArgv, events) => {
  const child = utilityProcess.fork(fileURLToPath(file), [], { serviceName: 'Convmap photo decoder', execArgv, stdio: 'inherit' });
  let ended = false;
  child.on('message', (msg: DecodeReply & { data?: Uint8Array }) => {
    const { data, ...reply } = msg;
    events.reply(reply as DecodeReply, data);
  });
  child.on('error', () => undefined);
  child.on('exit', (code: number) => {
    ended = true;
    events.exit(code);
  });
  return {
    send: (req, bytes) => {
      if (!ended) child.postMessage({ ...req, data: bytes });
    },
    kill: () => {
      const pid = child.pid;
      if (pid === undefined) child.kill();
      else process.kill(pid, 'SIGKILL');
    },
    // A utility process never keeps Electron's main process alive.
    hold: () => undefined,
  };
};
