/**
 * Puts a tag `Intl` accepts in place of `navigator.language` when the browser reports one it
 * refuses: Chromium under `LANG=C.UTF-8` says `en-US@posix`, and uPlot passes the tag to
 * `Intl.NumberFormat` as it loads, which then throws and leaves every chart empty. Runs before
 * uPlot on every page that draws charts. Self-contained, as the HTML report inlines its source.
 */
export function guardLanguage(nav: { readonly language: string }): void {
  const valid = (tag: string): boolean => {
    try {
      return Intl.getCanonicalLocales(tag).length === 1;
    } catch {
      return false;
    }
  };
  if (valid(nav.language)) return;
  const base = nav.language.split(/[@.]/)[0] ?? '';
  Object.defineProperty(nav, 'language', {
    value: valid(base) ? base : 'en-US',
    configurable: true,
  });
}
