import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { useLocation } from "preact-iso";
import { currentUser, signOut } from "../session/session.ts";
import { refreshUnread, unreadCount } from "../session/unread.ts";

/** How often the unread badge is read again while the app is open and visible, ms. */
const UNREAD_POLL_MS = 30_000;

/**
 * The frame of every page: a skip link, the header with the navigation (the unread badge on the
 * inbox) and the user's sign-out, and `<main>`, which takes the focus on each navigation so that a
 * screen reader announces the new page and the keyboard starts from its top.
 */
export function Layout({ children }: { children: ComponentChildren }) {
  const { path, route } = useLocation();
  const user = currentUser.value;
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);

  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    main.current?.focus();
  }, [path]);

  useEffect(() => {
    if (!user) return;
    void refreshUnread();
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") void refreshUnread();
    }, UNREAD_POLL_MS);
    return () => clearInterval(timer);
  }, [user]);

  const link = (href: string, label: string, extra?: ComponentChildren) => {
    const current = href === "/" ? path === "/" || path.startsWith("/library") : path.startsWith(href);
    return (
      <li>
        <a href={href} aria-current={current ? "page" : undefined}>
          {label}
          {extra}
        </a>
      </li>
    );
  };

  return (
    <>
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="app-header">
        <a class="app-name" href="/">
          TechCorp
        </a>
        {user ? (
          <nav aria-label="Main">
            <ul>
              {link("/", "Library")}
              {link("/find", "Search")}
              {link(
                "/inbox",
                "Inbox",
                unreadCount.value > 0 ? (
                  <span class="badge">
                    {unreadCount.value}
                    <span class="visually-hidden"> unread</span>
                  </span>
                ) : null,
              )}
              {user.role === "admin" ? link("/admin", "Admin") : null}
              {link("/settings", "Settings")}
            </ul>
          </nav>
        ) : null}
        {user ? (
          <div class="user">
            <span class="username">{user.displayName ?? user.username}</span>
            <button
              type="button"
              class="secondary"
              onClick={async () => {
                await signOut();
                route("/sign-in");
              }}
            >
              Sign out
            </button>
          </div>
        ) : null}
      </header>
      <main id="main" class="app-main" tabIndex={-1} ref={main}>
        {user === undefined ? <p aria-busy="true">Loading…</p> : children}
      </main>
    </>
  );
}
