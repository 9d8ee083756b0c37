import { render } from "preact";
import { Shell } from "./shell.tsx";

const root = document.getElementById("app");
if (!root) throw new Error("web/index.html has no #app element");
// Replaces the static "Loading…" markup of index.html with the app.
render(<Shell />, root);
