-- wrk script: POST /graphql, the query of bench/graphql/run.sh with the
-- variable id picked uniformly at random among u-00000 .. u-<n-1> (five digits, as bench/graphql/mocks.py
-- numbers them; one mock
-- per id). Usage: wrk ... -s bench/graphql/graphql_post.lua URL -- <n>
local n = 1
local bodies = {}
local headers = {
   ["Content-Type"] = "application/json",
   ["Accept"] = "application/graphql-response+json, application/json",
}

function init(args)
   n = tonumber(args[1]) or 1
   for i = 0, n - 1 do
      bodies[i] = '{"query":"query User($id: ID!) { user(id: $id) { id name email role } }",'
         .. '"operationName":"User","variables":{"id":"u-' .. string.format("%05d", i) .. '"}}'
   end
   math.randomseed(os.time() + (tonumber(tostring({}):match("0x(%x+)"), 16) or 0))
end

function request()
   return wrk.format("POST", "/graphql", headers, bodies[math.random(0, n - 1)])
end
