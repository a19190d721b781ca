// Client-side translation: elements carry data-i18n="key"; zh-CN is the default language.
export const LANGUAGES = ["zh-CN", "en"];
let catalog = {};

export function currentLanguage() {
  const chosen = localStorage.getItem("hallcloud.lang");
  return LANGUAGES.includes(chosen) ? chosen : "zh-CN";
}

export function t(key) { return catalog[key] || key; }

export function applyTranslations(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
}

export async function loadLanguage(lang = currentLanguage()) {
  const r = await fetch(`/ui/i18n/${lang}.json`);
  catalog = await r.json();
  localStorage.setItem("hallcloud.lang", lang);
  document.documentElement.lang = lang;
  applyTranslations();
  return lang;
}
