// The call boundary, as the parts see it: every event that reaches a call (a socket frame, a
// close, a model event, a timer) runs through it, so nothing a part throws escapes into the
// socket loop or the process; it is recorded on that call instead.

export interface CallBoundary {
  /**
   * Runs `fn(a, b)` as one event of the call. Two fixed arguments, not a closure or a rest
   * array: this runs for every frame, and must not allocate.
   */
  run<A, B>(fn: (a: A, b: B) => void, a: A, b: B): void;
}
