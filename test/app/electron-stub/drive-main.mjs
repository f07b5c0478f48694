// Drives the built main process (out/main/main.js) under plain Node with the electron stand-in:
// the window, IPC, both schemes, a real conversion and inference, quit. Prints one line per step.
await import(process.env.CONVMAP_MAIN);
const s = globalThis.__electronStub;
for (let i = 0; i < 100 && s.windows.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
const win = s.windows[0];
console.log('window', win.url, JSON.stringify(win.options.webPreferences));
const ev = { sender: win.webContents, senderFrame: { url: 'convmap-app://renderer/index.html', parent: null } };
const call = (c, ...a) => s.ipc.get(c)(ev, ...a);
console.log('backend', JSON.stringify(await call('convmap:backend-info')));
for (const f of new Map(s.forks.map((f) => [f.modulePath, f])).values()) console.log('utility', JSON.stringify([f.modulePath.split(/[\\/]/).at(-1), f.options.serviceName]));
const model = await call('convmap:load-model', { path: null });
console.log('model', model.name, model.info.window, model.info.equivalence.exact);
const demo = await call('convmap:demo-scene');
console.log('demo', demo.url, demo.width, demo.height);
const res = await call('convmap:compute-scores', { jobId: 'j1', modelId: model.id, photoId: demo.id, scales: [1, 0.5] });
console.log('maps', res.maps.map((m) => `${m.rows}x${m.cols}x${m.classes}`).join(' '), 'progress events', win.webContents.sent.filter(([c]) => c === 'convmap:progress').length);
const photo = await s.protocols.get('convmap-photo')(new Request(demo.url));
console.log('photo', photo.status, photo.headers.get('content-type'));
const page = await s.protocols.get('convmap-app')(new Request('convmap-app://renderer/index.html'));
console.log('page', page.status, page.headers.get('content-security-policy').slice(0, 60));
// Menu items the window carries out are sent to it on convmap:menu.
const menuItem = (top, label) => s.menus.at(-1).find((m) => m.label === top).submenu.find((i) => i.label === label);
menuItem('File', 'Export Photo…').click();
menuItem('Help', 'Keyboard Shortcuts').click();
console.log('menu', JSON.stringify(win.webContents.sent.filter(([c]) => c === 'convmap:menu').map(([, p]) => p)));
try { await call('convmap:compute-scores', { jobId: 'j2', modelId: model.id, photoId: demo.id, scales: [-1] }); } catch (e) { console.log('refused:', e.message); }
try { await call('convmap:add-photos', ['/etc/passwd']); } catch (e) { console.log('refused:', e.message); }
try { await call('convmap:load-model', { path: '/etc/passwd' }); } catch (e) { console.log('refused:', e.message); }
// Export the demo into the folder the export dialog chose, then Show in folder on what was written.
const outDir = await call('convmap:choose-export-folder');
// A whole core/recipe Recipe, as the window sends it.
const exported = await call('convmap:run-batch', { batchId: 'b1', modelId: model.id, photoIds: [demo.id], export: { outDir }, recipe: {
  model: null, preprocess: null, stride: null, scales: [1], mode: 'max', classChoice: 'top', view: 'absolute', colormap: 'turbo', opacity: 0.5, threshold: 0.2, smooth: true,
  boxes: false, detectThreshold: 0.5, legend: false, namePattern: '{name}.heatmap.png', format: 'png', scores: 'none', npyDtype: 'float32', csv: false } });
try { await call('convmap:show-in-folder', exported.outputs[0] + '.other'); } catch (e) { console.log('refused:', e.message); }
await call('convmap:show-in-folder', exported.outputs[0]);
console.log('exported', JSON.stringify(exported.outputs), 'shown', JSON.stringify(s.shown));
try { await call('convmap:show-in-folder', '/etc/passwd'); } catch (e) { console.log('refused:', e.message); }
console.log('shown after refusals', s.shown.length);
// A reload during a conversion ends it: its worker stops and the new page hears nothing more of it.
const loading = call('convmap:load-model', { jobId: 'load-1', path: null, stride: 2 }).then(() => 'loaded', (e) => `${e.name}: ${e.message}`);
const stagesOf = (id) => win.webContents.sent.filter(([c, p]) => c === 'convmap:progress' && p.jobId === id).map(([, p]) => p.stage);
for (let i = 0; i < 1000 && stagesOf('load-1').length === 0; i++) await new Promise((r) => setTimeout(r, 5));
win.webContents.h.get('did-start-loading')();
const heard = stagesOf('load-1').length;
console.log('reload during load', await loading);
await new Promise((r) => setTimeout(r, 1500));
console.log('load stages after reload', stagesOf('load-1').length - heard);
// A reload of the window ends the jobs its page started.
const running = call('convmap:compute-scores', { jobId: 'j3', modelId: model.id, photoId: demo.id, scales: [3, 2.5, 2] }).then(() => 'finished', (e) => `${e.name}: ${e.message}`);
for (let i = 0; i < 400 && !win.webContents.sent.some(([c, p]) => c === 'convmap:progress' && p.jobId === 'j3'); i++) await new Promise((r) => setTimeout(r, 5));
win.webContents.h.get('did-start-loading')();
console.log('reload', await running);
// So does closing it; afterwards its page is no longer one of the app's windows.
const closing = call('convmap:compute-scores', { jobId: 'j4', modelId: model.id, photoId: demo.id, scales: [3, 2.5, 2] }).then(() => 'finished', (e) => `${e.name}: ${e.message}`);
for (let i = 0; i < 400 && !win.webContents.sent.some(([c, p]) => c === 'convmap:progress' && p.jobId === 'j4'); i++) await new Promise((r) => setTimeout(r, 5));
win.h.get('closed')();
console.log('close', await closing);
try { await call('convmap:backend-info'); } catch (e) { console.log('after close:', e.message); }
const q = { preventDefault() {} };
s.app.get('will-quit')(q);
for (let i = 0; i < 100 && !s.quit; i++) await new Promise((r) => setTimeout(r, 50));
console.log('quit', s.quit);
