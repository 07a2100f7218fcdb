"""Where data lives and how it moves: the residency rules, migrating rows between zones,
cross-border exports, and storage accounted per organization, class and tier."""
