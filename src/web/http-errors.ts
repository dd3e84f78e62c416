import type { FastifyError, FastifyReply, FastifyRequest } from "fastify";
import { hasZodFastifySchemaValidationErrors } from "fastify-type-provider-zod";
import { z } from "zod";
import { AppError, type ErrorCode } from "../errors.ts";
import type { Logger } from "../logger.ts";

/**
 * Every error the web API answers has one JSON shape, `{ "error": { "code", "message", ... } }`,
 * with a `code` of the bot's error hierarchy (`src/errors.ts`): a request the API refuses
 * (BAD_REQUEST naming the field, UNAUTHORIZED, NOT_FOUND, ...) or what the engine refused (the
 * intake's INVALID_URL, TOO_LARGE, PRIVATE_NETWORK, ... with its reason as data).
 */
export const ErrorSchema = z.object({
  error: z
    .object({
      code: z.string(),
      message: z.string(),
      /** The request field that is wrong (BAD_REQUEST), e.g. "url" or "ids.2". */
      field: z.string().optional(),
      /** Why an action could not be done (CONFLICT): "finished", "in-queue", "not-paused", ... */
      why: z.string().optional(),
      /** The engine's reason, as data (a refused link). */
      reason: z.object({ kind: z.string() }).loose().optional(),
    })
    .loose(),
});

/** An answer other than 2xx, with its HTTP status. */
export class HttpFailure extends AppError {
  override readonly name = "HttpFailure";
  constructor(
    readonly status: number,
    code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(code, message);
  }

  body(): z.infer<typeof ErrorSchema> {
    return { error: { code: this.code, message: this.message, ...this.details } };
  }
}

export const notFound = (what = "no such item in this chat") => new HttpFailure(404, "NOT_FOUND", what);
export const badRequest = (field: string, message: string) => new HttpFailure(400, "BAD_REQUEST", `${field}: ${message}`, { field });

/** What fastify's own errors (the body parser's, the schema's) mean, as one of ours. */
function fromFastify(error: FastifyError): HttpFailure | undefined {
  if (hasZodFastifySchemaValidationErrors(error)) {
    const first = error.validation[0]!;
    const field = first.instancePath.replace(/^\//, "").split("/").filter(Boolean).join(".") || error.validationContext || "body";
    return badRequest(field, first.message ?? "is not valid");
  }
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new HttpFailure(413, "PAYLOAD_TOO_LARGE", "the request body is too large");
    case "FST_ERR_CTP_INVALID_JSON_BODY":
    case "FST_ERR_CTP_EMPTY_JSON_BODY":
      return badRequest("body", "not valid JSON");
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new HttpFailure(415, "BAD_REQUEST", "body: send it as application/json", { field: "body" });
  }
  if (typeof error.statusCode === "number" && error.statusCode >= 400 && error.statusCode < 500) {
    return new HttpFailure(error.statusCode, "BAD_REQUEST", "the request could not be read");
  }
  return undefined;
}

/** The one error handler: our failures as they are, fastify's mapped, anything else a 500 that says nothing inside. */
export function errorHandler(logger: Logger) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const failure = error instanceof HttpFailure ? error : fromFastify(error);
    if (failure) return reply.status(failure.status).send(failure.body());
    logger.error({ err: error.message, method: request.method, url: request.routeOptions.url }, "a web request failed");
    return reply.status(500).send({ error: { code: "INTERNAL", message: "the bot could not answer this request (its log says why)" } });
  };
}
