-- wrk script: POST /orders with a JSON body whose "kind" field is picked
-- uniformly at random among k0 .. k<n-1> (one mock per kind).
-- Usage: wrk ... -s bench/engine_post.lua URL -- <n>
local n = 100
local bodies = {}
local headers = { ["Content-Type"] = "application/json" }

function init(args)
   n = tonumber(args[1]) or 100
   for i = 0, n - 1 do
      bodies[i] = '{"kind":"k' .. i .. '","amount":12.5}'
   end
   math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
end

function request()
   return wrk.format("POST", "/orders", headers, bodies[math.random(0, n - 1)])
end
