"""The offline demo world: a seeded generator of labelled shape images (dataset ``shapes``) and
a small image-text backbone trained on it (backbone ``demo``), so the whole pipeline runs
without any downloaded dataset or CLIP weights."""
