/**
 * m3u8-parser and mpd-parser ship no types; these describe only what stream-manifest.ts calls.
 * What the parsed objects hold is described there, next to the code that reads it.
 */
declare module "m3u8-parser" {
  export class Parser {
    manifest: unknown;
    push(chunk: string): void;
    end(): void;
  }
}

declare module "mpd-parser" {
  export function parse(manifest: string, options?: { manifestUri?: string }): unknown;
  /** The manifest's XML document (xmldom), as parse() reads it. */
  export function stringToMpdXml(manifest: string): unknown;
  /** Every representation's attributes and segment information, before segments are expanded. */
  export function inheritAttributes(mpd: unknown, options?: { manifestUri?: string }): unknown;
}
