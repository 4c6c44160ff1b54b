#!/bin/sh
# Builds the playground's page assets from web/src into the package, where the wheel ships
# them: archlang/serve/static/app.js (src/main.js and CodeMirror 6, bundled and minified by
# esbuild), app.css and LICENSES.txt (the licences of the bundled npm packages).
# index.html and icon.svg there are written by hand. Node and npm are needed only here,
# never where archlang is installed.
#
#   sh web/build.sh          (from anywhere; npm ci installs the exact versions in package-lock.json)
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
OUT=../archlang/serve/static
VERSIONS=$(node -e '
const lock = require("./package-lock.json").packages;
const names = ["@codemirror/state", "@codemirror/view", "@codemirror/language", "@codemirror/commands",
  "@lezer/highlight", "esbuild"];
console.log(names.map((n) => `${n} ${lock["node_modules/" + n].version}`).join(", "));')
BANNER="/* archlang playground, built by web/build.sh (esbuild src/main.js --bundle --minify --format=iife
   --target=es2020, node $(node --version)) from web/src; do not edit: edit web/src and rebuild. Bundles
   CodeMirror 6 (MIT, (c) Marijn Haverbeke and others, https://codemirror.net; licences in LICENSES.txt):
   ${VERSIONS}. */"
node_modules/.bin/esbuild src/main.js --bundle --minify --format=iife --target=es2020 --legal-comments=none \
  --metafile=node_modules/.archlang-meta.json --banner:js="$BANNER" --outfile="$OUT/app.js"
node_modules/.bin/esbuild src/app.css --minify \
  --banner:css="/* archlang playground, built by web/build.sh from web/src/app.css; do not edit. */" \
  --outfile="$OUT/app.css"
# the licence of every npm package that went into app.js, with its version
node -e '
const fs = require("fs");
const meta = JSON.parse(fs.readFileSync("node_modules/.archlang-meta.json", "utf8"));
const dirs = new Set();
for (const input of Object.keys(meta.inputs)) {
  const m = /^node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (m) dirs.add(m[1]);
}
let text = "The archlang playground (app.js) bundles these npm packages, each under its own licence:\n";
for (const name of [...dirs].sort()) {
  const pkg = JSON.parse(fs.readFileSync(`node_modules/${name}/package.json`, "utf8"));
  const file = fs.readdirSync(`node_modules/${name}`).find((f) => /^licen[cs]e/i.test(f));
  text += `\n==== ${name} ${pkg.version} (${pkg.license}) ====\n\n`;
  text += file ? fs.readFileSync(`node_modules/${name}/${file}`, "utf8").trim() + "\n" : `${pkg.license}\n`;
}
fs.writeFileSync(process.argv[1], text);' "$OUT/LICENSES.txt"
ls -l "$OUT"
