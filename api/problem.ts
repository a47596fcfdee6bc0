/**
 * Errors of the REST API as RFC 9457 problem details (`application/problem+json`): route
 * handlers throw {@link ApiProblem}; the server's error handler turns it (and fastify's own
 * validation and routing errors) into `{type, title, status, detail, instance}`.
 */

/** Base of our problem type URIs. */
export const PROBLEM_BASE = 'https://tsvswitch.dev/problems/';

/** The problem types the API answers with. */
export const PROBLEMS = {
  'bad-request': { status: 400, title: 'Bad request' },
  'not-found': { status: 404, title: 'Not found' },
  'unknown-bridge': { status: 404, title: 'No such bridge' },
  'unknown-interface': { status: 404, title: 'No such interface' },
  'no-topology': { status: 404, title: 'No topology running' },
  'bad-topology': { status: 500, title: 'Topology file unreadable' },
  'unknown-command': { status: 404, title: 'No such appctl command' },
  'command-unavailable': { status: 404, title: 'Feature not available in this daemon' },
  'command-failed': { status: 422, title: 'appctl command failed' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type' },
  'payload-too-large': { status: 413, title: 'Payload too large' },
  internal: { status: 500, title: 'Internal error' },
} as const;

/** One of {@link PROBLEMS}. */
export type ProblemKind = keyof typeof PROBLEMS;

/** The JSON body of a problem. */
export interface ProblemBody {
  /** URI naming the problem type. */
  type: string;
  /** Summary of the type. */
  title: string;
  /** HTTP status. */
  status: number;
  /** This occurrence. */
  detail: string;
  /** Request path. */
  instance?: string;
}

/** An error a route reports to the client. */
export class ApiProblem extends Error {
  override readonly name = 'ApiProblem';
  constructor(
    /** The problem type. */
    readonly kind: ProblemKind,
    /** The `detail` text. */
    readonly detail: string,
  ) {
    super(detail);
  }

  /** HTTP status of this problem. */
  get status(): number {
    return PROBLEMS[this.kind].status;
  }

  /** The JSON body. */
  body(instance?: string): ProblemBody {
    return problemBody(this.kind, this.detail, instance);
  }
}

/** A problem body of `kind`. */
export function problemBody(kind: ProblemKind, detail: string, instance?: string): ProblemBody {
  const p = PROBLEMS[kind];
  return {
    type: PROBLEM_BASE + kind,
    title: p.title,
    status: p.status,
    detail,
    ...(instance !== undefined ? { instance } : {}),
  };
}
