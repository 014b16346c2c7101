-- wrk script for the bench (see bench/wrk.py): rotates through prepared requests and
-- prints one JSON line of results.
--
--   wrk -s bench/load.lua URL -- REQUESTS_FILE EXPECT
--
-- REQUESTS_FILE, written by bench/wrk.py:
--   line 1: METHOD PATH
--   then header lines ("Name: value") sent with every request, then an empty line,
--   then one request a line: an extra header line or nothing, a TAB, the body or nothing.
-- EXPECT: text every answer must contain; answers without it are counted as unexpected.

local requests = {}
local next_request = 1
unexpected = 0
local expect = nil
local threads = {}

local function load(path)
  local file = assert(io.open(path, "rb"))
  local method, target = file:read("*l"):match("^(%S+) (%S+)$")
  local common = {}
  for line in file:lines() do
    if line == "" then break end
    local name, value = line:match("^([^:]+): (.*)$")
    common[name] = value
  end
  for line in file:lines() do
    local extra, body = line:match("^([^\t]*)\t(.*)$")
    local headers = {}
    for name, value in pairs(common) do headers[name] = value end
    if extra ~= "" then
      local name, value = extra:match("^([^:]+): (.*)$")
      headers[name] = value
    end
    if body == "" then body = nil end
    requests[#requests + 1] = wrk.format(method, target, headers, body)
  end
  file:close()
  assert(#requests > 0, "no requests in " .. path)
end

function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

function init(args)
  load(args[1])
  expect = args[2]
  -- Threads start at different users, so they do not log the same user in at once.
  next_request = (id * 7919) % #requests + 1
end

function request()
  local chosen = requests[next_request]
  next_request = next_request % #requests + 1
  return chosen
end

function response(status, headers, body)
  if status < 200 or status > 299 or not body or not body:find(expect, 1, true) then
    unexpected = unexpected + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("unexpected") end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "bytes": %d, "errors": {"connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d}, "unexpected": %d, "latency_us": {"p50": %d, ' ..
    '"p90": %d, "p99": %d, "mean": %.1f, "max": %d}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, bad, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max))
end
