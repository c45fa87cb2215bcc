-- configure: ARGV[3] the unit's configuration (JSON). The library above
-- already read it (the loader writes it first). Agents never seen start
-- logged out; existing state stays; deadlines follow the new settings;
-- agents removed from the unit go.
for _, ac in ipairs(config.agents) do
  if redis.call('HEXISTS', K_AGENTS, ac.id) == 0 then
    put_agent(ac.id, { state = 'logged_out', since = now, misses = 0, calls = 0, talk_ms = 0,
      idle_since = now, not_before = 0, wrap_until = 0, call_started = 0 })
  end
end
-- Agents the unit no longer has go, unless a call holds them (reserved,
-- on a call, in wrap-up): those go at the next configuration after it.
local configured = {}
for _, ac in ipairs(config.agents) do configured[ac.id] = true end
for _, id in ipairs(all_agent_ids()) do
  if not configured[id] then
    local a = get_agent(id)
    if a and (a.state == 'logged_out' or a.state == 'available' or a.state == 'paused') then
      redis.call('HDEL', K_AGENTS, id)
      agents[id] = false
      agents_dirty[id] = nil
    end
  end
end
-- The index of available agents is rebuilt from their states (it may
-- predate the index, or have been lost).
redis.call('DEL', K_AVAILABLE)
for _, id in ipairs(all_agent_ids()) do
  local a = get_agent(id)
  if a and a.state == 'available' then redis.call('SADD', K_AVAILABLE, id) end
end
redis.call('DEL', K_UNOFFERED)
for _, id in ipairs(all_call_ids()) do
  local c = get_call(id)
  if c then put_call(id, c) end
end
return finish(true)
