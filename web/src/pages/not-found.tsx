/** A path the app has no page for. */
export function NotFound() {
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        There is no page here. <a href="/">Back to your library</a>.
      </p>
    </section>
  );
}
