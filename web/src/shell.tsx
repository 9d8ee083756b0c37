/**
 * The app's frame: a header naming the app and the page's `<main>`. The pages themselves come
 * later; for now `<main>` says the app is loading, which proves the build, the worker's page routes
 * and the Content-Security-Policy end to end.
 */
export function Shell() {
  return (
    <>
      <header class="app-header">
        <a class="app-name" href="/">
          TechCorp
        </a>
      </header>
      <main class="app-main">
        <h1>TechCorp</h1>
        <p>
          The app is loading. The API reference is at <a href="/docs">/docs</a>.
        </p>
      </main>
    </>
  );
}
