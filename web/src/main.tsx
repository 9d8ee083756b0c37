import { render } from "preact";
import "./app.css";
import { App } from "./app.tsx";
import { restoreSession } from "./session/session.ts";

const root = document.getElementById("app");
if (!root) throw new Error("web/index.html has no #app element");
// Replaces the static "Loading…" markup of index.html with the app; the session is restored
// meanwhile (pages wait while the user is not known yet).
render(<App />, root);
restoreSession().catch((error: unknown) => console.warn("the session could not be restored", error));
