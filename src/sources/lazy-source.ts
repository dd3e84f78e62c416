import type { SourceKind } from "../items/item.ts";
import type { Source } from "./source.ts";

/**
 * A source whose modules load when its first item runs. An idle bot then carries none of what
 * streams (the manifest parsers) or torrents (the chunk store) need.
 * A load that fails is tried again by the next item.
 */
export function loadedOnUse(kind: SourceKind, load: () => Promise<Source>): Source {
  let loading: Promise<Source> | undefined;
  return {
    kind,
    async download(ctx) {
      loading ??= load().catch((error: unknown) => {
        loading = undefined;
        throw error;
      });
      return (await loading).download(ctx);
    },
  };
}
