#!/usr/bin/env node
// The `techcorp` command. Node ≥ 22.18 runs this TypeScript as it is (type stripping).
import { run } from "../src/main.ts";

process.exitCode = await run(process.argv);
