/**
 * The CLI's exit codes, for scripts. Values follow BSD sysexits(3) where one fits, so that they
 * never collide with a shell's own (126, 127, 128 + signal).
 */
export const EXIT = {
  /** Everything asked was done. */
  ok: 0,
  /** The API refused or failed the request (a problem other than those below), or some files of an upload failed. */
  failure: 1,
  /** Wrong usage: an unknown command or option, a missing argument (commander's own errors). */
  usage: 64,
  /** A local input could not be read: a file or folder to upload does not exist, or the folder to download into. */
  noInput: 66,
  /** An output file cannot be created: `get` would replace an existing file (without --force). */
  cannotCreate: 73,
  /** The API could not be reached, or answered 503/5xx: try again later. */
  unavailable: 69,
  /** Not signed in, or the session ended: run `techcorp login`. */
  noPermission: 77,
  /** The thing named does not exist, or is not yours to see (the API answers 404 for both). */
  notFound: 4,
  /** Interrupted by the user (Ctrl-C): 128 + SIGINT. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
