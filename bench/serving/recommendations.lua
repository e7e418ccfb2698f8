-- wrk: GET /v1/recommendations for random users u0..u11999 (10k have windows).
math.randomseed(42)
request = function()
  return wrk.format("GET", "/v1/recommendations?k=20&user_id=u" .. math.random(0, 11999))
end
