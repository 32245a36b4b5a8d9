"""Gold: the star schema (date-keyed sales fact + dimensions), marketing aggregates and the B2B export."""
