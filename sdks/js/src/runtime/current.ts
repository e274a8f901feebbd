// The runtime this build uses: Node's here; scripts/build.mjs points this module at web.ts for dist/web.
export { runtime } from "./node.js";
