/**
 * The one error type users see. `code` is stable and machine-readable (documented in
 * docs/ERRORS.md as codes are added); `message` is a sentence that says what happened and what to
 * do next.
 */
export class TrineError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'TrineError';
  }
}

/** True when `e` is a TrineError carrying `code` (or any TrineError when `code` is omitted). */
export function isTrineError(e: unknown, code?: string): e is TrineError {
  return e instanceof TrineError && (code === undefined || e.code === code);
}
