import { ProblemError } from "@techcorp/sdk";

/**
 * An error as the person should read it: the API's problem detail (each failing field on its own
 * line) and the request id to quote to support; any other error's message. `role="alert"` so that
 * screen readers announce it as it appears.
 */
export function ProblemMessage({ error }: { error: unknown }) {
  if (error === undefined || error === null) return null;
  if (error instanceof ProblemError && error.code === "required_action") {
    const actions = Array.isArray(error.problem.requiredActions) ? error.problem.requiredActions : [];
    return (
      <div class="problem" role="alert">
        <p>
          {actions.includes("UPDATE_PASSWORD")
            ? "Your password was set by an administrator: choose your own first."
            : "Your account must turn on two-factor authentication first (every administrator's must)."}{" "}
          <a href="/settings">Go to Settings</a>.
        </p>
      </div>
    );
  }
  if (error instanceof ProblemError) {
    const fields = Array.isArray(error.problem.errors) ? error.problem.errors : [];
    return (
      <div class="problem" role="alert">
        <p>{fields.length > 0 ? error.title : (error.detail ?? error.title)}</p>
        {fields.length > 0 ? (
          <ul>
            {fields.map((field) => (
              <li key={field.pointer}>
                {field.pointer.replace(/^\//, "") || "request"}: {field.message}
              </li>
            ))}
          </ul>
        ) : null}
        {error.requestId ? <p class="request-id">Request id: {error.requestId}</p> : null}
      </div>
    );
  }
  return (
    <div class="problem" role="alert">
      <p>{error instanceof Error ? error.message : String(error)}</p>
    </div>
  );
}
