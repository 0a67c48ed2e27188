-- wrk script for bench/web.py: the method (BENCH_METHOD), an optional bearer token and a unique Idempotency-Key per
-- request (BENCH_AUTH, BENCH_UNIQUE_KEY), status codes counted per thread, and one JSON
-- line with throughput and latency percentiles (microseconds) at the end.
local threads = {}
local counter = 1

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

function init(args)
   wrk.method = os.getenv("BENCH_METHOD") or "GET"
   statuses = {}
   sent = 0
   headers = {}
   local auth = os.getenv("BENCH_AUTH")
   if auth and auth ~= "" then
      headers["Authorization"] = "Bearer " .. auth
   end
   unique = os.getenv("BENCH_UNIQUE_KEY") == "1"
   prefix = os.getenv("BENCH_RUN") or "run"
end

function request()
   sent = sent + 1
   local h = {}
   for k, v in pairs(headers) do h[k] = v end
   if unique then
      h["Idempotency-Key"] = prefix .. "-" .. id .. "-" .. sent
   end
   return wrk.format(nil, nil, h, nil)
end

function response(status, headers, body)
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
end

function done(summary, latency, requests)
   local merged = {}
   for _, thread in ipairs(threads) do
      local s = thread:get("statuses")
      for code, n in pairs(s) do merged[code] = (merged[code] or 0) + n end
   end
   local parts = {}
   for code, n in pairs(merged) do
      table.insert(parts, string.format('"%s":%d', code, n))
   end
   io.write(string.format(
      '{"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},"statuses":{%s}}\n',
      summary.requests, summary.duration, summary.bytes,
      summary.errors.connect, summary.errors.read, summary.errors.write,
      summary.errors.status, summary.errors.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean, table.concat(parts, ",")))
end
