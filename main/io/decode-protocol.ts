/** Messages between ./decode-host and the decoding process (./decode-process). */

/** The decoding process's extra file descriptor (child_process.fork): a socket for the bytes, both ways. */
export const DECODE_DATA_FD = 4;

/** Decode one photo: its `length` encoded bytes follow on the data socket (or ride along as `data` in Electron). */
export interface DecodeRequest {
  id: number;
  /** File name, for messages. */
  name: string;
  maxPixels: number;
  background?: [number, number, number];
  maxSeconds?: number;
  /** Bytes of the encoded photo. */
  length: number;
}

/** The decoded photo ([height, width, 3] RGB, `length` bytes following as the request's did), or why not. */
export type DecodeReply =
  | { id: number; ok: true; width: number; height: number; length: number }
  | { id: number; ok: false; error: { name: string; message: string; file?: string } };
