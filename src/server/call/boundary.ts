// The call as its parts see it: the boundary every event runs through, so nothing a part throws
// escapes into the socket loop or the process (it is recorded on that call instead), and the
// one way a part that cannot go on ends the call.

export interface CallBoundary {
  /**
   * Runs `self.method(a, b)` as one event of the call. A method and two fixed arguments, not a
   * closure or a rest array: this runs for every frame and must not allocate, and the parts'
   * handlers stay on their prototypes instead of being a closure per call each.
   */
  run<T, A, B>(self: T, method: (this: T, a: A, b: B) => void, a: A, b: B): void;
}

export interface CallEnding {
  /** Ends the call (once; later calls do nothing) with this reason and WebSocket close code. */
  close(reason: string, code: number): void;
}
