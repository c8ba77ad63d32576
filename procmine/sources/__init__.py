"""Sources beyond one flat table per sheet: relational exports (case, step,
document and rating tables) and databases."""
