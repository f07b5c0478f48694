// electron-builder.yml checked without packaging: electron-builder's own schema, and every path it
// names exists (unpack globs match real files, the icon, the built-in model).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const root = path.resolve(import.meta.dirname, '../..');
const yaml = require('js-yaml') as { load(text: string): unknown };

interface BuilderConfig {
  appId: string;
  productName: string;
  files: string[];
  asar: boolean;
  asarUnpack: string[];
  extraResources: { from: string; to: string; filter: string[] }[];
  fileAssociations: { ext: string[] }[];
  directories: { output: string; buildResources: string };
  linux: { target: string[]; icon: string; category: string; desktop: { entry: Record<string, string> } };
  win: { target: string[]; icon: string };
  mac: { target: string[]; icon: string };
  electronFuses?: Record<string, boolean>;
}

const config = yaml.load(readFileSync(path.join(root, 'electron-builder.yml'), 'utf8')) as BuilderConfig;

/** Files matched by a glob of the forms used here: "dir/**" (anything under dir) or "dir/*.ext". */
function matches(glob: string): string[] {
  const star = glob.endsWith('/**') ? glob.slice(0, -3) : undefined;
  if (star !== undefined) {
    const dir = path.join(root, star);
    return existsSync(dir) && statSync(dir).isDirectory() ? readdirSync(dir) : [];
  }
  const m = /^(.*)\/\*(\.[a-z0-9]+)$/.exec(glob);
  if (!m) throw new Error(`unsupported glob in test: ${glob}`);
  const dir = path.join(root, m[1]);
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(m[2])) : [];
}

describe('electron-builder.yml', () => {
  it("passes electron-builder's own configuration schema", async () => {
    const { validateConfiguration } = require('app-builder-lib/out/util/config/config') as { validateConfiguration(c: unknown, l: unknown): Promise<void> };
    const { DebugLogger } = require('builder-util') as { DebugLogger: new (enabled: boolean) => unknown };
    await expect(validateConfiguration(config, new DebugLogger(false))).resolves.toBeUndefined();
  });

  it('names the app and packages the built out/ folder', () => {
    expect(config.productName).toBe('Convmap');
    expect(config.appId).toMatch(/^[a-z]+(\.[a-z]+)+$/);
    expect(config.files).toContain('out/**/*');
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { main?: string };
    expect(pkg.main).toBe('out/main/main.js');
  });

  it('unpacks sharp, the tfjs wasm binaries, h5wasm and ONNX Runtime from the asar, each glob matching real files', () => {
    expect(config.asar).toBe(true);
    for (const glob of ['node_modules/sharp/**', 'node_modules/@img/**', 'node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm', 'node_modules/h5wasm/**', 'node_modules/onnxruntime-node/bin/**']) {
      expect(config.asarUnpack).toContain(glob);
    }
    for (const glob of config.asarUnpack) {
      // tfjs-node is optional: it installs only where its native binary could be fetched.
      if (glob.startsWith('node_modules/@tensorflow/tfjs-node/') && !existsSync(path.join(root, 'node_modules/@tensorflow/tfjs-node'))) continue;
      expect(matches(glob).length, glob).toBeGreaterThan(0);
    }
    expect(matches('node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm')).toEqual(expect.arrayContaining(['tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm.wasm']));
    // sharp's native addon for this platform is among the unpacked packages.
    expect(matches('node_modules/@img/**').some((d) => d.startsWith(`sharp-${process.platform}`))).toBe(true);
  });

  it("unpacks ONNX Runtime's native binding and libraries for this platform from the asar", () => {
    expect(config.asarUnpack).toContain('node_modules/onnxruntime-node/bin/**');
    // The binding onnxruntime-node requires, by the path its dist/binding.js builds, lies under the unpacked glob.
    const binding = readFileSync(path.join(root, 'node_modules/onnxruntime-node/dist/binding.js'), 'utf8');
    expect(binding).toContain('../bin/napi-v6/${process.platform}/${process.arch}/onnxruntime_binding.node');
    const dir = path.join(root, 'node_modules/onnxruntime-node/bin/napi-v6', process.platform, process.arch);
    expect(readdirSync(dir)).toEqual(expect.arrayContaining(['onnxruntime_binding.node']));
    expect(readdirSync(dir).some((f) => /^(lib)?onnxruntime\.(so\.1|dll|1\.dylib)$/.test(f))).toBe(true);
  });

  it('ships the built-in digit model as a resource where main.ts looks for it', () => {
    const model = config.extraResources.find((r) => r.to === 'digits-model');
    expect(model?.from).toBe('main/digits/model');
    for (const f of model?.filter ?? []) expect(existsSync(path.join(root, 'main/digits/model', f)), f).toBe(true);
    expect(readFileSync(path.join(root, 'main/electron/main.ts'), 'utf8')).toContain("path.join(process.resourcesPath, 'digits-model')");
  });

  it('builds AppImage and deb with a Graphics desktop entry, NSIS and dmg, with an icon that exists', () => {
    expect(config.linux.target).toEqual(expect.arrayContaining(['AppImage', 'deb']));
    expect(config.linux.category).toBe('Graphics');
    expect(config.linux.desktop.entry.Categories).toMatch(/Graphics;.*Science;/);
    expect(config.win.target).toContain('nsis');
    expect(config.mac.target).toContain('dmg');
    for (const icon of [config.linux.icon, config.win.icon, config.mac.icon]) {
      const file = path.join(root, icon);
      expect(existsSync(file), icon).toBe(true);
      const png = readFileSync(file);
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      expect(png.readUInt32BE(16)).toBeGreaterThanOrEqual(512);
    }
  });

  it('associates model files and common photo types for "Open with"', () => {
    const exts = config.fileAssociations.flatMap((a) => a.ext);
    expect(exts).toEqual(expect.arrayContaining(['json', 'h5', 'keras', 'onnx', 'jpg', 'jpeg', 'png', 'webp', 'tiff']));
  });

  it('flips the Electron fuses the security checklist asks for, as electron-builder hands them to @electron/fuses', async () => {
    // Required values (issue 13; electronjs.org/docs/latest/tutorial/fuses), by @electron/fuses' own names.
    const required: Record<string, boolean> = {
      RunAsNode: false,
      EnableNodeOptionsEnvironmentVariable: false,
      EnableNodeCliInspectArguments: false,
      EnableEmbeddedAsarIntegrityValidation: true,
      OnlyLoadAppFromAsar: true,
      EnableCookieEncryption: true,
      GrantFileProtocolExtraPrivileges: false,
    };
    const { PlatformPackager } = require('app-builder-lib') as { PlatformPackager: { prototype: { generateFuseConfig(f: unknown): Promise<Record<string | number, unknown>> } } };
    const { FuseV1Options, FuseVersion } = require('@electron/fuses') as { FuseV1Options: Record<string, number>; FuseVersion: { V1: string } };
    const wired = await PlatformPackager.prototype.generateFuseConfig.call({}, config.electronFuses);
    expect(wired.version).toBe(FuseVersion.V1);
    for (const [fuse, value] of Object.entries(required)) expect(wired[FuseV1Options[fuse]], fuse).toBe(value);
    // Nothing else is flipped behind the checklist's back.
    const flipped = Object.keys(wired).filter((k) => k !== 'version' && k !== 'resetAdHocDarwinSignature').map((k) => Object.keys(FuseV1Options).find((n) => String(FuseV1Options[n]) === k)).sort();
    expect(flipped).toEqual(Object.keys(required).sort());
  });
});
