import { useState } from "preact/hooks";

/**
 * The token of a mailed link (`#token=…`): read once when the page opens, then taken out of the
 * address bar and its history entry. A fragment is never sent to a server, so no log or proxy saw
 * it; "" when the link has none.
 */
export function useFragmentToken(): string {
  const [token] = useState(() => {
    const found = new URLSearchParams(location.hash.slice(1)).get("token") ?? "";
    if (location.hash) history.replaceState(history.state, "", location.pathname);
    return found;
  });
  return token;
}
