// Compiled (not run) by test/packaging.test.mjs: the CommonJS type declarations serve `require` users.
import lynexSdk = require("@lynex/sdk");

const lynex = new lynexSdk.Lynex({ apiKey: "k", projectId: "p" });
const ok: Promise<boolean> = lynex.shutdown();
export = ok;
