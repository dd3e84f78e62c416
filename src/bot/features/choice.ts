import { Composer, type Context } from "grammy";
import type { Choice } from "../../items/choice.ts";
import type { Logger } from "../../logger.ts";
import type { ChoiceControl } from "../../queue/choice-control.ts";
import type { ChoiceQuestions } from "../choice-questions.ts";
import { CHOICE_PREFIX, type ChoicePress, decodeChoice } from "../views/choice-view.ts";

export interface ChoiceFeatureDeps {
  choices: ChoiceControl;
  questions: ChoiceQuestions;
  logger: Logger;
}

/** The one-line answers a press gets (shown as a toast). */
const GONE = "This question was answered already (or the download is gone).";
const NOTHING = "Pick at least one file first.";

/**
 * The buttons of a question (which files of a torrent, which quality, which videos of a page):
 * each press changes the draft or chooses, for the item of this chat only, and is always
 * answered. A press on a question that was answered meanwhile (by someone else, or by the
 * timeout) changes nothing and says so.
 */
export function choiceFeature(deps: ChoiceFeatureDeps): Composer<Context> {
  const composer = new Composer<Context>();
  composer.callbackQuery(new RegExp(`^${CHOICE_PREFIX}`), async (ctx) => {
    let answer: string | undefined;
    try {
      const press = decodeChoice(ctx.callbackQuery.data);
      const chatId = ctx.chat?.id;
      answer = press && chatId !== undefined ? await handle(deps, press, chatId) : GONE;
    } catch (error) {
      deps.logger.error({ err: error instanceof Error ? error.message : String(error), data: ctx.callbackQuery.data }, "choice press failed");
      answer = "That did not work; press it again in a moment.";
    }
    await ctx.answerCallbackQuery(answer ? { text: answer } : undefined).catch(() => {});
  });
  return composer;
}

async function handle(deps: ChoiceFeatureDeps, press: ChoicePress, chatId: number): Promise<string | undefined> {
  const { choices, questions } = deps;
  switch (press.op) {
    case "page": {
      const item = await choices.waiting(press.itemId, chatId);
      if (!item?.choiceOffer) return GONE;
      await questions.refresh(item, item.choiceOffer, choices.picked(item), press.page);
      return undefined;
    }
    case "toggle":
    case "all":
    case "none":
    case "videos": {
      const change = press.op === "toggle" ? { toggle: press.index } : press.op === "all" ? { all: true as const } : press.op === "none" ? { none: true as const } : { videos: true as const };
      const item = await choices.draftFiles(press.itemId, chatId, change);
      if (!item?.choiceOffer) return GONE;
      await questions.refresh(item, item.choiceOffer, choices.picked(item));
      return undefined;
    }
    case "entry":
    case "entries": {
      const result = await choices.pickEntries(press.itemId, chatId, press.op === "entry" ? press.index : "all");
      return result ? "Back in line." : GONE;
    }
    default: {
      const choice: Choice | undefined =
        press.op === "quality" ? { kind: "quality", id: press.id } : press.op === "best" ? { kind: "best" } : press.op === "audio" ? { kind: "audio" } : undefined;
      const result = await choices.start(press.itemId, chatId, choice);
      if (!result) return GONE;
      if ("nothing" in result) return NOTHING;
      return "Back in line.";
    }
  }
}
