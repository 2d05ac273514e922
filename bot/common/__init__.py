"""What every room may import: the clock, translations, t.me links."""
