-- agent: ARGV[3] agent, [4] action (login, logout, pause, unpause), [5] pause reason.
local agent_id, action, reason = ARGV[3], ARGV[4], ARGV[5]
local a = get_agent(agent_id)
if not a then return finish({ error = 'unknown_agent' }) end
if action == 'login' then
  if a.state == 'logged_out' then
    a.state = 'available'
    a.since = now
    a.idle_since = now
    a.misses = 0
    a.reason = nil
    event('NONE', 'NONE', agent_id, 'AGENTLOGIN', {})
  elseif a.pending == 'logout' then
    a.pending = nil
  end
  put_agent(agent_id, a)
  match_unit()
elseif action == 'logout' then
  if a.state == 'logged_out' then
    -- nothing to do
  elseif a.state == 'reserved' or a.state == 'on_call' then
    a.pending = 'logout'
    a.pending_reason = nil
  else
    a.state = 'logged_out'
    a.since = now
    a.reason = nil
    event('NONE', 'NONE', agent_id, 'AGENTLOGOFF', {})
  end
  put_agent(agent_id, a)
  after_logout_check()
elseif action == 'pause' then
  if a.state == 'logged_out' or a.state == 'paused' then
    -- nothing to do
  elseif a.state == 'reserved' or a.state == 'on_call' then
    a.pending = 'pause'
    a.pending_reason = reason
  else
    a.state = 'paused'
    a.since = now
    a.reason = reason
    event('NONE', 'NONE', agent_id, 'PAUSE', { reason })
  end
  put_agent(agent_id, a)
elseif action == 'unpause' then
  if a.state == 'paused' then
    a.state = 'available'
    a.since = now
    a.idle_since = now
    a.reason = nil
    a.misses = 0
    event('NONE', 'NONE', agent_id, 'UNPAUSE', {})
  elseif a.pending == 'pause' then
    a.pending = nil
    a.pending_reason = nil
  end
  put_agent(agent_id, a)
  match_unit()
end
return finish(true)
