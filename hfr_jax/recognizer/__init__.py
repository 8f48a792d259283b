"""Face recognizer F: LightCNN training on VIS images and feature extraction."""
