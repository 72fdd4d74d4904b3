-- wrk reporter for scripts/bench-console.sh: one line with p50/p95/p99 in
-- milliseconds, requests, and non-2xx/3xx or socket errors.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f requests=%d errors=%d\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.requests, e.status + e.connect + e.read + e.write + e.timeout))
end
