-- ended: ARGV[3] agent, [4] call, [5] "1" when the agent hung up.
call_ended(ARGV[3], ARGV[4], ARGV[5] == '1')
return finish(true)
