/**
 * sharp, loaded through require: Node loads its CommonJS build in about half the time of its ES
 * module, whose CommonJS dependencies (semver, detect-libc, the native binding's loader) each go
 * through the ES module loader and its export lexer — time spent again by every process that
 * decodes, resizes or encodes (the CLI, each photo decoding process). Every main/ module takes sharp
 * from here, so that a process holds one copy of it.
 */
import { createRequire } from 'node:module';
import type Sharp from 'sharp';

const sharp = createRequire(import.meta.url)('sharp') as typeof Sharp;

export default sharp;
