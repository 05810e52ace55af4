/** Base class of every error this library throws on purpose. */
export class PclError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
/** A tensor or array had the wrong rank, shape or size. */
export class ShapeError extends PclError {}
/** A detector or estimator was used before `fit`/`load`. */
export class NotFittedError extends PclError {}
/** A saved bundle is unreadable, tampered with or from an incompatible version. */
export class ManifestError extends PclError {}
/** A data file is missing, truncated or malformed. The message names the file. */
export class DataFormatError extends PclError {}
/** A user-supplied argument is out of range or malformed. */
export class ArgumentError extends PclError {}
/** The engine ran out of memory (the wasm heap is at most 4 GiB): use smaller batches. */
export class ResourceError extends PclError {}

/** Throws `ErrorType(message())` unless `cond` holds. The message is built lazily. */
export function assert(
  cond: unknown,
  message: () => string,
  ErrorType: new (m: string) => Error = ArgumentError,
): asserts cond {
  if (!cond) throw new ErrorType(message());
}

export function assertFitted<S>(state: S | undefined, who: string): asserts state is S {
  if (state === undefined) {
    throw new NotFittedError(`This ${who} instance is not fitted yet. Call 'fit' (or load a bundle) before using it.`);
  }
}
