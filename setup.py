"""hfr_jax: heterogeneous (NIR-VIS) face recognition via generation, in JAX/Flax."""

from setuptools import find_packages, setup

# dlib's detector and 68-point predictor (hfr_jax/landmarks.py, tools/detect_landmarks.py);
# face-recognition-models imports pkg_resources, gone from setuptools 82.
LANDMARKS = ['dlib-bin>=20.0.1,<21', 'face-recognition-models>=0.3.0,<0.4', 'setuptools<82']

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
    # The releases `make test` passed with, up to the next release that may break them: the
    # next minor for 0.x packages (their minors change APIs), the next major otherwise.
    # README "Upgrading dependencies" says how to move a bound.
    install_requires=[
        'jax>=0.10.2,<0.11',
        # jax 0.10.2 itself accepts jaxlib 0.10.1; the XLA flag and the bench figures are
        # jaxlib 0.10.2's (hfr_jax/xla_flags.py).
        'jaxlib>=0.10.2,<0.11',
        'flax>=0.12.8,<0.13',
        'optax>=0.2.8,<0.3',
        'orbax-checkpoint>=0.12.8,<0.13',
        'tensorflow-datasets>=4.9.10,<5',
        'importlib_resources>=7.1.0,<8',   # tensorflow-datasets needs it when TensorFlow is absent
        'array-record>=0.8.6,<0.9',
        'grain>=0.2.18,<0.3',
        'dm-pix>=0.4.5,<0.5',
        'numpy>=2.4.6,<3',
        'scipy>=1.17.1,<2',
        'ml-collections>=1.1.0,<2',
        'absl-py>=2.5.1,<3',
        'tensorboardX>=2.6.5,<3',
        'matplotlib>=3.11.2,<4',
        'Pillow>=13.0.0,<14',
        'tqdm>=4.70.1,<5',   # the training loop's progress bar in a notebook
    ],
    extras_require={
        # torch runs the LightCNN conversion tests (the CPU build on disk); scikit-image ships
        # the photograph (astronaut) dlib's landmark tests detect, so the landmarks extra too.
        # nbclient and ipykernel run the notebooks in a Jupyter kernel (tests/test_notebooks.py).
        'test': ['pytest>=9.2.0,<10', 'pytest-xdist>=3.8.0,<4', 'scikit-learn>=1.9.1,<2',
                 'torch==2.13.0', 'scikit-image>=0.26.0,<0.27', 'nbclient>=0.11.0,<0.12',
                 'nbformat>=5.11.1,<6', 'ipykernel>=7.4.0,<8', *LANDMARKS],
        'landmarks': LANDMARKS,
        # The CPU build on disk; a bare `torch` pulls a multi-GB CUDA build.
        'convert': ['torch==2.13.0'],
    },
)
