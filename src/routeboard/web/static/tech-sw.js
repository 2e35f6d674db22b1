/**
 * The technician app's service worker (served at /tech/sw.js, scope /tech).
 *
 * It keeps the app's shell so the app opens without a signal, and the last answer of
 * /api/v1/tech/day (and each finished job's invoice) so the day still shows. Everything is
 * network-first: with a signal the phone always sees the server's current page and data; the
 * copies are only for when there is none. Changes (POSTs) and the live stream are never touched
 * here: the page's outbox owns changes, and EventSource reconnects by itself.
 */

const VERSION = "routeboard-tech-v3";
const SHELL = [
  "/tech",
  "/static/tech.js",
  "/static/tech-outbox.js",
  "/static/tech-media.js",
  "/static/tech-store.js",
  "/static/page.js",
  "/static/voice.js",
  "/static/voice.css",
  "/static/phone.css",
  "/static/tech.css",
  "/static/tech-icon.svg",
  "/tech/manifest.webmanifest",
];
const SHELL_PATHS = new Set(SHELL);
const KEPT_API = [/^\/api\/v1\/tech\/day$/, /^\/api\/v1\/jobs\/\d+\/invoice$/];
// On a signal too weak to answer, the copy is better than a blank screen.
const PAGE_TIMEOUT_MS = 6_000;
const API_TIMEOUT_MS = 10_000;

function keepable(response) {
  // A redirect (to the sign-in page) or an error must never stand in for the app or the day.
  return response.ok && !response.redirected && response.type === "basic";
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(VERSION);
      // One by one: a file that fails must not keep the others from being kept.
      await Promise.all(
        SHELL.map(async (path) => {
          try {
            const response = await fetch(path, { credentials: "same-origin", cache: "no-cache" });
            if (keepable(response)) await cache.put(path, response);
          } catch {
            // Kept on the next visit with a signal.
          }
        }),
      );
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name !== VERSION && name.startsWith("routeboard-tech-")) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timeout")), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** Ask the network; keep a good answer under ``key``; without one, answer from the copy. */
async function networkFirst(request, key, ms, fallback) {
  const cache = await caches.open(VERSION);
  const asked = fetch(request);
  // The copy is refreshed even when the answer comes after the timeout.
  const kept = asked.then(async (response) => {
    if (keepable(response)) {
      const headers = new Headers(response.headers);
      headers.set("X-Routeboard-Cached-At", new Date().toISOString());
      const copy = new Response(await response.clone().blob(), {
        status: response.status,
        statusText: response.statusText,
        headers,
      });
      await cache.put(key, copy);
    }
    return response;
  });
  try {
    return await withTimeout(kept, ms);
  } catch {
    const copy = await cache.match(key);
    if (copy) return fallback(copy);
    return new Response(
      JSON.stringify({ error: "offline", message: "No signal, and nothing kept on the phone yet." }),
      { status: 503, headers: { "Content-Type": "application/json" } },
    );
  }
}

/** A kept API answer, marked so the page can say it is not live. */
async function marked(copy) {
  const headers = new Headers(copy.headers);
  headers.set("X-Routeboard-Cache", "hit");
  return new Response(await copy.blob(), { status: copy.status, headers });
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  const path = url.pathname;
  if (request.mode === "navigate" || path === "/tech") {
    if (path !== "/tech") return;
    // The page carries the session's CSRF token: always the server's when it answers.
    event.respondWith(networkFirst(request, "/tech", PAGE_TIMEOUT_MS, (copy) => copy));
    return;
  }
  if (SHELL_PATHS.has(path)) {
    event.respondWith(networkFirst(request, path, PAGE_TIMEOUT_MS, (copy) => copy));
    return;
  }
  if (KEPT_API.some((pattern) => pattern.test(path))) {
    event.respondWith(networkFirst(request, path + url.search, API_TIMEOUT_MS, marked));
  }
  // Anything else (the live stream, photos, PDFs, payments) goes to the network as usual.
});
