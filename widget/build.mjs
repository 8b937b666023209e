// Builds widget/src into asthron/static/widget.js: one minified IIFE, byte-for-byte
// reproducible for a given esbuild version (pinned in package.json), so scripts/check-widget
// can compare a fresh build with the committed file.
//
//   node build.mjs                    write asthron/static/widget.js
//   node build.mjs --outfile FILE     write FILE instead (used by scripts/check-widget)
import { writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const BUDGET_GZIP_BYTES = 15 * 1024; // everything the widget loads

const args = process.argv.slice(2);
const at = args.indexOf("--outfile");
const outfile = at >= 0 ? resolve(args[at + 1]) : resolve(here, "../asthron/static/widget.js");

const result = await build({
  entryPoints: [resolve(here, "src/index.js")],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020", "chrome90", "firefox90", "safari15"],
  charset: "utf8",
  legalComments: "none",
  sourcemap: false,
  write: false,
  logLevel: "warning",
  banner: { js: "/*! Asthron chat widget. Built from widget/src by widget/build.mjs: do not edit. */" },
});
const code = result.outputFiles[0].contents;
writeFileSync(outfile, code);
const gzipped = gzipSync(code, { level: 9 }).length;
console.log(`${outfile}: ${code.length} bytes, ${gzipped} bytes gzipped`);
if (gzipped > BUDGET_GZIP_BYTES) {
  console.error(`widget.js is over its budget of ${BUDGET_GZIP_BYTES} bytes gzipped`);
  process.exit(1);
}
