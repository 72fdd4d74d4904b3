-- wrk script for POST /api/v1/readings (used by scripts/bench-http.sh).
-- Each wrk thread owns every n-th demo meter and one connection, so each
-- meter's readings arrive in order; every request carries STEPS readings a
-- minute apart for each of the thread's meters. METERS, STEPS, NTHREADS and
-- TOKEN (the demo's admin API token) are prepended by the shell script.
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  rejected = 0
  accepted = 0
end

function request()
  local parts = {}
  for i = tid + 1, #METERS, NTHREADS do
    for s = 0, STEPS - 1 do
      local minute = counter * STEPS + s + 1
      parts[#parts + 1] = string.format(
        '{"meter_id":"%s","at":"%s","register":%d}',
        METERS[i], os.date("!%Y-%m-%dT%H:%M:%SZ", 1767225600 + minute * 60), minute * 10)
    end
  end
  counter = counter + 1
  return wrk.format("POST", "/api/v1/readings",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. TOKEN},
    '{"readings":[' .. table.concat(parts, ",") .. ']}')
end

function response(status, headers, body)
  local _, n = string.gsub(body, '"result":"accepted"', "")
  accepted = accepted + n
  if status ~= 200 or string.find(body, '"result":"rejected"', 1, true) then
    rejected = rejected + 1
  end
end

function done(summary, latency, requests)
  local a, r = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted")
    r = r + t:get("rejected")
  end
  io.write(string.format("readings accepted: %d (%.0f/s), responses with a rejection or an error: %d\n",
    a, a / (summary.duration / 1e6), r))
end
