"""A small web shop's Hatchet workflows: checkout fans out to reserve every item, then
charges the card."""
