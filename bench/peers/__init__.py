"""The servers the bridge is measured against: the stack's floor and a hand-written Spyne peer."""
