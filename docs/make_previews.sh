#!/usr/bin/env bash
# The print previews in docs/diagrams/previews/: five diagrams rendered to PDF (Graphviz, cairo)
# and to TikZ compiled with pdflatex, each page turned into a small PNG to look at.
# Needs: archlang's set-up (Graphviz, TeX Live) and pdftoppm (apt-get install poppler-utils).
set -euo pipefail
cd "$(dirname "$0")/.."
out=docs/diagrams/previews
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
archlang=${ARCHLANG:-.venv/bin/archlang}
while read -r name options; do
  tag=$(echo "$name $options" | tr -d '-' | tr ' ' '_' | sed 's/_$//')
  $archlang render "$name" $options -o "$work/$tag.pdf"
  $archlang render "$name" $options -o "$work/$tag.tex"
  (cd "$work" && pdflatex -interaction=nonstopmode -halt-on-error -jobname="${tag}_tikz" "$tag.tex" >/dev/null)
  pdftoppm -png -r 40 -singlefile "$work/$tag.pdf" "$out/$tag"
  pdftoppm -png -r 40 -singlefile "$work/${tag}_tikz.pdf" "$out/${tag}_tikz"
done <<'LIST'
lenet5
vgg16
resnet50
resnet50 --collapse --fold
densenet121 --collapse --fold
LIST
