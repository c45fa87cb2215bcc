-- snapshot: the unit's queues and agents (reads only).
local queues = {}
for _, name in ipairs(queue_names) do
  local members = redis.call('ZRANGE', waiting_key[name], 0, -1)
  local oldest = nil
  for _, id in ipairs(members) do
    local c = get_call(id)
    if c and (oldest == nil or c.enqueued_at < oldest) then oldest = c.enqueued_at end
  end
  table.insert(queues, { name = name, waiting = #members, oldest_since = oldest })
end
-- Agents a new version of the document dropped are no longer shown.
local configured = {}
for _, ac in ipairs(config.agents) do configured[ac.id] = true end
local list = {}
for _, id in ipairs(all_agent_ids()) do
  local a = configured[id] and get_agent(id)
  if a then
    local ringing = nil
    if a.state == 'reserved' and present(a.reservation) and present(a.queue) and present(a.node) then
      ringing = { reservation = a.reservation, queue = a.queue, node = a.node }
    end
    table.insert(list, { id = id, state = a.state, since = a.since, reason = a.reason, call = a.call,
      ringing = ringing, calls = a.calls, talk_ms = a.talk_ms })
  end
end
return cjson.encode({ queues = queues, agents = list })
