// The CLI's exit codes, named once; every command returns one of these.

export const EXIT_OK = 0;
/** A check failed, or the run could not be carried out (the server did not start, an internal error). */
export const EXIT_CHECK_FAILED = 1;
/** Bad usage or input: an unknown option, an unreadable WAV or config, an output folder that is missing. */
export const EXIT_USAGE = 2;
/** Ctrl-C, as shells report it (128 + SIGINT). */
export const EXIT_INTERRUPTED = 130;
/** SIGTERM (a cancelled CI job), as shells report it (128 + SIGTERM). */
export const EXIT_TERMINATED = 143;

export type ExitCode = typeof EXIT_OK | typeof EXIT_CHECK_FAILED | typeof EXIT_USAGE | typeof EXIT_INTERRUPTED | typeof EXIT_TERMINATED;
