-- wrk script for scripts/bench-ingest.sh: distinct monday deliveries (a triggerUuid of their own
-- per run, thread and request: BENCH_RUN tells runs apart), each carrying the JWT in BENCH_JWT. monday signs no body, so one
-- token fits every body. BENCH_DELAY_MS paces each connection for a fixed-rate run.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end

function init(args)
  counter = 0
  token = os.getenv("BENCH_JWT")
  now = os.getenv("BENCH_NOW")
  pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
  run = tonumber(os.getenv("BENCH_RUN") or "0")
end

function delay()
  return pause
end

function request()
  counter = counter + 1
  local trigger = string.format("%08x%08x%016x", run, id, counter)
  local body = string.format(
    '{"event":{"app":"monday","type":"update_column_value","triggerTime":"%s","subscriptionId":466701570,'
      .. '"isRetry":false,"userId":67214742,"originalTriggerUuid":null,"boardId":7786783342,"groupId":"topics",'
      .. '"pulseId":7786784079,"pulseName":"Developer","columnId":"status","columnType":"color","columnTitle":"Status",'
      .. '"value":{"label":{"index":1,"text":"Done"},"post_id":null},"previousValue":null,"changedAt":1738777972.386279,'
      .. '"isTopGroup":true,"triggerUuid":"%s"}}',
    now, trigger)
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json", ["Authorization"] = token }, body)
end
