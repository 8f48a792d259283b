"""NULL: unsupervised NIR-VIS face recognition from unpaired images, and its k-means baseline."""
