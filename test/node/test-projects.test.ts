import { describe, expect, it } from "vitest";
import config from "../../vitest.config.ts";

// The projects as vitest.config.ts declares them: unit tests start no service and run first; the
// projects that reach the stack list its global setup themselves (it starts the stack once for all).
const STACK = "./test/global-setup.ts";
const projects = (config.test?.projects ?? []).flatMap((project) =>
  typeof project === "object" && "test" in project ? [project.test ?? {}] : [],
);
const named = (name: string) => projects.find((project) => project.name === name);
const setups = (test: { globalSetup?: string | string[] } | undefined) => [test?.globalSetup ?? []].flat();

describe("the vitest projects", () => {
  it("start the stack only for the projects that need it, never at the root", () => {
    expect(config.test?.globalSetup).toBeUndefined();
    expect(projects.map((project) => project.name).sort()).toEqual(["api", "clients", "node", "processor", "unit"]);
    expect(setups(named("unit"))).toEqual([]);
    for (const name of ["api", "processor", "node", "clients"]) expect(setups(named(name))).toContain(STACK);
  });

  it("run the unit project before every other one", () => {
    const order = (name: string) => named(name)?.sequence?.groupOrder ?? 0;
    for (const name of ["api", "processor", "node", "clients"]) expect(order("unit")).toBeLessThan(order(name));
  });

  it("run the clients project after the other integration projects, one file at a time", () => {
    const order = (name: string) => named(name)?.sequence?.groupOrder ?? 0;
    for (const name of ["api", "processor", "node"]) expect(order(name)).toBeLessThan(order("clients"));
    expect(named("clients")?.maxWorkers).toBe(1);
  });

  it("build the web app (the API worker's assets) before the stack wherever the API worker is served", () => {
    for (const name of ["api", "node", "clients"]) {
      const list = setups(named(name));
      expect(list).toContain("./test/setup/web-build.ts");
      expect(list.indexOf("./test/setup/web-build.ts")).toBeLessThan(list.indexOf(STACK));
    }
  });
});
