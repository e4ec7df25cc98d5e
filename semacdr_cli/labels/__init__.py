"""What the labels carry: `stats` (entropy, top-label share, unused subcategories, the degeneracy
guard) and `quality` (NMI against an answer key, beside k-means on the item vectors)."""
