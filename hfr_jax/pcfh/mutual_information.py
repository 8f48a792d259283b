"""Mutual information from paired samples, for PCFH's constraint (Eq. 9-10).

A statistics network T separates joint samples (a_i, b_i) from pairs with b
shuffled across the batch, which are samples of the product of marginals
(Brakel & Bengio 2017, Eq. 10 of the paper). We use the Donsker-Varadhan
bound of MINE (Belghazi et al. 2018), which is in nats and tight at the
optimal T = log p(a, b) / (p(a) p(b)) + const:

  I(a; b) >= E_joint[T] - log E_marginal[exp T].

Default: plain DV gradients. In PCFH the estimator sees batches of 8 and
trains alongside the generator, where a biased but low-variance gradient is
the practical choice. MINE's moving-average correction of that bias is
`donsker_varadhan_corrected`, built from the (T_joint, T_marginal) that
`mi_lower_bound` returns; `estimate_mutual_information(..., ema_decay=0.99)`
uses it.

`jensen_shannon` is the other reading of Eq. (10): Brakel & Bengio (2017), whom
the paper follows, train T as a classifier of joint against shuffled pairs
(log-loss), whose optimum is 2 JS(p || q) - log 4 (Deep InfoMax's JSD
estimator, Hjelm et al. 2019). It is not in nats, but it orders dependence as
MI does, and its gradient is bounded (no exp of T), so a batch of 8 cannot
reward a generator for one extreme score.
"""

import jax
import jax.numpy as jnp
from flax import nnx
import numpy as np
import optax


def donsker_varadhan(t_joint, t_marginal):
  """mean(T_joint) - log mean(exp T_marginal), the DV lower bound in nats."""
  log_mean_exp = jax.nn.logsumexp(t_marginal) - jnp.log(t_marginal.shape[0])
  return t_joint.mean() - log_mean_exp


def donsker_varadhan_corrected(t_joint, t_marginal, log_moving_average, *, decay: float):
  """DV with MINE's bias-corrected gradient (Belghazi et al. 2018, Sec. 3.2).

  The value is the plain DV bound; the gradient of log mean(exp T_marginal) is
  replaced by grad mean(exp T_marginal) / m, where m is a moving average of
  mean(exp T_marginal) over batches, kept in log space (start it at 0.0, m = 1).
  Returns (bound, new log_moving_average).
  """
  log_mean_exp = jax.nn.logsumexp(t_marginal) - jnp.log(t_marginal.shape[0])
  log_ma = jnp.logaddexp(jnp.log(decay) + log_moving_average,
                         jnp.log1p(-decay) + jax.lax.stop_gradient(log_mean_exp))
  ratio = jnp.exp(log_mean_exp - jax.lax.stop_gradient(log_ma))   # mean(exp T) / m
  surrogate = jax.lax.stop_gradient(log_mean_exp) + ratio - jax.lax.stop_gradient(ratio)
  return t_joint.mean() - surrogate, log_ma


def jensen_shannon(t_joint, t_marginal):
  """E_joint[log sigmoid T] + E_marginal[log(1 - sigmoid T)], the negated log-loss of T
  as a joint-vs-marginal classifier; at its optimum 2 JS(joint || marginals) - log 4."""
  return -jax.nn.softplus(-t_joint).mean() - jax.nn.softplus(t_marginal).mean()


ESTIMATORS = {'dv': donsker_varadhan, 'jsd': jensen_shannon}


def estimator_fn(name: str):
  """ESTIMATORS[name], or a one-line error naming config.loss.mi_estimator."""
  if name not in ESTIMATORS:
    raise ValueError(f'config.loss.mi_estimator={name!r} is not one of {sorted(ESTIMATORS)}')
  return ESTIMATORS[name]


def shuffled(rng, x):
  """Rows of x rolled by a random nonzero offset: no row keeps its partner."""
  n = x.shape[0]
  return jnp.roll(x, jax.random.randint(rng, (), 1, max(n, 2)), axis=0)


def mi_lower_bound(statistics, a, b, rng, estimator: str = 'dv'):
  """The `estimator` bound ('dv' in nats, or 'jsd') of I(a; b) from a batch of pairs.

  Returns (estimate, (T_joint, T_marginal)).
  """
  bound = estimator_fn(estimator)
  t_joint = statistics(a, b)
  t_marginal = statistics(a, shuffled(rng, b))
  return bound(t_joint, t_marginal), (t_joint, t_marginal)


class MLPStatistics(nnx.Module):
  """T(a, b) for vectors: [N, Da], [N, Db] -> [N]."""

  def __init__(self, da: int, db: int, *, hidden: int = 128, rngs: nnx.Rngs):
    self.l1 = nnx.Linear(da + db, hidden, rngs=rngs)
    self.l2 = nnx.Linear(hidden, hidden, rngs=rngs)
    self.out = nnx.Linear(hidden, 1, use_bias=False, rngs=rngs)   # DV ignores T + c

  def __call__(self, a, b):
    x = jax.nn.elu(self.l1(jnp.concatenate([a, b], axis=-1)))
    return self.out(jax.nn.elu(self.l2(x)))[:, 0]


class ConvStatistics(nnx.Module):
  """T(a, b) for image pairs (N, H, W, Ca), (N, H, W, Cb) -> [N]: NE of PCFH.

  Channel-concatenated pair, `depth` stride-2 4x4 convs of width
  `width * 2**i` with leaky ReLU, global average pool, linear; any H, W.
  """

  def __init__(self, ca: int, cb: int, *, width: int = 32, depth: int = 3, rngs: nnx.Rngs):
    widths = [ca + cb] + [width * 2**i for i in range(depth)]
    self.convs = nnx.List([nnx.Conv(widths[i], widths[i + 1], (4, 4), strides=2, rngs=rngs)
                           for i in range(depth)])
    # No output bias: DV is invariant to T + c, so its gradient is identically 0.
    self.out = nnx.Linear(widths[-1], 1, use_bias=False, rngs=rngs)

  def __call__(self, a, b):
    x = jnp.concatenate([a, b], axis=-1)
    for conv in self.convs:
      x = jax.nn.leaky_relu(conv(x), 0.2)
    return self.out(x.mean(axis=(1, 2)))[:, 0]


def estimate_mutual_information(x, y, *, steps: int = 500, seed: int = 0,
                                batch_size: int | None = None, learning_rate: float = 1e-3,
                                hidden: int = 128, eval_shuffles: int = 16,
                                ema_decay: float | None = None) -> float:
  """I(x; y) in nats from paired rows, by fitting a fresh MLP statistics network.

  Adam on the DV bound over minibatches of `batch_size` rows (default
  min(N, 512)), then the bound on all rows averaged over `eval_shuffles`
  marginal shuffles. Minibatches matter: full-batch training fits the noise
  of the N joint pairs and reads ~0.05-0.08 nats on independent data at
  N = 4096; batches of 512 read ~0.02. `ema_decay` switches training to MINE's
  bias-corrected gradient.
  """
  x, y = np.asarray(x, np.float32), np.asarray(y, np.float32)
  if x.ndim != 2 or y.ndim != 2:
    raise ValueError(f'x and y must be [N, D] arrays, got shapes {x.shape} and {y.shape}')
  if x.shape[0] != y.shape[0] or x.shape[0] < 2:
    raise ValueError(f'x and y need the same number (>= 2) of rows, got {x.shape[0]} '
                     f'and {y.shape[0]}')
  n = x.shape[0]
  batch_size = min(batch_size or 512, n)
  key = jax.random.key(seed)
  model = MLPStatistics(x.shape[1], y.shape[1], hidden=hidden, rngs=nnx.Rngs(seed))
  optimizer = nnx.Optimizer(model, optax.adam(learning_rate), wrt=nnx.Param)
  graphdef, state = nnx.split((model, optimizer))

  def train_step(xs, ys, carry, k):
    state, log_ma = carry
    model, optimizer = nnx.merge(graphdef, state)
    k_batch, k_shuffle = jax.random.split(k)
    rows = jax.random.choice(k_batch, n, (batch_size,), replace=False)

    def loss(m):
      bound, (t_joint, t_marginal) = mi_lower_bound(m, xs[rows], ys[rows], k_shuffle)
      if ema_decay is None:
        return -bound, log_ma
      bound, new_log_ma = donsker_varadhan_corrected(t_joint, t_marginal, log_ma,
                                                     decay=ema_decay)
      return -bound, new_log_ma

    grads, log_ma = nnx.grad(loss, has_aux=True)(model)
    optimizer.update(model, grads)
    return (nnx.state((model, optimizer)), log_ma), None

  @jax.jit
  def fit_and_evaluate(state, xs, ys):
    (state, _), _ = jax.lax.scan(lambda c, k: train_step(xs, ys, c, k),
                                 (state, jnp.zeros(())), jax.random.split(key, steps))
    model, _ = nnx.merge(graphdef, state)
    eval_keys = jax.random.split(jax.random.fold_in(key, steps), eval_shuffles)
    # lax.map, not vmap: one shuffle's activations at a time for large N.
    return jax.lax.map(lambda k: mi_lower_bound(model, xs, ys, k)[0], eval_keys).mean()

  return float(fit_and_evaluate(state, jnp.asarray(x), jnp.asarray(y)))
