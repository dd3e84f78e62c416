import { z } from "zod";
import type { Choice, ChoiceOffer } from "../items/choice.ts";
import { badRequest, type HttpFailure } from "./http-errors.ts";

/**
 * What the web side may choose for an item waiting in `choosing`: the same choices as the chat's
 * buttons (a torrent's files, a quality, the best that fits, only the audio, a page's videos),
 * checked against what the item offers before ChoiceControl stores it.
 */
export const ChoiceBodySchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("files"), indices: z.array(z.number().int().nonnegative()).min(1, "pick at least one file").max(10_000) }),
  z.object({ kind: z.literal("quality"), id: z.string().min(1).max(200) }),
  z.object({ kind: z.literal("best") }),
  z.object({ kind: z.literal("audio") }),
  z.object({ kind: z.literal("entries"), indices: z.array(z.number().int().nonnegative()).min(1, "pick at least one video").max(10_000) }),
]);
export type ChoiceBody = z.infer<typeof ChoiceBodySchema>;

const ASKS: Record<ChoiceOffer["kind"], string> = { files: "which files", quality: "which quality", entries: "which videos" };

/** The Choice the body makes of the offer, or the 400 that says which field does not fit it. Pure. */
export function choiceFor(offer: ChoiceOffer, body: ChoiceBody): Choice | HttpFailure {
  const wrongKind = () => badRequest("kind", `this item asks ${ASKS[offer.kind]}, not "${body.kind}"`);
  switch (body.kind) {
    case "files": {
      if (offer.kind !== "files") return wrongKind();
      const selectable = new Set(offer.files.filter((f) => f.selectable).map((f) => f.index));
      const bad = body.indices.findIndex((i) => !selectable.has(i));
      if (bad >= 0) return badRequest(`indices.${bad}`, `file ${body.indices[bad]} is not one that can be picked`);
      return { kind: "files", indices: [...new Set(body.indices)].sort((a, b) => a - b) };
    }
    case "entries": {
      if (offer.kind !== "entries") return wrongKind();
      const offered = new Set(offer.entries.map((e) => e.index));
      const bad = body.indices.findIndex((i) => !offered.has(i));
      if (bad >= 0) return badRequest(`indices.${bad}`, `there is no video ${body.indices[bad]}`);
      return { kind: "entries", indices: [...new Set(body.indices)].sort((a, b) => a - b) };
    }
    case "quality": {
      if (offer.kind !== "quality") return wrongKind();
      if (!offer.qualities.some((q) => q.id === body.id && q.fits)) return badRequest("id", `no quality "${body.id}" that fits is offered`);
      return { kind: "quality", id: body.id };
    }
    case "best":
      return offer.kind === "quality" ? { kind: "best" } : wrongKind();
    case "audio":
      if (offer.kind !== "quality") return wrongKind();
      return offer.audio ? { kind: "audio" } : badRequest("kind", "this video offers no audio-only choice");
  }
}
