-- wrk script: GET a path picked uniformly at random among /m/0 .. /m/<n-1>.
-- Usage: wrk ... -s bench/engine_paths.lua URL -- <n>
local n = 1

function init(args)
   n = tonumber(args[1]) or 1
   -- a different sequence per wrk thread
   math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
end

function request()
   return wrk.format("GET", "/m/" .. math.random(0, n - 1))
end
