import { createRequire } from "node:module";

const HTTP_WEB_CLASSES = ["WebSocket", "CloseEvent", "MessageEvent"];

/**
 * Runs `load` (an import) with `node:http`'s WebSocket, CloseEvent and MessageEvent getters
 * hidden, then puts them back. Node 24 builds a builtin's ES module view by reading every export
 * once, and those three getters load Node's bundled undici (about 13 MB of RSS) for a WebSocket
 * nobody here uses. CommonJS users still get them on demand afterwards; an ES module that imports
 * them by name from `node:http` gets undefined.
 */
export async function withLeanHttp<T>(load: () => Promise<T>): Promise<T> {
  const http = createRequire(import.meta.url)("node:http") as Record<string, unknown>;
  const hidden = new Map<string, PropertyDescriptor>();
  for (const key of HTTP_WEB_CLASSES) {
    const getter = Object.getOwnPropertyDescriptor(http, key);
    if (!getter?.get || !getter.configurable) continue;
    hidden.set(key, getter);
    Object.defineProperty(http, key, { configurable: true, enumerable: true, writable: true, value: undefined });
  }
  try {
    return await load();
  } finally {
    for (const [key, getter] of hidden) Object.defineProperty(http, key, getter);
  }
}
