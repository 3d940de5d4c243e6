/**
 * Four eyes on rollout approvals: whoever started a rollout cannot approve its gates, unless
 * `ROLLOUTS_ALLOW_SELF_APPROVAL` says so. Actors are compared by Entra object id when both have one (a
 * renamed user is still the same person), else by name.
 *
 * Locally, without a principal, every request's actor is `local`: a rollout started by `local` may be
 * approved by anyone, `local` included, so `npm start`'s printed ring rollout, the demo and the tests
 * that approve without a principal keep working. The rule bites as soon as the starter is a named
 * principal (always, behind App Service Authentication with role checks on; locally when a principal
 * header is sent). A rollout started by 0.2.0 or earlier has no recorded starter and is not refused either.
 */
import { LOCAL_ACTOR, type Actor } from "../http/auth";
import { ProblemError } from "../http/problem";

export function sameActor(a: Actor, b: Actor): boolean {
  if (a.objectId !== undefined && b.objectId !== undefined) return a.objectId === b.objectId;
  return a.name === b.name;
}

const isLocal = (a: Actor) => a.objectId === undefined && a.name === LOCAL_ACTOR.name;

/** The 403 that refuses `approver` approving a rollout `startedBy` started, or undefined when allowed. */
export function selfApprovalRefusal(
  rolloutId: string,
  startedBy: Actor | undefined,
  approver: Actor,
  allowSelfApproval: boolean,
): ProblemError | undefined {
  if (allowSelfApproval || !startedBy || isLocal(startedBy) || !sameActor(startedBy, approver))
    return undefined;
  return new ProblemError(
    403,
    `Rollout "${rolloutId}" was started by ${startedBy.name}, who cannot also approve it (four eyes); another person with the Rollouts.Approve role must approve, or ROLLOUTS_ALLOW_SELF_APPROVAL must be true.`,
  );
}
