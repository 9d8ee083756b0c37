// Vite's `?raw` suffix imports a file's text (used by tests to run a migration's own SQL).
declare module "*?raw" {
  const text: string;
  export default text;
}
