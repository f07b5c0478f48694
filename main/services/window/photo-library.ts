/**
 * The photos opened in the window: ids issued to the renderer, each photo read from disk once when
 * opened (bytes, content hash and size kept), decoded through the pipeline's PhotoDecoder, and
 * served to the convmap-photo: protocol from the bytes already read.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import sharp from '../../io/sharp';
import { PHOTO_SCHEME, type PhotoRef } from '../../../core/api';
import { LruMap } from '../../../core/lru';
import { isBmp } from '../../io/bmp';
import { DECODE_SECONDS, DEFAULT_MAX_PIXELS, probePhoto, type PhotoSize, type RgbImage } from '../../io/decode';
import { readFileHead, type FileIdentity } from '../../io/safe-read';
import { loadPhoto, PhotoDecoder, type LoadedPhoto } from '../pipeline';

/** The upright photo as served to the renderer. */
export interface PhotoBytes {
  bytes: Uint8Array;
  mimeType: 'image/png' | 'image/jpeg' | 'image/webp' | 'image/gif' | 'image/avif';
  /** The file these bytes come from, by the descriptor they were read through (absent: not known). */
  identity?: FileIdentity;
}

/** Formats a browser shows as they are: served byte for byte when no EXIF rotation is needed. */
const AS_IS: Record<string, PhotoBytes['mimeType']> = {
  jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp', gif: 'image/gif', avif: 'image/avif',
};

/** A photo opened through the library. */
export interface OpenedPhoto {
  ref: PhotoRef;
  file: string;
  /** Content hash when opened (the cache key). */
  hash: string;
}

export interface PhotoLibrary {
  /** Reads, hashes and fully decodes the photo (a corrupt one is refused now), and issues its id. */
  open(file: string): Promise<OpenedPhoto>;
  /**
   * Reads the photo's header only (its size, checked against the pixel limit): a folder of thousands
   * of photos is listed without reading them whole; each is read (once) when its scores are asked for.
   */
  list(file: string): Promise<OpenedPhoto>;
  get(id: string): OpenedPhoto | undefined;
  /** The photo's bytes, hash and size: those read at open while still kept, else read again. */
  loaded(id: string): Promise<LoadedPhoto>;
  /** The photo upright as RGB (decoded once per content while among the recent ones); `signal` ends the wait. */
  decode(photo: LoadedPhoto, signal?: AbortSignal): Promise<RgbImage>;
  /** The photo upright, as the renderer shows it; undefined for ids never issued. */
  bytes(id: string): Promise<PhotoBytes | undefined>;
}

/** Bytes read to find a folder photo's size (its header). */
const HEADER_BYTES = 256 * 1024;

/** Encoded bytes kept after opening, in total (the most recent photos): 256 MB. */
const KEEP_BYTES = 256 * 1024 ** 2;

export function createPhotoLibrary(opts: { maxPixels?: number; decodedKeep?: number } = {}): PhotoLibrary {
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS;
  const photos = new Map<string, OpenedPhoto>();
  const kept = new LruMap<string, LoadedPhoto>({ maxWeight: KEEP_BYTES, weight: (l) => l.bytes.length });
  const decoder = new PhotoDecoder({ keep: opts.decodedKeep ?? 2, maxPixels });
  const register = (file: string, size: PhotoSize, loaded?: LoadedPhoto): OpenedPhoto => {
    const id = randomUUID();
    const ref: PhotoRef = { id, name: path.basename(file), path: file, width: size.width, height: size.height, url: `${PHOTO_SCHEME}://photo/${id}` };
    const photo = { ref, file, hash: loaded?.hash ?? '' };
    photos.set(id, photo);
    if (loaded) kept.set(id, loaded);
    return photo;
  };
  const loadedOf = async (id: string): Promise<LoadedPhoto> => {
    const hit = kept.get(id);
    if (hit) return hit;
    const photo = photos.get(id);
    if (!photo) throw new Error(`no photo with id ${id} was opened`);
    const loaded = await loadPhoto(photo.file, { maxPixels });
    photo.hash = loaded.hash;
    kept.set(id, loaded);
    return loaded;
  };

  return {
    async open(file) {
      const loaded = await loadPhoto(file, { maxPixels });
      await decoder.decode(loaded);
      return register(loaded.file, loaded.size, loaded);
    },
    async list(file) {
      const abs = path.resolve(file);
      try {
        const head = await readFileHead(abs, HEADER_BYTES);
        return register(abs, await probePhoto(head, { name: path.basename(abs), maxPixels }));
      } catch {
        // A header beyond the first bytes (a JPEG with a large EXIF block), or a refusal: the whole
        // file read through the one read function says which, in its own words.
        const loaded = await loadPhoto(abs, { maxPixels });
        return register(loaded.file, loaded.size, loaded);
      }
    },
    get: (id) => photos.get(id),
    loaded: loadedOf,
    decode: (photo, signal) => decoder.decode(photo, signal),
    async bytes(id) {
      if (!photos.has(id)) return undefined;
      const loaded = await loadedOf(id);
      return { ...(await servedBytes(loaded)), identity: loaded.identity };
    },
  };

  /** The photo upright, in a format the renderer shows. */
  async function servedBytes(loaded: LoadedPhoto): Promise<PhotoBytes> {
    if (!isBmp(loaded.bytes)) {
      const meta = await sharp(loaded.bytes, { limitInputPixels: maxPixels }).metadata();
      const asIs = meta.format ? AS_IS[meta.format] : undefined;
      // Upright already and a format the renderer shows: the file itself, no re-encoding of a big photo.
      if (asIs && (meta.orientation ?? 1) === 1 && (meta.pages ?? 1) === 1) return { bytes: loaded.bytes, mimeType: asIs };
      // JPEG stays JPEG (smaller, and photos have no alpha).
      if (meta.format === 'jpeg') {
        return { bytes: new Uint8Array(await sharp(loaded.bytes, { limitInputPixels: maxPixels }).timeout({ seconds: DECODE_SECONDS }).rotate().jpeg({ quality: 92 }).toBuffer()), mimeType: 'image/jpeg' };
      }
    }
    // Everything else (BMP, TIFF, rotated PNG/WebP, multi-page) becomes PNG of the decoded photo.
    const img = await decoder.decode(loaded);
    const png = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 }, limitInputPixels: false }).png().toBuffer();
    return { bytes: new Uint8Array(png), mimeType: 'image/png' };
  }
}
