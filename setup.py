"""hfr_jax: heterogeneous (NIR-VIS) face recognition via generation, in JAX/Flax."""

from setuptools import find_packages, setup

setup(
    name='hfr_jax',
    version='0.1.0',
    description='Heterogeneous face recognition via generation (PCFH, NULL) in JAX/Flax NNX',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    python_requires='>=3.10',
    packages=find_packages(include=['hfr_jax', 'hfr_jax.*', 'tfds_builders', 'tfds_builders.*']),
    package_data={'tfds_builders': ['*/README.md', '*/CITATIONS.bib', '*/TAGS.txt',
                                    '*/checksums.tsv']},
    install_requires=[
        'jax',
        'flax',
        'optax',
        'orbax-checkpoint',
        'tensorflow-datasets',
        'importlib_resources',   # tensorflow-datasets needs it when TensorFlow is absent
        'array-record',
        'grain',
        'dm-pix',
        'numpy',
        'scipy',
        'ml-collections',
        'absl-py',
        'tensorboardX',
        'matplotlib',
        'Pillow',
    ],
    extras_require={
        # torch runs the LightCNN conversion tests (the CPU build on disk).
        'test': ['pytest', 'pytest-xdist', 'scikit-learn', 'torch==2.13.0'],
        # dlib's 68-point predictor; face-recognition-models imports pkg_resources.
        'landmarks': ['dlib-bin', 'face-recognition-models', 'setuptools<82'],
        # The CPU build on disk; a bare `torch` pulls a multi-GB CUDA build.
        'convert': ['torch==2.13.0'],
    },
)
