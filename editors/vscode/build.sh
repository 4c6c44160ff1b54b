#!/bin/sh
# Builds the VS Code extension: dist/archlang-<version>.vsix.
#   sh editors/vscode/build.sh          install the locked tooling (npm ci), then package
#   sh editors/vscode/build.sh --no-ci  package with the node_modules already there
# npm ci runs no install scripts (--ignore-scripts): nothing here needs one, and vsce's
# optional keytar (publishing credentials, unused by `vsce package`) would try to download or
# compile a native binary.
set -eu
cd "$(dirname "$0")"
if [ "${1:-}" != "--no-ci" ]; then
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
fi
version=$(node -p "require('./package.json').version")
mkdir -p dist
rm -f "dist/archlang-$version.vsix"
# no repository field (the project has no public address yet); the LICENSE is beside this file
./node_modules/.bin/vsce package --allow-missing-repository --out "dist/archlang-$version.vsix"
