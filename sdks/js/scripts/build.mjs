#!/usr/bin/env node
// Builds dist/: the same source bundled four times, ESM and CJS for each runtime, plus the type declarations
// that `tsc` wrote to dist/types (copied to dist/types-cjs, marked CommonJS, for `require` users).
//   dist/node/index.{mjs,cjs}  Node, Bun, Deno ("node" export condition): AsyncLocalStorage, node:zlib fallback
//   dist/web/index.{mjs,cjs}   everything else with fetch: src/runtime/web.ts, no node: module referenced
// Run after `tsc -p tsconfig.json` (npm run build does both).

import { cpSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const versionSource = readFileSync(join(root, "src", "version.ts"), "utf8");
if (!versionSource.includes(`SDK_VERSION = "${version}"`)) {
  throw new Error(`src/version.ts SDK_VERSION differs from package.json version ${version}; hint: make them equal`);
}

/** Points `./runtime/current.js` at the given runtime module. */
const runtimePlugin = (name) => ({
  name: `lynex-runtime-${name}`,
  setup(b) {
    b.onResolve({ filter: /\/runtime\/current\.js$/ }, () => ({ path: join(root, "src", "runtime", `${name}.ts`) }));
  },
});

for (const target of ["node", "web"]) {
  rmSync(join(root, "dist", target), { recursive: true, force: true });
  for (const [format, ext] of [["esm", "mjs"], ["cjs", "cjs"]]) {
    await build({
      entryPoints: [join(root, "src", "index.ts")],
      outfile: join(root, "dist", target, `index.${ext}`),
      bundle: true,
      format,
      platform: target === "node" ? "node" : "neutral",
      target: target === "node" ? "node18" : "es2022",
      external: ["node:*"],
      plugins: [runtimePlugin(target)],
      logLevel: "warning",
    });
  }
}

rmSync(join(root, "dist", "types-cjs"), { recursive: true, force: true });
cpSync(join(root, "dist", "types"), join(root, "dist", "types-cjs"), { recursive: true });
writeFileSync(join(root, "dist", "types-cjs", "package.json"), '{"type": "commonjs"}\n');
