import { createRequire } from "node:module";

const HTTP_WEB_CLASSES = ["WebSocket", "CloseEvent", "MessageEvent"];

/**
 * Runs `load` (the bot's import) without two costs its dependencies bring at load time and that
 * an idle bot never uses (BENCHMARKS.md, "Memory on Node 24"):
 *
 * - `node:http`'s WebSocket, CloseEvent and MessageEvent getters are hidden, then put back. Node 24
 *   builds a builtin's ES module view by reading every export once, and those getters load Node's
 *   bundled undici (about 3 MB of RSS here). CommonJS users still get them on demand afterwards;
 *   an ES module that imports them by name from `node:http` gets undefined.
 * - An `Intl.ListFormat` made meanwhile is built on its first use: got's `@sindresorhus/is` makes
 *   two at load for its error messages, which pages in about 4 MB of ICU's locale data.
 */
export async function loadLean<T>(load: () => Promise<T>): Promise<T> {
  const http = createRequire(import.meta.url)("node:http") as Record<string, unknown>;
  const hidden = new Map<string, PropertyDescriptor>();
  for (const key of HTTP_WEB_CLASSES) {
    const getter = Object.getOwnPropertyDescriptor(http, key);
    if (!getter?.get || !getter.configurable) continue;
    hidden.set(key, getter);
    Object.defineProperty(http, key, { configurable: true, enumerable: true, writable: true, value: undefined });
  }
  // The type says read-only; the built-in property is writable.
  const intl = Intl as { ListFormat: typeof Intl.ListFormat };
  const ListFormat = intl.ListFormat;
  intl.ListFormat = deferred(ListFormat);
  try {
    return await load();
  } finally {
    intl.ListFormat = ListFormat;
    for (const [key, getter] of hidden) Object.defineProperty(http, key, getter);
  }
}

/** A ListFormat that makes the real one when it is first asked something. */
function deferred(Real: typeof Intl.ListFormat): typeof Intl.ListFormat {
  class DeferredListFormat {
    private real: Intl.ListFormat | undefined;
    private readonly args: ConstructorParameters<typeof Intl.ListFormat>;

    constructor(...args: ConstructorParameters<typeof Intl.ListFormat>) {
      this.args = args;
    }

    private get formatter(): Intl.ListFormat {
      return (this.real ??= new Real(...this.args));
    }

    format(list: Iterable<string>): string {
      return this.formatter.format(list);
    }

    formatToParts(list: Iterable<string>) {
      return this.formatter.formatToParts(list);
    }

    resolvedOptions() {
      return this.formatter.resolvedOptions();
    }
  }
  return Object.assign(DeferredListFormat, { supportedLocalesOf: Real.supportedLocalesOf.bind(Real) }) as unknown as typeof Intl.ListFormat;
}
