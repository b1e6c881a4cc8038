#{-5 => neg,1 => int,1180591620717411303424 => big,1.0 => float,a => atom,
  {1} => tuple,
  #{} => map,[] => nil,
  [1] => list,
  <<"b">> => binary}