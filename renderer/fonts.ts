/**
 * The fonts the app ships (renderer/style.css's @font-face rules, split by unicode-range into files
 * that load on demand). Chromium shapes text whose face is still loading with a fallback, and text
 * laid out by another element or size while the file loads can keep the fallback's tofu boxes for
 * good; loading the files a set of labels needs before the labels are shown avoids that.
 */
export const SHIPPED_FAMILIES = ['Noto Sans', 'Noto Sans Arabic', 'Noto Sans KR'] as const;

/**
 * Loads every shipped font file whose unicode-range covers a character of `texts` (class labels),
 * waiting at most `timeoutMs`; never rejects (a font that cannot load leaves the fallback, as before).
 */
export async function loadShippedFontsFor(texts: readonly string[], timeoutMs = 5000): Promise<void> {
  const fonts = typeof document === 'undefined' ? undefined : document.fonts;
  const text = [...new Set([...texts.join('')])].join('');
  if (!fonts || typeof fonts.load !== 'function' || text.trim() === '') return;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const loads = Promise.all(SHIPPED_FAMILIES.map((f) => fonts.load(`12px "${f}"`, text).catch(() => [])));
  await Promise.race([loads, new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); })]);
  clearTimeout(timer);
}
