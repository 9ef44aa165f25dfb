"""Master patient index (主索引): who is who across the region's institutions."""
