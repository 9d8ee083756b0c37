import { useEffect } from "preact/hooks";
import { ErrorBoundary, LocationProvider, lazy, Route, Router, useLocation } from "preact-iso";
import { Layout } from "./components/layout.tsx";
import { NotFound } from "./pages/not-found.tsx";
import { Register } from "./pages/register.tsx";
import { ResetPassword } from "./pages/reset-password.tsx";
import { SignIn } from "./pages/sign-in.tsx";
import { SignInCallback } from "./pages/sign-in-callback.tsx";
import { VerifyEmail } from "./pages/verify-email.tsx";
import { currentUser } from "./session/session.ts";

// Each page is its own chunk, loaded when first visited: the admin charts and the PDF renderer
// never weigh on the sign-in page.
const Library = lazy(() => import("./pages/library.tsx").then((m) => m.Library));
const DocumentPage = lazy(() => import("./pages/document.tsx").then((m) => m.DocumentPage));
const Find = lazy(() => import("./pages/find.tsx").then((m) => m.Find));
const Inbox = lazy(() => import("./pages/inbox.tsx").then((m) => m.Inbox));
const Settings = lazy(() => import("./pages/settings.tsx").then((m) => m.Settings));
const Admin = lazy(() => import("./pages/admin.tsx").then((m) => m.Admin));

/** Pages anyone may see; every other page needs a session and sends to /sign-in without one. */
const PUBLIC_PAGES = new Set(["/sign-in", "/sign-in/callback", "/register", "/verify-email", "/reset-password"]);

/**
 * The app: the client-side router over the pages the API worker serves the shell for
 * (src/routes/web-app/pages.ts lists the same paths).
 */
export function App() {
  return (
    <LocationProvider>
      <ErrorBoundary>
        <Layout>
          <Guard />
          <Router>
            <Route path="/" component={Library} />
            <Route path="/library" component={Library} />
            <Route path="/library/:id" component={DocumentPage} />
            <Route path="/find" component={Find} />
            <Route path="/inbox" component={Inbox} />
            <Route path="/settings" component={Settings} />
            <Route path="/admin" component={Admin} />
            <Route path="/admin/:section" component={Admin} />
            <Route path="/sign-in" component={SignIn} />
            <Route path="/sign-in/callback" component={SignInCallback} />
            <Route path="/register" component={Register} />
            <Route path="/verify-email" component={VerifyEmail} />
            <Route path="/reset-password" component={ResetPassword} />
            <Route default component={NotFound} />
          </Router>
        </Layout>
      </ErrorBoundary>
    </LocationProvider>
  );
}

/** Sends a visitor without a session to /sign-in, remembering where they were going. */
function Guard() {
  const { path, url, route } = useLocation();
  const user = currentUser.value;
  useEffect(() => {
    if (user === null && !PUBLIC_PAGES.has(path)) route(`/sign-in?next=${encodeURIComponent(url)}`, true);
  }, [user, path, url, route]);
  return null;
}
