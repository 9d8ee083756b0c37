// The modules the workers import on first use (README, "Startup") are loaded here, before any test
// sends a request. In a deployed or `wrangler dev` worker they are parts of one bundle and an
// `import()` of them finishes within the request that asks. Under @cloudflare/vitest-plugin they are
// fetched through the runner's module service instead: a request that imports one while another
// request is still fetching it waits on the other request's I/O, which workerd reports as "code had
// hung" (seen with four concurrent uploads, each sniffing its type with file-type). The bundled
// behaviour is tested in test/node/startup-modules.test.ts.
await Promise.all([
  import("file-type"),
  import("image-size"),
  import("@cf-wasm/photon"),
  import("markdown-it"),
  import("saxes"),
  import("fflate"),
  import("unpdf"),
  import("../../src/documents/markdown-page.ts"),
  import("../../src/notifications/mail-templates/templates.ts"),
]);

export {};
