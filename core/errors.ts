/**
 * The one error type users see. `code` is stable for programs; the message is for people and always
 * names the file or sample at fault, what was found and what was expected.
 */
export type ErrorCode =
  | 'MISSING_FILE'
  | 'BAD_MODEL'
  | 'UNSUPPORTED_INPUT'
  | 'BAD_CONFIG'
  | 'BAD_SAMPLE'
  | 'BAD_SHARD'
  | 'UNKNOWN_CLASS'
  | 'STORE_MISMATCH'
  /** A score store whose first run stopped before it was set up: re-running `ddps score` completes it. */
  | 'INCOMPLETE_STORE'
  | 'BAD_ARGUMENT'
  | 'MISSING_DEPENDENCY'
  | 'CHILD_FAILED'
  | 'QUEUE_UNREACHABLE';

/** What a DdpsError names besides its message: the file and the sample at fault, and the underlying error. */
export interface ErrorContext {
  file?: string;
  sample?: string;
  cause?: unknown;
}

/** Every error ddps throws for bad input, missing files or mismatched data: a stable `code` and a message that names the file or sample. */
export class DdpsError extends Error {
  readonly code: ErrorCode;
  readonly file?: string;
  readonly sample?: string;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.name = 'DdpsError';
    this.code = code;
    this.file = context.file;
    this.sample = context.sample;
  }
}

/** Whether `e` is a DdpsError (with `code`, when given). */
export function isDdpsError(e: unknown, code?: ErrorCode): e is DdpsError {
  return e instanceof DdpsError && (code === undefined || e.code === code);
}
