// Copy the front-end files the pages load from node_modules (package.json, `npm ci`) into
// public/static/vendor/. Run by `make vendor` and by the Dockerfile's vendor stage; the
// result is never committed and nothing is fetched from a CDN.
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const target = join(root, "public", "static", "vendor");
const files = [
  "bootstrap/dist/css/bootstrap.min.css",
  "bootstrap/dist/js/bootstrap.bundle.min.js",
  "bootstrap-icons/font/bootstrap-icons.min.css",
  "socket.io-client/dist/socket.io.esm.min.js",
];

rmSync(target, { recursive: true, force: true });
mkdirSync(target, { recursive: true });
for (const file of files) cpSync(join(root, "node_modules", file), join(target, basename(file)));
// bootstrap-icons.min.css loads its fonts from ./fonts/ next to it.
cpSync(join(root, "node_modules", "bootstrap-icons/font/fonts"), join(target, "fonts"), { recursive: true });
