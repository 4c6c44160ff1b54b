#!/usr/bin/env bash
# Screenshots of `archlang lsp` at work in a real editor, for the README:
#   docs/screenshots/editor-diagnostics.png  a shape error and a misspelled layer, as virtual
#                                            text and signs, and one diagnostic opened in full
#   docs/screenshots/editor-hover.png        the hover on a block call (output shape, params,
#                                            MACs, receptive field), with the shapes at line ends
# The editor is Debian 12's Neovim (0.7.2; the config below is written for it) in xterm on a
# virtual X server, driven with xdotool (real key presses) and captured with ImageMagick.
# Debian packages it needs:
#
#   apt-get install neovim xterm xvfb xdotool imagemagick fonts-dejavu-core
#
# and archlang with its lsp extra (ARCHLANG=/path/to/archlang, default .venv/bin/archlang).
# Everything it writes besides the two PNGs (the Neovim config, its data and state, the specs,
# the X server's files) lives in a temporary directory that is removed at the end; the user's
# own Neovim config is never read (XDG_* point into that directory, and the editor starts
# with -u on the written init.lua).
#
# Neovim 0.7 has no client support for inlay hints (0.10 has: vim.lsp.inlay_hint). So that
# the hover screenshot shows them anyway, the config below asks the server for
# textDocument/inlayHint itself and puts each label at the end of its line as virtual text,
# which is where 0.10 draws them for these lines (none has a comment). INLAY_HINTS=0 leaves
# that out.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
archlang=${ARCHLANG:-$root/.venv/bin/archlang}
outdir=$root/docs/screenshots
inlay=${INLAY_HINTS:-1}

for tool in nvim xterm Xvfb xdotool import convert; do
  command -v "$tool" >/dev/null || { echo "missing $tool (see the apt-get line at the top)" >&2; exit 1; }
done
command -v "$archlang" >/dev/null || { echo "no archlang at $archlang (set ARCHLANG)" >&2; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
# every Neovim started here (the editor, and the headless clients that ask it questions) keeps
# its config, data, state, cache and log in $tmp
export XDG_CONFIG_HOME=$tmp/config XDG_DATA_HOME=$tmp/data XDG_STATE_HOME=$tmp/state \
  XDG_CACHE_HOME=$tmp/cache NVIM_LOG_FILE=$tmp/nvim.log ARCHLANG=$archlang INLAY_HINTS=$inlay

# --- the specs ----------------------------------------------------------------------------
mkdir -p "$tmp/work"
cat >"$tmp/work/mistakes.arch" <<'EOF'
# Two mistakes, found as you type: a misspelled activation,
# and LeNet-5 fed 12x12 images instead of 32x32.
network mlp : 784 =
    fc(256) -> rleu -> fc(10)

network lenet5 : 1x12x12 =
    conv5x5(6, pad=0) -> relu -> maxpool
    -> conv5x5(16, pad=0) -> relu -> maxpool
    -> flatten -> fc(120) -> relu -> fc(84) -> relu -> fc(10)
EOF
cat >"$tmp/work/resnet.arch" <<'EOF'
# A small ResNet-50-style network: torchvision's blocks, fewer of them.
block cbn(c, k=3, s=1) = conv(c, k=k, stride=s, bias=false) -> bn
block bottleneck(c, s=1) =
    residual(cbn(c, 1) -> relu -> cbn(c, 3, s) -> relu -> cbn(4 * c, 1)) -> relu

network small_resnet : 3x224x224 =
    cbn(64, 7, 2) -> relu -> maxpool3x3(stride=2, pad=1)
    -> bottleneck(64) * 2
    -> bottleneck(128, 2) -> bottleneck(128)
    -> globalavgpool -> flatten -> fc(1000)
EOF

# --- the Neovim config (0.7: vim.lsp.start_client + buf_attach_client) ----------------------
cfg=$tmp/config/nvim
mkdir -p "$cfg/syntax" "$tmp/data" "$tmp/state" "$tmp/cache"
# the syntax file of editors/neovim.md
sed -n '/^```vim$/,/^```$/p' "$root/editors/neovim.md" | sed '1d;$d' >"$cfg/syntax/archlang.vim"
[ -s "$cfg/syntax/archlang.vim" ] || { echo "no syntax file in editors/neovim.md" >&2; exit 1; }

cat >"$cfg/init.lua" <<'EOF'
-- Neovim 0.7: Lua filetype detection is opt-in, and vim.filetype.add needs it.
vim.g.do_filetype_lua = 1
vim.filetype.add({ extension = { arch = 'archlang' } })

vim.opt.termguicolors = true
vim.opt.background = 'light'
vim.opt.number = true
vim.opt.signcolumn = 'yes'
vim.opt.laststatus = 2
vim.opt.showmode = false
vim.opt.showcmd = false
vim.opt.ruler = false
vim.opt.swapfile = false
vim.opt.fillchars = { eob = ' ' }
vim.opt.shortmess:append('IF')
vim.opt.statusline = ' %f%=%y  %l:%c '
vim.cmd('syntax on')

-- a light scheme, GitHub-like
local function hl(group, spec) vim.api.nvim_set_hl(0, group, spec) end
hl('Normal', { fg = '#24292f', bg = '#ffffff' })
hl('Comment', { fg = '#6e7781', italic = true })
hl('Keyword', { fg = '#cf222e', bold = true })
hl('Number', { fg = '#0550ae' })
hl('Boolean', { fg = '#0550ae' })
hl('Operator', { fg = '#8250df' })
hl('Special', { fg = '#953800' })
hl('LineNr', { fg = '#8c959f' })
hl('CursorLineNr', { fg = '#24292f', bold = true })
hl('SignColumn', { bg = '#ffffff' })
hl('Cursor', { fg = '#ffffff', bg = '#24292f' })
hl('StatusLine', { fg = '#24292f', bg = '#eaeef2' })
hl('StatusLineNC', { fg = '#656d76', bg = '#f6f8fa' })
hl('NormalFloat', { fg = '#24292f', bg = '#f6f8fa' })
hl('FloatBorder', { fg = '#8c959f', bg = '#ffffff' })
hl('markdownError', { link = 'NormalFloat' })  -- an underscore inside a name is no error
hl('DiagnosticError', { fg = '#c4271b' })
hl('DiagnosticWarn', { fg = '#9a6700' })
hl('DiagnosticInfo', { fg = '#0969da' })
hl('DiagnosticHint', { fg = '#656d76' })
hl('DiagnosticVirtualTextError', { fg = '#c4271b', bg = '#fdf0ee' })
hl('DiagnosticVirtualTextWarn', { fg = '#9a6700', bg = '#fff8c5' })
hl('DiagnosticUnderlineError', { sp = '#c4271b', undercurl = true })
hl('DiagnosticUnderlineWarn', { sp = '#9a6700', undercurl = true })
hl('LspInlayHint', { fg = '#8c959f', bg = '#f3f4f6' })

vim.diagnostic.config({
  -- inline: the whole message where it is short, else its first line (the float has it all)
  virtual_text = { prefix = '●', spacing = 2, format = function(d)
    local all = d.message:gsub('\n', '  ')
    return #all <= 60 and all or d.message:match('[^\n]*')
  end },
  signs = true,
  underline = true,
  severity_sort = true,
  float = { border = 'rounded', source = false, header = '', prefix = '' },
})
for _, s in ipairs({ 'Error', 'Warn', 'Info', 'Hint' }) do
  vim.fn.sign_define('DiagnosticSign' .. s, { text = s:sub(1, 1), texthl = 'Diagnostic' .. s })
end
vim.lsp.handlers['textDocument/hover'] = vim.lsp.with(vim.lsp.handlers.hover, { border = 'rounded' })

-- Inlay hints: 0.7's client has none; ask the server and draw its labels at the line ends.
local inlay_ns = vim.api.nvim_create_namespace('archlang_inlay_hints')
local function inlay_hints(bufnr)
  local params = {
    textDocument = vim.lsp.util.make_text_document_params(bufnr),
    range = { start = { line = 0, character = 0 },
              ['end'] = { line = vim.api.nvim_buf_line_count(bufnr), character = 0 } },
  }
  vim.lsp.buf_request(bufnr, 'textDocument/inlayHint', params, function(err, hints)
    if err or not vim.api.nvim_buf_is_valid(bufnr) then return end
    vim.api.nvim_buf_clear_namespace(bufnr, inlay_ns, 0, -1)
    for _, h in ipairs(hints or {}) do
      local label = h.label
      if type(label) ~= 'string' then
        label = table.concat(vim.tbl_map(function(part) return part.value end, label))
      end
      vim.api.nvim_buf_set_extmark(bufnr, inlay_ns, h.position.line, 0,
        { virt_text = { { label, 'LspInlayHint' } }, virt_text_pos = 'eol' })
    end
  end)
end

local archlang = os.getenv('ARCHLANG') or 'archlang'
vim.api.nvim_create_autocmd('FileType', {
  pattern = 'archlang',
  callback = function(args)
    vim.bo[args.buf].commentstring = '# %s'
    local client_id = vim.lsp.start_client({
      name = 'archlang',
      cmd = { archlang, 'lsp' },
      root_dir = vim.fn.getcwd(),
      init_options = { inlayHints = true },
      on_attach = function(_, bufnr)
        vim.keymap.set('n', 'K', vim.lsp.buf.hover, { buffer = bufnr })
        vim.keymap.set('n', '<space>e', function()
          local _, win = vim.diagnostic.open_float()
          if win then  -- long hints wrap at a space, under their first word
            vim.wo[win].linebreak = true
            vim.wo[win].breakindent = true
            vim.wo[win].breakindentopt = 'shift:6'
          end
        end, { buffer = bufnr })
        if os.getenv('INLAY_HINTS') == '1' then
          vim.keymap.set('n', '<space>h', function() inlay_hints(bufnr) end, { buffer = bufnr })
        end
      end,
    })
    vim.lsp.buf_attach_client(args.buf, client_id)
  end,
})
EOF

# --- the X server -------------------------------------------------------------------------
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$tmp/display" >"$tmp/xvfb.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -s "$tmp/display" ] && break; sleep 0.1; done
[ -s "$tmp/display" ] || { echo "Xvfb did not start:" >&2; cat "$tmp/xvfb.log" >&2; exit 1; }
export DISPLAY=:$(head -n1 "$tmp/display")

# ask the running editor something (a headless client with no config of its own)
ask() { nvim --clean --headless --server "$tmp/nvim.sock" --remote-expr "$1" 2>&1 </dev/null || true; }
wait_for() {  # wait_for EXPR: until the editor answers 1 to it (15 s at most)
  for _ in $(seq 150); do [ "$(ask "$1")" = 1 ] && return 0; sleep 0.1; done
  echo "timed out waiting for: $1" >&2; return 1
}
keys() { xdotool type --delay 40 "$1"; sleep 0.3; }  # real key presses, to the focused window
floats='#vim.tbl_filter(function(w) return vim.api.nvim_win_get_config(w).relative ~= "" end, vim.api.nvim_list_wins())'

open_editor() {  # open_editor FILE: Neovim on FILE in an xterm, its language server attached
  rm -f "$tmp/nvim.sock"
  (cd "$tmp/work" && exec xterm -fa 'DejaVu Sans Mono' -fs 13 -geometry 100x22+0+0 -bw 0 -b 10 \
    -bg '#ffffff' -fg '#24292f' -xrm 'XTerm*cursorColor: #24292f' -title archlang-shot \
    -e nvim -u "$cfg/init.lua" -i NONE --listen "$tmp/nvim.sock" "$1") &
  term=$!
  pids+=("$term")
  win=$(xdotool search --sync --name '^archlang-shot$' | head -n1)
  # keyboard focus follows the pointer (there is no window manager): put the pointer on it
  xdotool mousemove --window "$win" 300 200
  for _ in $(seq 100); do [ -S "$tmp/nvim.sock" ] && break; sleep 0.1; done
  wait_for 'luaeval("#vim.lsp.buf_get_clients() > 0 and 1 or 0")'
}

capture() {  # capture OUT: once a floating window is open, the xterm window as a PNG
  wait_for "luaeval('$floats > 0 and 1 or 0')"
  sleep 0.7
  import -window "$win" "$tmp/shot.png"
  # a palette is enough for antialiased text on a few flat colours
  convert "$tmp/shot.png" -strip -dither None -colors 96 "PNG8:$outdir/$1"
  echo "wrote docs/screenshots/$1 ($(stat -c %s "$outdir/$1") bytes, $(identify -format '%wx%h' "$outdir/$1"))"
  kill "$term" 2>/dev/null || true
  wait "$term" 2>/dev/null || true
}

mkdir -p "$outdir"

# diagnostics: both errors in, then the cursor on lenet5's second conv5x5 and its diagnostic
# opened in full (<space>e: vim.diagnostic.open_float)
open_editor mistakes.arch
wait_for 'luaeval("#vim.diagnostic.get(0) >= 2 and 1 or 0")'
keys '8G^w'
keys ' e'
capture editor-diagnostics.png

# hover: the shapes at the line ends (<space>h), then the cursor on bottleneck(128, 2) and K
open_editor resnet.arch
if [ "$inlay" = 1 ]; then
  keys ' h'
  wait_for 'luaeval("#vim.api.nvim_buf_get_extmarks(0, vim.api.nvim_create_namespace(\"archlang_inlay_hints\"), 0, -1, {}) >= 3 and 1 or 0")'
fi
keys '9G^w'
keys 'K'
capture editor-hover.png
