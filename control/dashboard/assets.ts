// The dashboard's browser files, held in memory. scripts/build.ts bundles the UI (control/dashboard/
// ui, esbuild) and embeds it in dist/control.mjs, so the control image needs no other file and
// the page loads nothing from the network. Run from source, control reads dist/dashboard/ (also
// written by the build); without either it serves a page that says how to build.
import { readFileSync } from 'node:fs';

// Replaced by esbuild's `define` in the control bundle: JSON of { js, css }.
declare const __WEFT_DASHBOARD_BUNDLE__: string | undefined;

export interface DashboardAssets {
  js: string;
  css: string;
  /** False when no bundle was found: the page explains how to build it. */
  built: boolean;
}

function fromDisk(): { js: string; css: string } | null {
  for (const dir of ['./dashboard/', '../../dist/dashboard/']) {
    try {
      return {
        js: readFileSync(new URL(`${dir}app.js`, import.meta.url), 'utf8'),
        css: readFileSync(new URL(`${dir}style.css`, import.meta.url), 'utf8'),
      };
    } catch {
      // not there: try the next place
    }
  }
  return null;
}

export function loadAssets(): DashboardAssets {
  if (typeof __WEFT_DASHBOARD_BUNDLE__ === 'string') {
    const b = JSON.parse(__WEFT_DASHBOARD_BUNDLE__) as { js: string; css: string };
    return { ...b, built: true };
  }
  const d = fromDisk();
  if (d !== null) return { ...d, built: true };
  return {
    js: "document.getElementById('app').textContent = 'The dashboard bundle is missing (WEFT_ERR_DASHBOARD_ASSETS): run node scripts/build.ts and restart control.';",
    css: '',
    built: false,
  };
}

/** The one HTML page; everything else is fetched from the same origin. */
export function indexHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Weft dashboard</title>
<link rel="stylesheet" href="style.css">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <span class="brand">Weft</span>
  <nav aria-label="Dashboard sections" id="nav"></nav>
  <label class="window">Window
    <select id="window" aria-label="Time window for rates and percentiles">
      <option value="60">1 min</option>
      <option value="300">5 min</option>
      <option value="900">15 min</option>
    </select>
  </label>
</header>
<main id="main" tabindex="-1"><div id="app">Loading…</div></main>
<script type="module" src="app.js"></script>
</body>
</html>
`;
}
