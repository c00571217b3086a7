-- Drives `rlxc lsp` from headless Neovim (0.7+): opens a recipe, reads the diagnostics, introduces a
-- mistake, reads them again, asks for hover and completion, and writes what it saw as JSON.
local rlxc, file, out = os.getenv("RLXC"), os.getenv("RLX_FILE"), os.getenv("RLX_OUT")
local results = { publications = 0 }

local publish = vim.lsp.handlers["textDocument/publishDiagnostics"]
vim.lsp.handlers["textDocument/publishDiagnostics"] = function(err, result, ctx, config)
  results.publications = results.publications + 1
  return publish(err, result, ctx, config)
end

vim.cmd("edit " .. file)
local buf = vim.api.nvim_get_current_buf()
local client = vim.lsp.start_client({ name = "rlx", cmd = { rlxc, "lsp" }, root_dir = vim.fn.fnamemodify(file, ":h") })
vim.lsp.buf_attach_client(buf, client)

local function wait_for(publications)
  return vim.wait(20000, function() return results.publications >= publications end, 20)
end

results.opened = wait_for(1)
results.initial = #vim.diagnostic.get(buf)

-- Introduce a mistake: `reward = total` becomes `reward = totl`.
local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
for i, line in ipairs(lines) do
  if line:find("reward = total", 1, true) then
    vim.api.nvim_buf_set_lines(buf, i - 1, i, false, { (line:gsub("reward = total", "reward = totl")) })
    results.edited_line = i - 1
    break
  end
end
results.changed = vim.wait(20000, function() return #vim.diagnostic.get(buf) > 0 end, 20)
local diagnostic = vim.diagnostic.get(buf)[1] or {}
results.diagnostic = { code = diagnostic.code, lnum = diagnostic.lnum, col = diagnostic.col, message = diagnostic.message }

local function at(needle, skip)
  for i, line in ipairs(vim.api.nvim_buf_get_lines(buf, 0, -1, false)) do
    local column = line:find(needle, 1, true)
    if column then
      return { textDocument = { uri = vim.uri_from_bufnr(buf) }, position = { line = i - 1, character = column - 1 + skip } }
    end
  end
end

local hover = vim.lsp.buf_request_sync(buf, "textDocument/hover", at("correct(c, ex) + overlong", 1), 10000)
results.hover = hover and hover[client] and hover[client].result and hover[client].result.contents.value or vim.NIL

local completion = vim.lsp.buf_request_sync(buf, "textDocument/completion", at("ex.answer", 3), 10000)
results.completion = {}
for _, item in ipairs((completion and completion[client] and completion[client].result) or {}) do
  table.insert(results.completion, item.label)
end

local f = io.open(out, "w")
f:write(vim.fn.json_encode(results))
f:close()
vim.lsp.stop_client(client)
vim.cmd("qa!")
