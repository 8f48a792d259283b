"""PCFH: pose-preserving cross-spectral face hallucination (Yu et al., IJCAI 2019)."""
